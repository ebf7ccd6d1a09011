// SPDX-License-Identifier: MIT
// BulkWriter against the real PostgreSQL + PostgREST: many producers, linger, upsert ordering,
// backpressure with a stalled server (the fault proxy), PostgREST restarted mid-stream, and
// close() with the server gone. Every test compares the outcomes reported with the table.
#include "fault_proxy.hpp"
#include "fault_support.hpp"
#include "schema_change.hpp"

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace pgrestify::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

/// Outcomes by context (contexts are 0..n-1).
struct Seen {
  explicit Seen(std::size_t n) : outcome(n, -1), times(n, 0) {}
  std::mutex m;
  std::vector<int> outcome;
  std::vector<int> times;
  std::size_t total = 0;

  BulkWriter<json, std::uint64_t>::Callback callback() {
    return [this](WriterOutcome<std::uint64_t>& o) {
      std::lock_guard lk(m);
      ASSERT_LT(o.context, outcome.size());
      ++times[o.context];
      outcome[o.context] = static_cast<int>(o.outcome);
      ++total;
    };
  }
  /// Every accepted context reported exactly once, the others never.
  void expectOnce(const std::vector<bool>& accepted) {
    std::lock_guard lk(m);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < times.size(); ++i) {
      if (times[i] != (accepted[i] ? 1 : 0)) ++wrong;
    }
    EXPECT_EQ(wrong, 0u) << "contexts not reported exactly once (or reported although refused)";
  }
  std::size_t count(RowOutcome k) {
    std::lock_guard lk(m);
    return static_cast<std::size_t>(std::count(outcome.begin(), outcome.end(), static_cast<int>(k)));
  }
};

std::string keyOf(std::size_t i) { return "k" + std::to_string(i); }

/// Ids present in @p table (`id` column "k<i>"), with how many times each is there.
std::vector<int> idsIn(const std::string& table, std::size_t n) {
  std::vector<int> counts(n, 0);
  std::istringstream in(sql("select id from api." + table));
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 2 || line[0] != 'k') continue;
    auto i = std::stoull(line.substr(1));
    if (i < n) ++counts[i];
  }
  return counts;
}

/// The table against the outcomes: written/skipped rows present once, failed and cancelled rows
/// absent, unknown rows at most once, refused rows absent.
void expectTableMatches(const std::string& table, Seen& seen, const std::vector<bool>& accepted) {
  auto counts = idsIn(table, accepted.size());
  std::lock_guard lk(seen.m);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < accepted.size(); ++i) {
    const int c = counts[i];
    if (!accepted[i]) {
      bad += c != 0;
      continue;
    }
    switch (static_cast<RowOutcome>(seen.outcome[i])) {
      case RowOutcome::Written:
      case RowOutcome::Skipped:
        bad += c != 1;
        break;
      case RowOutcome::Failed:
      case RowOutcome::Cancelled:
        bad += c != 0;
        break;
      case RowOutcome::Unknown:
        bad += c > 1;
        break;
      default:
        ++bad;  // no outcome
    }
  }
  EXPECT_EQ(bad, 0u) << "rows whose presence in the table contradicts their outcome";
}

class WriterTest : public IntegrationTest {
 protected:
  void create(const std::string& table) {
    table_ = table;
    ASSERT_TRUE(createAndExpose("drop table if exists api." + table +
                                    " cascade;"
                                    "create table api." +
                                    table +
                                    " (id text primary key, payload text not null, n int);"
                                    "grant all on api." +
                                    table + " to anon, web_user;",
                                table, makeClient()));
  }
  void TearDown() override {
    if (!table_.empty() && server_) sql("drop table if exists api." + table_ + " cascade");
  }
  std::string table_;
};

json row(std::size_t i, std::size_t n = 0) {
  return {{"id", keyOf(i)}, {"payload", std::string(i % 200, 'x')}, {"n", n}};
}

