// SPDX-License-Identifier: MIT
// The large-dataset examples of docs/bulk-operations.md (streaming input, progress, cancellation,
// memory, batch-size tuning), verbatim (tests/docs checks them). CTest passes the test server's
// URL as argv[1]; the program checks its own expectations (exit status 0 = they held) with the
// helpers of example_support.hpp.
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <chrono>
#include <cstddef>
#include <iterator>
#include <iostream>
#include <type_traits>
#include <utility>
#include <sstream>
#include <stop_token>
#include <string>
#include <vector>

struct Sale {
  std::optional<long long> id;
  std::string region;
  std::string product;
  double amount = 0;
};
PGRESTIFY_ROW(Sale, id, region, product, amount)

using example::expect;

// A sized range whose rows are made on demand: row i is make(i), never stored.
template <class Make>
class Generated {
 public:
  using Row = std::invoke_result_t<Make, std::size_t>;
  Generated(std::size_t count, Make make) : count_(count), make_(std::move(make)) {}
  struct Iterator {
    using value_type = Row;
    using difference_type = std::ptrdiff_t;
    const Generated* range = nullptr;
    std::size_t i = 0;
    Row operator*() const { return range->make_(i); }
    Iterator& operator++() { ++i; return *this; }
    Iterator operator++(int) { Iterator old = *this; ++i; return old; }
    bool operator==(const Iterator& other) const { return i == other.i; }
  };
  Iterator begin() const { return {this, 0}; }
  Iterator end() const { return {this, count_}; }
  std::size_t size() const { return count_; }

 private:
  std::size_t count_;
  Make make_;
};

// 10,000 rows generated on the fly and inserted without ever being held in memory together.
pgrestify::BulkResult<Sale> insertGeneratedSales(const pgrestify::Client& client) {
  // Each Sale is made when the engine reads it, one batch at a time.
  Generated salesData(10000, [](std::size_t i) {
    static const char* const regions[] = {"North", "South", "East", "West"};
    return Sale{.region = regions[i % 4], .product = "Product " + std::to_string(i + 1),
                .amount = 50.0 + static_cast<double>((i * 37) % 500)};
  });
  auto result = client.from<Sale>("sales").bulkInsert(salesData, {.batchSize = 500});
  std::cout << "Processed " << result.count << " records in " << result.elapsed.count() << " ms\n";
  return result;
}

// Progress of one call: no manual batch loop.
pgrestify::BulkProgress insertWithProgress(const pgrestify::Client& client, const std::vector<Sale>& salesData) {
  pgrestify::BulkProgress last;
  auto result = client.from<Sale>("sales").bulkInsert(salesData, {
      .batchSize = 1000,
      .onProgress = [&](const pgrestify::BulkProgress& p) {
        std::cout << p.processed << "/" << p.total.value_or(0) << " rows, " << p.failed << " failed, "
                  << static_cast<long>(p.rowsPerSecond) << " rows/s, ETA "
                  << (p.eta ? p.eta->count() : 0) << " ms\n";
        last = p;
      },
      .onBatchComplete = [](const pgrestify::BatchReport& b) {
        if (b.failed) std::cout << "batch " << b.batchIndex << ": " << b.failed << " of " << b.rows << " failed\n";
      }});
  return last;
}

// Cancelling a long call from another thread or a UI, with a deadline as a backstop.
pgrestify::BulkResult<Sale> insertCancellable(const pgrestify::Client& client, const std::vector<Sale>& salesData) {
  std::stop_source stop;  // stop.request_stop() may be called from any thread
  auto result = client.from<Sale>("sales").bulkInsert(salesData, {
      .batchSize = 1000, .concurrency = 1,
      .onProgress = [&](const pgrestify::BulkProgress& p) { if (p.processed >= 3000) stop.request_stop(); },
      .stopToken = stop.get_token(),
      .deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5)});
  if (result.cancelled) std::cout << "cancelled: " << result.notProcessed << " rows were not sent\n";
  return result;
}

