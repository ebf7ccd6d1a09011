// SPDX-License-Identifier: MIT
// Large inputs: single-pass generators streamed through the bulk engine with bounded look-ahead,
// progress callbacks, cancellation through stopToken and an overall deadline.
#include "test_env.hpp"

#include <algorithm>
#include <functional>
#include <iterator>
#include <ranges>
#include <sstream>
#include <stop_token>
#include <thread>

namespace pgrestify::test {
namespace {

/// A single-pass range of generated rows: each row exists only while it is being read. Sized
/// (the engine knows the total) or not (like a generator reading a socket). Records how many rows
/// were produced and taken so a test can see how far ahead of the server the engine reads.
/// (A hand-written range rather than views::iota | views::transform: Clang 14 cannot compile
/// libstdc++ 12's iota_view.)
template <bool Sized>
class Generator {
 public:
  using Make = std::function<nlohmann::json(std::size_t)>;
  Generator(std::size_t n, Make make) : n_(n), make_(std::move(make)) {}

  class iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using value_type = nlohmann::json;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Generator* g) : g_(g) {}
    const nlohmann::json& operator*() const { return g_->current_; }
    iterator& operator++() {
      ++g_->taken_;
      g_->produce();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return g_->done_; }

   private:
    Generator* g_ = nullptr;
  };

  iterator begin() {
    produce();
    return iterator(this);
  }
  std::default_sentinel_t end() { return {}; }
  std::size_t size() const requires Sized { return n_; }
  /// Rows generated so far (the current one included).
  std::size_t produced() const { return produced_; }
  /// Rows the reader has moved past (taken).
  std::size_t taken() const { return taken_; }

 private:
  void produce() {
    if (produced_ == n_) {
      done_ = true;
      return;
    }
    current_ = make_(produced_);
    ++produced_;
  }

  std::size_t n_;
  Make make_;
  std::size_t produced_ = 0;
  std::size_t taken_ = 0;
  bool done_ = false;
  nlohmann::json current_;
};
static_assert(std::ranges::input_range<Generator<false>>);
static_assert(!std::ranges::forward_range<Generator<false>>);
static_assert(!std::ranges::sized_range<Generator<false>>);
static_assert(std::ranges::sized_range<Generator<true>>);

nlohmann::json user(const std::string& prefix, std::size_t i) {
  return {{"name", prefix + " " + std::to_string(i)}, {"email", prefix + std::to_string(i) + "@x.io"}};
}

/// A generator of N users without a known size.
Generator<false> userGenerator(std::size_t n) {
  return Generator<false>(n, [](std::size_t i) { return user("g", i); });
}
/// N users, sized.
Generator<true> userRows(std::size_t n) {
  return Generator<true>(n, [](std::size_t i) { return user("r", i); });
}

class Streaming : public IntegrationTest {};

// Ranges whose iterators are move-only (std::views::istream, and views over it) are read through a
// shared cursor: they compile and stream like any input range.
TEST_F(Streaming, MoveOnlyIteratorRangesInsertAndDelete) {
  static_assert(!std::copyable<std::ranges::iterator_t<std::ranges::basic_istream_view<long long, char>>>);
  std::istringstream names("11 12 13 14 15");
  auto rows = std::views::istream<long long>(names) | std::views::transform([](long long n) {
                return nlohmann::json{{"name", "s" + std::to_string(n)}, {"email", std::to_string(n) + "@x.io"}};
              });
  auto inserted = client_->from("users").bulkInsert(rows, {.batchSize = 2, .returning = true});
  ASSERT_TRUE(inserted.ok()) << (inserted.errors.empty() ? "" : inserted.errors.front().message);
  EXPECT_EQ(inserted.successful, 5u);
  EXPECT_EQ(sqlCount("select count(*) from api.users where name like 's1_'"), 5);

  std::ostringstream idText;
  for (std::size_t i = 0; i < 3; ++i) idText << inserted.data[i]["id"].get<long long>() << ' ';
  std::istringstream ids(idText.str());
  auto deleted = client_->from("users").bulkDelete(std::views::istream<long long>(ids), {.batchSize = 2});
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted.successful, 3u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 2);
}

TEST_F(Streaming, TwoHundredThousandGeneratedRowsLandWithBoundedLookAhead) {
  constexpr std::size_t kRows = 200000;
  constexpr std::size_t kBatch = 1000;
  constexpr std::size_t kConcurrency = 4;
  auto rows = userGenerator(kRows);
  std::size_t maxAhead = 0;
  std::size_t calls = 0;
  auto r = client_->from("users").bulkInsert(
      rows, {.batchSize = kBatch, .concurrency = kConcurrency, .onProgress = [&](const BulkProgress& p) {
               ++calls;
               EXPECT_FALSE(p.total.has_value());  // a generator has no size
               maxAhead = std::max(maxAhead, rows.produced() - p.processed);
             }});
  EXPECT_EQ(rows.produced(), kRows);
  EXPECT_EQ(r.count, kRows);
  EXPECT_EQ(r.successful, kRows);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.notProcessed, 0u);
  EXPECT_FALSE(r.cancelled);
  EXPECT_TRUE(r.data.empty());
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(kRows));
  EXPECT_EQ(sqlCount("select count(distinct email) from api.users where email like 'g%@x.io'"),
            static_cast<long long>(kRows));
  EXPECT_GE(calls, kRows / kBatch);
  // Never more than the batches in flight (plus the one row read ahead) have been read but not finished.
  EXPECT_LE(maxAhead, kConcurrency * kBatch + 1);
}