TEST_F(WriterTest, EightProducersFiftyThousandRowsEachEveryContextOnce) {
  create("writer_bulk");
  constexpr std::size_t kThreads = 8, kPerThread = 50000, kTotal = kThreads * kPerThread;
  Seen seen(kTotal);
  auto client = makeClient();
  std::vector<bool> accepted(kTotal, false);
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto writer =
        client.from("writer_bulk")
            .bulkWriter({.maxBatchRows = 1000, .linger = 20ms, .maxInFlight = 4, .onConflict = OnConflict::Ignore},
                        seen.callback());
    std::vector<std::thread> producers;
    std::mutex acceptedMutex;
    for (std::size_t t = 0; t < kThreads; ++t) {
      producers.emplace_back([&, t] {
        std::vector<std::size_t> mine;
        for (std::size_t i = 0; i < kPerThread; ++i) {
          const std::size_t id = t * kPerThread + i;
          if (writer.add(row(id), id)) mine.push_back(id);
        }
        std::lock_guard lk(acceptedMutex);
        for (auto id : mine) accepted[id] = true;
      });
    }
    for (auto& p : producers) p.join();
    writer.flush().get();
    auto st = writer.stats();
    EXPECT_EQ(st.added, kTotal);
    EXPECT_EQ(st.written, static_cast<std::size_t>(sqlCount("select count(*) from api.writer_bulk")));
    EXPECT_EQ(st.written + st.skipped + st.failed + st.unknown + st.cancelled, st.added);
    EXPECT_TRUE(writer.close(30s));
    std::cout << "[writer 8x50000] " << st.written << " written in " << st.batches << " batches, " << st.requests
              << " requests, "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
              << " ms\n";
  }
  seen.expectOnce(accepted);
  EXPECT_EQ(seen.count(RowOutcome::Written), kTotal);
  EXPECT_EQ(sqlCount("select count(*) from api.writer_bulk"), static_cast<long long>(kTotal));
  expectTableMatches("writer_bulk", seen, accepted);
}