// A single-pass input range over the rows parsed from the lines of a stream, one line at a time.
template <class Parse>
class LineRows {
 public:
  using Row = std::invoke_result_t<Parse, const std::string&>;
  LineRows(std::istream& in, Parse parse) : in_(&in), parse_(std::move(parse)) { next(); }
  struct Iterator {
    using value_type = Row;
    using difference_type = std::ptrdiff_t;
    LineRows* rows = nullptr;
    const Row& operator*() const { return rows->row_; }
    Iterator& operator++() { rows->next(); return *this; }
    void operator++(int) { rows->next(); }
    bool operator==(std::default_sentinel_t) const { return rows->done_; }
  };
  Iterator begin() { return {this}; }
  std::default_sentinel_t end() const { return {}; }

 private:
  void next() {
    std::string line;
    done_ = !std::getline(*in_, line);
    if (!done_) row_ = parse_(line);
  }
  std::istream* in_;
  Parse parse_;
  Row row_{};
  bool done_ = false;
};

// NDJSON (one JSON object per line) streamed from a file, a pipe or a socket.
pgrestify::BulkResult<nlohmann::json> importNdjson(const pgrestify::Client& client, std::istream& input) {
  LineRows rows(input, [](const std::string& line) { return nlohmann::json::parse(line); });
  // Memory: about concurrency + 1 batches of serialized rows, whatever the stream's length.
  return client.from("sales").bulkInsert(rows, {.batchSize = 2000, .concurrency = 4});
}

// Trying batch sizes on a sample: compare requests and wall time (see docs/benchmarks.md).
void compareBatchSizes(const pgrestify::Client& client, const std::vector<nlohmann::json>& sample) {
  for (std::size_t batchSize : {100, 500, 1000, 5000}) {
    auto r = client.from("events").bulkInsert(sample, {.batchSize = batchSize});
    std::cout << "batchSize " << batchSize << ": " << r.successful << " rows, " << r.requests
              << " requests, " << r.elapsed.count() << " ms\n";
  }
}

int main(int argc, char** argv) {
  auto client = pgrestify::createClient({.url = example::serverUrl(argc, argv)});

  auto generated = insertGeneratedSales(client);
  expect(generated.ok() && generated.successful == 10000 && generated.batches == 20,
         "insertGeneratedSales: 10,000 rows in 20 batches");
  expect(client.from("sales").count() == 10000, "insertGeneratedSales: 10,000 rows in the table");
  client.rpc("reset_tables");

  std::vector<Sale> salesData;
  for (int i = 0; i < 5000; ++i) salesData.push_back({.region = "North", .product = "P" + std::to_string(i), .amount = 1.5});
  salesData[4321].amount = -1;  // violates CHECK (amount >= 0): one failed row
  auto last = insertWithProgress(client, salesData);
  expect(last.processed == 5000 && last.successful == 4999 && last.failed == 1 && last.total == 5000u &&
             last.batchesDone == 5,
         "insertWithProgress: the last progress shows 5000 processed, 1 failed, 5 batches");
  client.rpc("reset_tables");

  salesData[4321].amount = 1;
  auto cancelled = insertCancellable(client, salesData);
  std::size_t stored = client.from("sales").count();
  expect(cancelled.cancelled && cancelled.notProcessed > 0 && cancelled.count + cancelled.notProcessed == 5000 &&
             cancelled.successful == cancelled.count && cancelled.count >= 3000,
         "insertCancellable: cancelled after 3000 rows, the rest not processed");
  expect(stored == cancelled.successful, "insertCancellable: the table holds exactly the processed rows");
  client.rpc("reset_tables");

  std::stringstream ndjson;
  for (int i = 0; i < 4500; ++i)
    ndjson << nlohmann::json{{"region", "East"}, {"product", "line " + std::to_string(i)}, {"amount", i}}.dump() << "\n";
  auto streamed = importNdjson(client, ndjson);
  expect(streamed.ok() && streamed.successful == 4500 && streamed.batches == 3,
         "importNdjson: 4500 rows from the stream in 3 batches");
  expect(client.from("sales").eq("product", "line 4499").count() == 1, "importNdjson: the last line is there");

  std::vector<nlohmann::json> sample;
  for (int i = 0; i < 2000; ++i) sample.push_back({{"kind", "tuning"}, {"payload", {{"i", i}}}});
  compareBatchSizes(client, sample);
  expect(client.from("events").count() == 8000, "compareBatchSizes: 4 x 2000 rows");

  return example::finish();
}