TEST_F(Streaming, ProgressIsMonotonicAndEndsAtTheTotal) {
  constexpr std::size_t kRows = 20000;
  // A few rows fail (duplicate emails of earlier rows), so `failed` moves too.
  Generator<true> rows(kRows, [](std::size_t i) {
    const std::size_t e = (i % 4000 == 3999) ? i - 1000 : i;
    return nlohmann::json{{"name", "p" + std::to_string(i)}, {"email", "p" + std::to_string(e) + "@x.io"}};
  });
  std::vector<BulkProgress> seen;
  auto r = client_->from("users").bulkInsert(
      rows, {.batchSize = 500, .onProgress = [&](const BulkProgress& p) { seen.push_back(p); }});
  ASSERT_FALSE(seen.empty());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const auto& p = seen[i];
    ASSERT_EQ(p.total, std::optional<std::size_t>(kRows));
    EXPECT_EQ(p.processed, p.successful + p.skipped + p.failed);
    EXPECT_LE(p.processed, kRows);
    if (i == 0) continue;
    const auto& q = seen[i - 1];
    EXPECT_GE(p.processed, q.processed) << "call " << i;
    EXPECT_GE(p.successful, q.successful) << "call " << i;
    EXPECT_GE(p.failed, q.failed) << "call " << i;
    EXPECT_GE(p.batchesDone, q.batchesDone) << "call " << i;
    EXPECT_GE(p.requests, q.requests) << "call " << i;
    EXPECT_GE(p.bytesSent, q.bytesSent) << "call " << i;
    EXPECT_GE(p.elapsed, q.elapsed) << "call " << i;
  }
  const auto& last = seen.back();
  EXPECT_EQ(last.processed, kRows);
  EXPECT_EQ(last.failed, 5u);
  EXPECT_EQ(last.successful, kRows - 5);
  EXPECT_EQ(last.batchesDone, r.batches);
  EXPECT_EQ(last.batchesInFlight, 0u);
  EXPECT_EQ(r.successful, kRows - 5);
  EXPECT_EQ(r.failed, 5u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(kRows - 5));
}

TEST_F(Streaming, StopTokenFromProgressReturnsAConsistentPartialResult) {
  constexpr std::size_t kRows = 60000;
  std::stop_source stop;
  std::size_t callsAfterStop = 0;
  auto rows = userRows(kRows);
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 1000,
                                                    .concurrency = 4,
                                                    .onProgress =
                                                        [&](const BulkProgress& p) {
                                                          if (stop.stop_requested()) ++callsAfterStop;
                                                          if (p.processed >= 10000) stop.request_stop();
                                                        },
                                                    .stopToken = stop.get_token()});
  EXPECT_TRUE(r.cancelled);
  EXPECT_FALSE(r.ok());
  EXPECT_GE(r.successful, 10000u);
  EXPECT_LT(r.successful, kRows);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.count, r.successful);
  EXPECT_EQ(r.count + r.notProcessed, kRows);  // every row is processed or counted as not processed
  EXPECT_GT(r.notProcessed, 0u);
  // In-flight batches were allowed to finish (at most concurrency - 1 more after the stopping one).
  EXPECT_LE(callsAfterStop, 3u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(r.successful));
  // The rows written are exactly a prefix of the input: batches are sent in input order.
  EXPECT_EQ(sqlCount("select count(*) from api.users where substr(email, 2, length(email) - 6)::int >= " +
                     std::to_string(r.successful)),
            0);
}

TEST_F(Streaming, StopTokenWithGeneratorCountsTheRowsReadButNotSent) {
  auto rows = userGenerator(100000);
  std::stop_source stop;
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 500,
                                                    .onProgress =
                                                        [&](const BulkProgress& p) {
                                                          if (p.processed >= 2000) stop.request_stop();
                                                        },
                                                    .stopToken = stop.get_token()});
  EXPECT_TRUE(r.cancelled);
  EXPECT_LT(rows.taken(), 100000u);  // the generator was not drained
  EXPECT_EQ(r.count + r.notProcessed, rows.taken());
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(r.successful));
}

TEST_F(Streaming, AlreadyStoppedSendsNothing) {
  std::stop_source stop;
  stop.request_stop();
  auto rows = userRows(5000);
  auto r = client_->from("users").bulkInsert(rows, {.stopToken = stop.get_token()});
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.notProcessed, 5000u);
  EXPECT_EQ(counting_->total(), 0u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 0);
}

TEST_F(Streaming, PastDeadlineSendsNothing) {
  auto rows = userRows(5000);
  auto r = client_->from("users").bulkInsert(rows, {.deadline = std::chrono::steady_clock::now()});
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.notProcessed, 5000u);
  EXPECT_EQ(counting_->count("POST"), 0u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 0);
}

TEST_F(Streaming, DeadlineStopsAMidRunImport) {
  // The input stalls at row 20,000 until the deadline has passed, so the deadline falls mid-run
  // whatever the machine's speed.
  constexpr std::size_t kRows = 100000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  Generator<true> rows(kRows, [deadline](std::size_t i) {
    if (i == 20000) std::this_thread::sleep_until(deadline + std::chrono::milliseconds(20));
    return user("d", i);
  });
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 1000, .concurrency = 4, .deadline = deadline});
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_LE(r.successful, 24000u);  // at most the batches dispatched while the deadline passed
  EXPECT_EQ(r.count + r.notProcessed, kRows);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(r.successful));
}

}  // namespace
}  // namespace pgrestify::test