TEST_F(WriterTest, LingerWritesALoneRowWithoutFlush) {
  create("writer_linger");
  Seen seen(1);
  auto client = makeClient();
  auto writer = client.from("writer_linger").bulkWriter({.linger = 50ms}, seen.callback());
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(writer.add(row(0), 0));
  while (sqlCount("select count(*) from api.writer_linger") == 0 && std::chrono::steady_clock::now() - t0 < 5s) {
    std::this_thread::sleep_for(5ms);
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(sqlCount("select count(*) from api.writer_linger"), 1) << "the row is written without flush()";
  EXPECT_LT(took, 2s);
  std::cout << "[writer linger 50ms] row in the table after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  EXPECT_TRUE(writer.close(5s));
  EXPECT_EQ(seen.count(RowOutcome::Written), 1u);
}

TEST_F(WriterTest, UpsertWithRepeatedKeysFromSeveralThreadsEndsWithTheLastAdded) {
  create("writer_upsert");
  constexpr std::size_t kKeys = 50, kThreads = 4, kRounds = 40, kTotal = kKeys * kThreads * kRounds;
  Seen seen(kTotal);
  auto client = makeClient();
  std::mutex orderMutex;
  std::vector<std::size_t> last(kKeys, 0);  // key -> the n of the row added last
  std::atomic<std::size_t> ctx{0};
  {
    auto writer =
        client.from("writer_upsert")
            .bulkWriter({.operation = WriterOperation::Upsert, .maxBatchRows = 16, .linger = 2ms, .maxInFlight = 4},
                        seen.callback());
    std::vector<std::thread> producers;
    for (std::size_t t = 0; t < kThreads; ++t) {
      producers.emplace_back([&, t] {
        for (std::size_t r = 0; r < kRounds; ++r) {
          for (std::size_t k = 0; k < kKeys; ++k) {
            const std::size_t n = (t + 1) * 100000 + r * 1000 + k;
            std::lock_guard lk(orderMutex);  // the order of the add() calls is the order recorded
            ASSERT_TRUE(writer.add(row(k, n), ctx++));
            last[k] = n;
          }
        }
      });
    }
    for (auto& p : producers) p.join();
    EXPECT_TRUE(writer.close(60s));
  }
  EXPECT_EQ(seen.count(RowOutcome::Written), kTotal);
  std::istringstream in(sql("select id || ' ' || n from api.writer_upsert"));
  std::string id;
  std::size_t n = 0, rows = 0;
  while (in >> id >> n) {
    ++rows;
    const auto k = std::stoull(id.substr(1));
    EXPECT_EQ(n, last[k]) << id << ": not the last value added";
  }
  EXPECT_EQ(rows, kKeys);
}

TEST_F(WriterTest, UpdateAndDeleteWritersByKey) {
  create("writer_keys");
  sql("insert into api.writer_keys select 'k' || i, 'p', 0 from generate_series(0, 99) i");
  auto client = makeClient();
  Seen updates(101), deletes(51);
  {
    auto writer = client.from("writer_keys")
                      .bulkWriter({.operation = WriterOperation::Update, .linger = 2ms}, updates.callback());
    for (std::size_t i = 0; i < 100; ++i) ASSERT_TRUE(writer.add(json{{"id", keyOf(i)}, {"n", i + 1}}, i));
    ASSERT_TRUE(writer.add(json{{"id", "missing"}, {"n", 1}}, 100));
    writer.flush().get();
  }
  EXPECT_EQ(updates.count(RowOutcome::Written), 100u);
  EXPECT_EQ(updates.count(RowOutcome::Failed), 1u) << "a key that matches nothing fails (NotFound)";
  EXPECT_EQ(sqlCount("select count(*) from api.writer_keys where n = substring(id from 2)::int + 1"), 100);
  {
    auto writer = client.from("writer_keys")
                      .bulkWriter({.operation = WriterOperation::Delete, .linger = 2ms}, deletes.callback());
    for (std::size_t i = 0; i < 50; ++i) ASSERT_TRUE(writer.add(json(keyOf(i)), i));
    ASSERT_TRUE(writer.add(json("missing"), 50));
  }
  EXPECT_EQ(deletes.count(RowOutcome::Written), 50u);
  EXPECT_EQ(deletes.count(RowOutcome::Failed), 1u);
  EXPECT_EQ(sqlCount("select count(*) from api.writer_keys"), 50);
}

class WriterFault : public WriterTest {
 protected:
  void SetUp() override {
    WriterTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (server_->dir.empty()) GTEST_SKIP() << "fault tests need the fixture's own servers (testenv dir)";
  }
};

TEST_F(WriterFault, BackpressureWhileTheServerStallsThenEverythingAcceptedIsWritten) {
  create("writer_stall");
  fault::FaultProxy proxy(fault::portOf(server_->url), nullptr);
  // The first requests reach the server and are never answered: the client gives up after 2 s and
  // (Ignore with client keys: idempotent) sends them again.
  auto stalls = std::make_shared<std::atomic<int>>(3);
  proxy.setPolicy([stalls](const fault::ProxiedRequest& r) {
    if (r.method == "POST" && stalls->fetch_sub(1) > 0) return fault::ProxyAction::Stall;
    return fault::ProxyAction::Forward;
  });
  Client client({.url = proxy.url(), .timeout = 2s});
  constexpr std::size_t kRows = 20000, kMaxRows = 2000, kMaxBytes = 512 * 1024;
  Seen seen(kRows);
  std::vector<bool> accepted(kRows, false);
  std::atomic<std::size_t> refusedFull{0}, maxHeldRows{0}, maxHeldBytes{0};
  {
    auto writer = client.from("writer_stall")
                      .bulkWriter({.maxBatchRows = 500,
                                   .maxBatchBytes = 128 * 1024,
                                   .linger = 5ms,
                                   .maxInFlight = 3,
                                   .maxBufferedRows = kMaxRows,
                                   .maxBufferedBytes = kMaxBytes,
                                   .blockTimeout = 50ms,
                                   .onConflict = OnConflict::Ignore,
                                   .retry = {.maxAttempts = 10, .initialBackoff = 50ms, .maxBackoff = 200ms}},
                                  seen.callback());
    std::atomic<bool> watching{true};
    std::thread watcher([&] {
      while (watching) {
        auto st = writer.stats();
        maxHeldRows = std::max<std::size_t>(maxHeldRows, st.buffered + st.inFlight);
        maxHeldBytes = std::max<std::size_t>(maxHeldBytes, st.heldBytes);
        std::this_thread::sleep_for(1ms);
      }
    });
    std::vector<std::thread> producers;
    std::mutex acceptedMutex;
    for (std::size_t t = 0; t < 4; ++t) {
      producers.emplace_back([&, t] {
        for (std::size_t id = t; id < kRows; id += 4) {
          // Producers keep trying: half of them block in add(), half use tryAdd() and retry.
          for (int tries = 0;; ++tries) {
            auto r = t % 2 ? writer.tryAdd(row(id), id) : writer.add(row(id), id);
            if (r) {
              std::lock_guard lk(acceptedMutex);
              accepted[id] = true;
              break;
            }
            ASSERT_EQ(r.status, AddStatus::Full) << r.message;
            ++refusedFull;
            if (tries > 2000) break;  // gives up on this row (never accepted: no outcome)
            std::this_thread::sleep_for(1ms);
          }
        }
      });
    }
    for (auto& p : producers) p.join();
    EXPECT_TRUE(writer.close(60s));
    watching = false;
    watcher.join();
  }
  EXPECT_GT(refusedFull.load(), 0u) << "the stall never filled the writer; the test proves nothing";
  EXPECT_LE(maxHeldRows.load(), kMaxRows);
  EXPECT_LE(maxHeldBytes.load(), kMaxBytes);
  EXPECT_GE(proxy.count(fault::ProxyAction::Stall), 3u);
  seen.expectOnce(accepted);
  const auto nAccepted = static_cast<std::size_t>(std::count(accepted.begin(), accepted.end(), true));
  EXPECT_EQ(seen.count(RowOutcome::Written) + seen.count(RowOutcome::Skipped), nAccepted)
      << "after the stall everything accepted is written (skipped: a stalled attempt had committed it)";
  EXPECT_EQ(sqlCount("select count(*) from api.writer_stall"), static_cast<long long>(nAccepted));
  expectTableMatches("writer_stall", seen, accepted);
}

TEST_F(WriterFault, PostgrestRestartedMidStreamNothingLostNothingDuplicated) {
  create("writer_restart");
  fault::ServerGuard guard;
  constexpr std::size_t kRows = 60000;
  Seen seen(kRows);
  std::vector<bool> accepted(kRows, false);
  auto client = makeClient();
  fault::Outage restart("postgrest", 1s);  // stopped by the producer mid-stream, started 1 s later
  {
    auto writer = client.from("writer_restart")
                      .bulkWriter({.maxBatchRows = 500,
                                   .linger = 5ms,
                                   .maxInFlight = 4,
                                   .onConflict = OnConflict::Ignore,
                                   .retry = {.maxAttempts = 40, .initialBackoff = 100ms, .maxBackoff = 1000ms}},
                                  seen.callback());
    for (std::size_t id = 0; id < kRows; ++id) {
      if (id == kRows / 4) restart.begin();
      accepted[id] = writer.add(row(id), id).accepted();
      if (id % 100 == 0) std::this_thread::sleep_for(1ms);  // a stream, not one burst
    }
    EXPECT_TRUE(writer.close(120s));
    auto st = writer.stats();
    std::cout << "[writer restart] written=" << st.written << " skipped=" << st.skipped << " failed=" << st.failed
              << " unknown=" << st.unknown << " requests=" << st.requests << " retries=" << st.retries << "\n";
    EXPECT_GT(st.retries + st.failed + st.unknown, 0u) << "the restart was not noticed; the test proves nothing";
  }
  restart.end();
  ASSERT_TRUE(restart.begun());
  seen.expectOnce(accepted);
  expectTableMatches("writer_restart", seen, accepted);
  EXPECT_EQ(seen.count(RowOutcome::Failed) + seen.count(RowOutcome::Cancelled), 0u)
      << "an idempotent writer rides out the restart";
}

TEST_F(WriterFault, CloseWithTheServerGoneReturnsWithinItsTimeoutEveryRowReported) {
  create("writer_gone");
  fault::ServerGuard guard;
  ASSERT_EQ(testenv("stop-postgrest"), 0);
  constexpr std::size_t kRows = 3000;
  Seen seen(kRows);
  std::vector<bool> accepted(kRows, false);
  auto client = makeClient();
  auto writer = std::make_unique<BulkWriter<json, std::uint64_t>>(
      client.from("writer_gone")
          .bulkWriter({.maxBatchRows = 200,
                       .linger = 5ms,
                       .maxInFlight = 2,
                       .onConflict = OnConflict::Ignore,
                       .conflictColumns = {"id"}},  // the primary key cannot be asked for: the server is gone
                      seen.callback()));
  for (std::size_t id = 0; id < kRows; ++id) accepted[id] = writer->add(row(id), id).accepted();
  std::this_thread::sleep_for(200ms);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(writer->close(2s));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 2500ms) << "close() returns within its timeout";
  seen.expectOnce(accepted);
  EXPECT_EQ(seen.count(RowOutcome::Unknown) + seen.count(RowOutcome::Cancelled),
            static_cast<std::size_t>(std::count(accepted.begin(), accepted.end(), true)));
  writer.reset();
  fault::ServerGuard::restore();
  expectTableMatches("writer_gone", seen, accepted);
}

}  // namespace
}  // namespace pgrestify::test
