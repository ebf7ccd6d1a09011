// SPDX-License-Identifier: MIT
// BulkWriter against a fake transport: one outcome per accepted row, batching by rows/bytes/linger,
// capacity and backpressure, key ordering of upserts, close() with a server that never answers,
// callbacks that add rows, misuse.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// Outcomes by context, collected from the writer's callback.
struct Outcomes {
  std::mutex m;
  std::condition_variable cv;
  std::map<std::uint64_t, std::vector<WriterOutcome<std::uint64_t>>> byContext;
  std::size_t total = 0;

  BulkWriter<json, std::uint64_t>::Callback callback() {
    return [this](WriterOutcome<std::uint64_t>& o) {
      std::lock_guard lk(m);
      byContext[o.context].push_back(o);
      ++total;
      cv.notify_all();
    };
  }
  std::size_t count() {
    std::lock_guard lk(m);
    return total;
  }
  bool waitFor(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lk(m);
    return cv.wait_for(lk, timeout, [&] { return total >= n; });
  }
  std::map<RowOutcome, std::size_t> kinds() {
    std::lock_guard lk(m);
    std::map<RowOutcome, std::size_t> out;
    for (auto& [c, v] : byContext) {
      for (auto& o : v) ++out[o.outcome];
    }
    return out;
  }
  /// Every context in [0, n) reported exactly once, no other.
  void expectExactlyOnce(std::size_t n) {
    std::lock_guard lk(m);
    EXPECT_EQ(byContext.size(), n);
    for (std::uint64_t c = 0; c < n; ++c) {
      auto it = byContext.find(c);
      ASSERT_NE(it, byContext.end()) << "context " << c << " has no outcome";
      EXPECT_EQ(it->second.size(), 1u) << "context " << c;
    }
  }
};

json user(std::size_t i, std::string name = {}) {
  return {{"name", name.empty() ? "n" + std::to_string(i) : name}, {"email", "e" + std::to_string(i) + "@x.io"}};
}

HttpResponse tableAnswer(FakeTable& table, const HttpRequest& req) { return table.post(req); }

}  // namespace

TEST(BulkWriter, ManyProducersEveryContextOnceAndTableMatchesStats) {
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return tableAnswer(table, req); });
  auto client = fakeClient(fake);
  Outcomes seen;
  constexpr std::size_t kThreads = 6, kPerThread = 2000;
  {
    auto writer = client.from("users").bulkWriter(
        {.maxBatchRows = 100, .linger = 5ms, .maxInFlight = 3, .maxBufferedRows = 1000}, seen.callback());
    std::vector<std::thread> producers;
    for (std::size_t t = 0; t < kThreads; ++t) {
      producers.emplace_back([&, t] {
        for (std::size_t i = 0; i < kPerThread; ++i) {
          const std::size_t id = t * kPerThread + i;
          ASSERT_TRUE(writer.add(user(id), id).accepted());
        }
      });
    }
    for (auto& p : producers) p.join();
    writer.flush().get();
    EXPECT_EQ(seen.count(), kThreads * kPerThread) << "flush() is ready only after every outcome";
    auto st = writer.stats();
    EXPECT_EQ(st.added, kThreads * kPerThread);
    EXPECT_EQ(st.written, table.size());
    EXPECT_EQ(st.buffered + st.inFlight + st.heldBytes, 0u);
    EXPECT_TRUE(writer.close(5s));
  }
  seen.expectExactlyOnce(kThreads * kPerThread);
  EXPECT_EQ(table.size(), kThreads * kPerThread);
  EXPECT_EQ(seen.kinds()[RowOutcome::Written], kThreads * kPerThread);
  for (const auto& r : fake->requests("POST")) EXPECT_LE(rowsIn(r), 100u);
}

TEST(BulkWriter, LingerSendsASingleRowWithoutFlush) {
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return tableAnswer(table, req); });
  auto client = fakeClient(fake);
  Outcomes seen;
  auto writer = client.from("users").bulkWriter({.linger = 150ms}, seen.callback());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(writer.add(user(1), 1));
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(fake->count(), 0u) << "a lone row waits for linger";
  ASSERT_TRUE(seen.waitFor(1, 3s)) << "the row is sent when it has waited linger, without flush()";
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 140ms);
  EXPECT_TRUE(table.has("e1@x.io"));
  EXPECT_EQ(seen.kinds()[RowOutcome::Written], 1u);
}

TEST(BulkWriter, FullBatchGoesWithoutWaitingForLinger) {
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return tableAnswer(table, req); });
  auto client = fakeClient(fake);
  Outcomes seen;
  auto writer = client.from("users").bulkWriter({.maxBatchRows = 10, .linger = 10s}, seen.callback());
  for (std::size_t i = 0; i < 10; ++i) ASSERT_TRUE(writer.add(user(i), i));
  ASSERT_TRUE(seen.waitFor(10, 3s)) << "maxBatchRows rows are sent at once";
  ASSERT_EQ(fake->requests("POST").size(), 1u);
  EXPECT_EQ(rowsIn(fake->requests("POST")[0]), 10u);
}

TEST(BulkWriter, MaxBatchBytesCutsBatches) {
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return tableAnswer(table, req); });
  auto client = fakeClient(fake);
  Outcomes seen;
  auto writer = client.from("users").bulkWriter({.maxBatchBytes = 200, .linger = 1ms, .maxBufferedBytes = 100000},
                                                seen.callback());
  for (std::size_t i = 0; i < 40; ++i) ASSERT_TRUE(writer.add(user(i, std::string(40, 'x')), i));
  writer.flush().get();
  seen.expectExactlyOnce(40);
  for (const auto& r : fake->requests("POST")) EXPECT_LE(r.body().size(), 200u);
  EXPECT_EQ(table.size(), 40u);
}

TEST(BulkWriter, FailedSkippedAndWrittenOutcomesCarryTheError) {
  FakeTable table;
  table.seed(user(3));
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return tableAnswer(table, req); });
  auto client = fakeClient(fake);
  {
    Outcomes seen;
    auto writer = client.from("users").bulkWriter({.linger = 1ms, .retry = fastRetry()}, seen.callback());
    for (std::size_t i = 0; i < 6; ++i) ASSERT_TRUE(writer.add(user(i), i));
    writer.flush().get();
    seen.expectExactlyOnce(6);
    std::lock_guard lk(seen.m);
    const auto& dup = seen.byContext[3].front();
    EXPECT_EQ(dup.outcome, RowOutcome::Failed);
    ASSERT_TRUE(dup.error);
    EXPECT_EQ(dup.error->code, "23505");
    EXPECT_TRUE(dup.error->indexes.empty());
    for (std::uint64_t c : {0, 1, 2, 4, 5}) EXPECT_EQ(seen.byContext[c].front().outcome, RowOutcome::Written) << c;
  }
  {
    Outcomes seen;
    auto writer = client.from("users").bulkWriter(
        {.linger = 1ms, .onConflict = OnConflict::Ignore, .conflictColumns = {"email"}}, seen.callback());
    for (std::size_t i = 4; i < 10; ++i) ASSERT_TRUE(writer.add(user(i), i));
    writer.flush().get();
    std::lock_guard lk(seen.m);
    for (std::uint64_t c = 4; c < 10; ++c) {
      ASSERT_EQ(seen.byContext[c].size(), 1u);
      EXPECT_EQ(seen.byContext[c].front().outcome, c < 6 ? RowOutcome::Skipped : RowOutcome::Written) << c;
    }
  }
}

TEST(BulkWriter, InvalidRowsAreRefusedWithoutOutcome) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = fakeClient(fake);
  Outcomes seen;
  auto writer = client.from("users").bulkWriter({.maxBatchBytes = 100, .maxBufferedBytes = 100}, seen.callback());
  EXPECT_EQ(writer.add(json::array({1, 2}), 1).status, AddStatus::Invalid);
  EXPECT_EQ(writer.add(json{{"x", std::numeric_limits<double>::quiet_NaN()}}, 2).status, AddStatus::Invalid);
  EXPECT_EQ(writer.add(json{{"x", std::string(200, 'y')}}, 3).status, AddStatus::Invalid) << "larger than the buffer";
  EXPECT_TRUE(writer.close(2s));
  EXPECT_EQ(writer.add(user(4), 4).status, AddStatus::Closed);
  EXPECT_EQ(seen.count(), 0u);
  EXPECT_EQ(writer.stats().refused, 4u);
  EXPECT_EQ(fake->count(), 0u);
}

TEST(BulkWriter, MisuseThrowsInvalidArgument) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = fakeClient(fake);
  auto users = client.from("users");
  EXPECT_THROW(users.bulkWriter({.maxBatchRows = 0}), std::invalid_argument);
  EXPECT_THROW(users.bulkWriter({.maxBatchBytes = 0}), std::invalid_argument);
  EXPECT_THROW(users.bulkWriter({.maxInFlight = 0}), std::invalid_argument);
  EXPECT_THROW(users.bulkWriter({.maxBatchRows = 10, .maxBufferedRows = 5}), std::invalid_argument);
  EXPECT_THROW(users.bulkWriter({.linger = -1ms}), std::invalid_argument);
  EXPECT_THROW(users.bulkWriter({.onConflict = OnConflict::Update}), std::invalid_argument);
  EXPECT_THROW(users.bulkWriter({.operation = WriterOperation::Delete, .matchColumn = Columns()}),
               std::invalid_argument);
  EXPECT_THROW(users.bulkWriter({.operation = WriterOperation::Upsert, .conflictColumns = {"bad\ncol"}}),
               std::invalid_argument);
  auto w = users.bulkWriter();
  auto moved = std::move(w);
  EXPECT_THROW(w.add(user(1), 1), std::invalid_argument);  // NOLINT(bugprone-use-after-move)
  EXPECT_THROW(w.stats(), std::invalid_argument);          // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(moved.add(user(1), 1));
  EXPECT_EQ(fake->count(), 0u);
}

TEST(BulkWriter, BackpressureBlocksOrRefusesThenEverythingAcceptedIsWritten) {
  FakeTable table;
  std::mutex gateMutex;
  std::condition_variable gateCv;
  bool open = false;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    std::unique_lock lk(gateMutex);
    gateCv.wait(lk, [&] { return open; });
    return tableAnswer(table, req);
  });
  auto client = fakeClient(fake);
  Outcomes seen;
  auto reject = client.from("users").bulkWriter(
      {.maxBatchRows = 10, .linger = 1ms, .maxInFlight = 2, .maxBufferedRows = 30, .whenFull = WhenFull::Reject},
      seen.callback());
  std::size_t accepted = 0;
  std::uint64_t next = 0;
  for (; next < 100; ++next) {
    auto r = reject.add(user(next), next);
    if (r) {
      ++accepted;
    } else {
      EXPECT_EQ(r.status, AddStatus::Full);
    }
  }
  EXPECT_EQ(accepted, 30u) << "maxBufferedRows held at most";
  EXPECT_EQ(reject.tryAdd(user(next), next).status, AddStatus::Full);
  auto st = reject.stats();
  EXPECT_EQ(st.buffered + st.inFlight, 30u);
  EXPECT_LE(st.inFlight, 20u) << "at most maxInFlight batches";

  // Block: add() waits blockTimeout, then refuses; a producer blocked in add() gets in once room is given back.
  auto blocking = client.from("users").bulkWriter(
      {.maxBatchRows = 5, .linger = 1ms, .maxInFlight = 1, .maxBufferedRows = 5, .blockTimeout = 100ms},
      seen.callback());
  for (std::uint64_t i = 1000; i < 1005; ++i) ASSERT_TRUE(blocking.add(user(i), i));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(blocking.add(user(1005), 1005).status, AddStatus::Full);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 90ms);
  EXPECT_EQ(blocking.tryAdd(user(1005), 1005).status, AddStatus::Full);
  std::atomic<bool> added{false};
  std::thread producer([&] { added = blocking.add(user(1006), 1006).accepted(); });
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(added.load()) << "add() blocks while full";
  {
    std::lock_guard lk(gateMutex);
    open = true;
  }
  gateCv.notify_all();
  producer.join();
  EXPECT_TRUE(added.load());
  EXPECT_TRUE(reject.close(5s));
  EXPECT_TRUE(blocking.close(5s));
  EXPECT_EQ(seen.count(), 36u);
  EXPECT_EQ(seen.kinds()[RowOutcome::Written], 36u);
  EXPECT_EQ(table.size(), 36u);
}

TEST(BulkWriter, CloseWithAServerThatNeverAnswersReportsEveryRowWithinTheTimeout) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return stalled(); });
  auto client = fakeClient(fake);
  Outcomes seen;
  auto writer = std::make_unique<BulkWriter<json, std::uint64_t>>(client.from("users").bulkWriter(
      {.maxBatchRows = 10, .linger = 10s, .maxInFlight = 2, .maxBufferedRows = 100}, seen.callback()));
  for (std::uint64_t i = 0; i < 50; ++i) ASSERT_TRUE(writer->add(user(i), i));
  std::this_thread::sleep_for(50ms);  // two batches in flight, the rest buffered
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(writer->close(300ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 900ms);
  seen.expectExactlyOnce(50);
  auto kinds = seen.kinds();
  EXPECT_EQ(kinds[RowOutcome::Unknown], 20u) << "rows in flight may have been written";
  EXPECT_EQ(kinds[RowOutcome::Cancelled], 30u) << "rows never sent";
  auto st = writer->stats();
  EXPECT_EQ(st.unknown, 20u);
  EXPECT_EQ(st.cancelled, 30u);
  EXPECT_EQ(st.buffered + st.inFlight + st.heldBytes, 0u);
  EXPECT_EQ(writer->add(user(99), 99).status, AddStatus::Closed);
  writer.reset();  // the destructor ends the abandoned engine calls
  EXPECT_EQ(seen.count(), 50u) << "late answers are not reported again";
}

TEST(BulkWriter, TransportFaultsAreRetriedOrReportedUnknown) {
  FakeTable table;
  std::atomic<int> calls{0};
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int attempt) {
    ++calls;
    if (req.body.find("e0@") != std::string::npos && attempt == 1) {
      return transportFailure(TransportErrorKind::Reset, /*bodySent=*/false);  // not executed: retried
    }
    if (req.body.find("e1@") != std::string::npos) {
      return transportFailure(TransportErrorKind::Timeout,
                              /*bodySent=*/true);  // maybe executed: an insert is not retried
    }
    return tableAnswer(table, req);
  });
  auto client = fakeClient(fake);
  Outcomes seen;
  auto writer =
      client.from("users").bulkWriter({.maxBatchRows = 1, .linger = 0ms, .retry = fastRetry()}, seen.callback());
  ASSERT_TRUE(writer.add(user(0), 0));
  ASSERT_TRUE(writer.add(user(1), 1));
  writer.flush().get();
  std::lock_guard lk(seen.m);
  EXPECT_EQ(seen.byContext[0].front().outcome, RowOutcome::Written);
  EXPECT_EQ(seen.byContext[1].front().outcome, RowOutcome::Unknown);
  ASSERT_TRUE(seen.byContext[1].front().error);
  EXPECT_TRUE(seen.byContext[1].front().error->outcomeUnknown);
  EXPECT_TRUE(table.has("e0@x.io"));
}

TEST(BulkWriter, UpsertNeverHasTwoRowsOfAKeyInFlightAndLastAddedWins) {
  FakeTable table;
  std::mutex m;
  std::multiset<std::string> inFlight;
  std::atomic<int> overlaps{0};
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    auto rows = json::parse(req.body);
    {
      std::lock_guard lk(m);
      for (auto& r : rows) {
        if (inFlight.count(r["email"].get<std::string>())) ++overlaps;
        inFlight.insert(r["email"].get<std::string>());
      }
    }
    std::this_thread::sleep_for(2ms);
    auto answer = tableAnswer(table, req);
    std::lock_guard lk(m);
    for (auto& r : rows) inFlight.erase(inFlight.find(r["email"].get<std::string>()));
    return answer;
  });
  auto client = fakeClient(fake);
  Outcomes seen;
  constexpr std::size_t kKeys = 20, kThreads = 4, kRounds = 30;
  std::mutex orderMutex;
  std::map<std::string, std::string> lastAdded;  // key -> the value of the row added last
  {
    auto writer = client.from("users").bulkWriter({.operation = WriterOperation::Upsert,
                                                   .maxBatchRows = 8,
                                                   .linger = 1ms,
                                                   .maxInFlight = 4,
                                                   .conflictColumns = {"email"}},
                                                  seen.callback());
    std::vector<std::thread> producers;
    std::atomic<std::uint64_t> ctx{0};
    for (std::size_t t = 0; t < kThreads; ++t) {
      producers.emplace_back([&, t] {
        for (std::size_t round = 0; round < kRounds; ++round) {
          for (std::size_t k = 0; k < kKeys; ++k) {
            const std::string value = "t" + std::to_string(t) + "r" + std::to_string(round);
            std::lock_guard lk(orderMutex);  // the order of add() calls is the order recorded
            ASSERT_TRUE(writer.add(user(k, value), ctx++));
            lastAdded[user(k)["email"].get<std::string>()] = value;
          }
        }
      });
    }
    for (auto& p : producers) p.join();
    EXPECT_TRUE(writer.close(10s));
  }
  EXPECT_EQ(overlaps.load(), 0) << "two rows of one key were in flight at once";
  EXPECT_EQ(seen.count(), kKeys * kThreads * kRounds);
  EXPECT_EQ(seen.kinds()[RowOutcome::Written], kKeys * kThreads * kRounds);
  for (const auto& [key, value] : lastAdded) EXPECT_EQ(table.row(key)["name"], value) << key;
}

TEST(BulkWriter, AddFromTheCallbackNeverDeadlocks) {
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return tableAnswer(table, req); });
  auto client = fakeClient(fake);
  std::atomic<std::size_t> outcomes{0}, readded{0}, refusedFull{0};
  BulkWriter<json, std::uint64_t>* self = nullptr;
  auto writer = client.from("users").bulkWriter<std::uint64_t>(
      {.maxBatchRows = 4, .linger = 1ms, .maxInFlight = 2, .maxBufferedRows = 4}, [&](WriterOutcome<std::uint64_t>& o) {
        ++outcomes;
        if (o.context < 1000) {  // each first-generation row adds a second one, from the callback
          auto r = self->add(user(o.context + 1000), o.context + 1000);
          if (r) {
            ++readded;
          } else {  // no room (add() does not wait in a callback), or closed already
            EXPECT_TRUE(r.status == AddStatus::Full || r.status == AddStatus::Closed) << r.message;
            ++refusedFull;
          }
          self->flush();  // flush() from a callback does not wait
        }
      });
  self = &writer;
  for (std::uint64_t i = 0; i < 40; ++i) ASSERT_TRUE(writer.add(user(i), i));
  EXPECT_TRUE(writer.close(10s));
  EXPECT_EQ(readded + refusedFull, 40u);
  EXPECT_EQ(outcomes.load(), 40u + readded.load());
  EXPECT_EQ(table.size(), 40u + readded.load());
}

TEST(BulkWriter, DeleteWriterDeletesByKey) {
  std::mutex m;
  std::vector<std::string> urls;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    std::lock_guard lk(m);
    urls.push_back(req.url);
    // PostgREST answers a DELETE with return=representation&select=id: the deleted keys.
    json rows = json::array();
    for (int id : {1, 2, 3}) {
      if (req.url.find(std::to_string(id)) != std::string::npos) rows.push_back({{"id", id}});
    }
    return status(200, rows.dump(), {{"Content-Range", "*/" + std::to_string(rows.size())}});
  });
  auto client = fakeClient(fake);
  Outcomes seen;
  auto writer = client.from("users").bulkWriter({.operation = WriterOperation::Delete, .linger = 1ms}, seen.callback());
  for (std::uint64_t id : {1, 2, 3, 7}) ASSERT_TRUE(writer.add(json(id), id));
  writer.flush().get();
  std::lock_guard lk(seen.m);
  for (std::uint64_t id : {1, 2, 3}) EXPECT_EQ(seen.byContext[id].front().outcome, RowOutcome::Written) << id;
  ASSERT_EQ(seen.byContext[7].size(), 1u);
  EXPECT_EQ(seen.byContext[7].front().outcome, RowOutcome::Failed);
  ASSERT_TRUE(seen.byContext[7].front().error);
  EXPECT_EQ(seen.byContext[7].front().error->kind, BulkErrorKind::NotFound);
}

TEST(BulkWriter, DestructorClosesAndDeliversEverything) {
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return tableAnswer(table, req); });
  auto client = fakeClient(fake);
  Outcomes seen;
  {
    auto writer = client.from("users").bulkWriter({.linger = 10s}, seen.callback());
    for (std::uint64_t i = 0; i < 7; ++i) ASSERT_TRUE(writer.add(user(i), i));
  }
  seen.expectExactlyOnce(7);
  EXPECT_EQ(table.size(), 7u);
}

// ---------------------------------------------------------------- async forms of the bulk calls

TEST(BulkAsync, FuturesAndCallbacksOnABoundedPool) {
  FakeTable table;
  std::mutex m;
  std::set<std::thread::id> threads;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    {
      std::lock_guard lk(m);
      threads.insert(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(1ms);
    return tableAnswer(table, req);
  });
  auto client = fakeClient(fake);
  auto users = client.from("users");
  std::vector<std::future<BulkResult<json>>> futures;
  constexpr std::size_t kCalls = 12, kRows = 30;
  for (std::size_t c = 0; c < kCalls; ++c) {
    std::vector<json> rows;
    for (std::size_t i = 0; i < kRows; ++i) rows.push_back(user(c * kRows + i));
    futures.push_back(users.bulkInsertAsync(std::move(rows), {.batchSize = 10, .concurrency = 2}));
  }
  std::mutex doneMutex;
  std::condition_variable doneCv;
  std::optional<BulkResult<json>> viaCallback;
  users.bulkUpsertAsync(std::vector<json>{user(5000), user(5001)}, {.conflictColumns = {"email"}},
                        [&](BulkResult<json> r, std::exception_ptr e) {
                          EXPECT_FALSE(e);
                          std::lock_guard lk(doneMutex);
                          viaCallback = std::move(r);
                          doneCv.notify_all();
                        });
  for (auto& f : futures) {
    auto r = f.get();
    expectAccounted(r, kRows);
    EXPECT_EQ(r.successful, kRows);
  }
  {
    std::unique_lock lk(doneMutex);
    ASSERT_TRUE(doneCv.wait_for(lk, 5s, [&] { return viaCallback.has_value(); }));
    EXPECT_EQ(viaCallback->successful, 2u);
  }
  EXPECT_EQ(table.size(), kCalls * kRows + 2);
  std::lock_guard lk(m);
  EXPECT_LE(threads.size(), kAsyncThreads) << "async calls run on a bounded pool, not a thread per call";
}

TEST(BulkAsync, ExceptionsGoToTheFutureAndInvalidSettingsThrowAtTheCall) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return created(0); });
  auto client = fakeClient(fake);
  auto users = client.from("users");
  EXPECT_THROW(users.bulkInsertAsync(std::vector<json>{user(1)}, {.batchSize = 0}), std::invalid_argument);
  EXPECT_THROW(users.bulkDeleteAsync(std::vector<json>{json(1)}, {.concurrency = 0}), std::invalid_argument);
  auto f =
      users.bulkInsertAsync(std::vector<json>{user(1)},
                            {.onProgress = [](const BulkProgress&) { throw std::runtime_error("from onProgress"); }});
  EXPECT_THROW(f.get(), std::runtime_error) << "what the blocking call throws, the future holds";
  EXPECT_EQ(fake->count(), 1u);
}

TEST(BulkAsync, StopTokenCancelsAnAsyncCall) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return stalled(); });
  auto client = fakeClient(fake);
  std::stop_source stop;
  std::vector<json> rows;
  for (std::size_t i = 0; i < 20; ++i) rows.push_back(user(i));
  auto f = client.from("users").bulkInsertAsync(std::move(rows),
                                                {.batchSize = 10, .concurrency = 1, .stopToken = stop.get_token()});
  std::this_thread::sleep_for(50ms);
  stop.request_stop();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto r = f.get();
  EXPECT_TRUE(r.cancelled);
  expectAccounted(r, 20);
}

// The writer's retry fields left unset come from the client's bulkDefaults.retry (src/options.cpp,
// the one place options are resolved), a field set on the writer wins.
TEST(BulkWriter, RetryFieldsLeftUnsetComeFromTheClientsDefaults) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return pgError(503, "PGRST001", "Database client error", {}, {{"Retry-After", "0"}});
  });
  ClientOptions o;
  o.bulkDefaults.retry = {
      .maxAttempts = 2, .initialBackoff = std::chrono::milliseconds(1), .retryBudget = std::chrono::milliseconds(0)};
  auto client = fakeClient(fake, o);
  {
    Outcomes seen;
    auto writer = client.from("users").bulkWriter({.linger = 1ms}, seen.callback());
    ASSERT_TRUE(writer.add(user(1), 1));
    writer.flush().get();
    EXPECT_EQ(fake->count(), 2u) << "the client's maxAttempts";
  }
  {
    Outcomes seen;
    auto writer = client.from("users").bulkWriter({.linger = 1ms, .retry = {.maxAttempts = 3}}, seen.callback());
    ASSERT_TRUE(writer.add(user(2), 2));
    writer.flush().get();
    EXPECT_EQ(fake->count(), 5u) << "the writer's maxAttempts, the client's other fields";
  }
  EXPECT_THROW(client.from("users").bulkWriter({.retry = {.maxAttempts = 0}}), std::invalid_argument);
}

// ---------------------------------------------------------------- how many batches in flight

namespace {

// The first answer to a request: a 503 (PostgREST without a database connection).
std::optional<HttpResponse> refusedOnce(const HttpRequest&, int attempt) {
  if (attempt == 1) return pgError(503, "PGRST001");
  return std::nullopt;
}

// A writer whose every batch is refused by @p overload (nullopt: written) until it is written;
// returns its concurrency after 40 batches, with every row checked written once.
std::size_t concurrencyAfterOverload(std::optional<std::size_t> maxInFlight, BulkDefaults defaults = {},
                                     std::optional<HttpResponse> (*overload)(const HttpRequest&, int) = refusedOnce) {
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int attempt) {
    if (auto refused = overload(req, attempt)) return *refused;
    return tableAnswer(table, req);
  });
  auto client = fakeClient(fake, {.bulkDefaults = defaults});
  Outcomes seen;
  auto writer = client.from("users").bulkWriter({.maxBatchRows = 10,
                                                 .linger = 1ms,
                                                 .maxInFlight = maxInFlight,
                                                 .retry = {.initialBackoff = 1ms, .maxBackoff = 2ms}},
                                                seen.callback());
  const std::size_t start = writer.stats().concurrency;
  EXPECT_EQ(start, maxInFlight.value_or(defaults.concurrency.value_or(kDefaultConcurrency)));
  for (std::size_t i = 0; i < 400; ++i) EXPECT_TRUE(writer.add(user(i), i).accepted());
  writer.flush().get();
  seen.expectExactlyOnce(400);
  EXPECT_EQ(seen.kinds()[RowOutcome::Written], 400u);
  EXPECT_EQ(table.size(), 400u);
  return writer.stats().concurrency;
}

}  // namespace

TEST(BulkWriter, UnsetMaxInFlightAdaptsAndOverloadLowersIt) {
  EXPECT_LT(concurrencyAfterOverload(std::nullopt), kDefaultConcurrency) << "every batch met a 503 first";
}

// A statement timeout is split, not retried: the writer takes it as overload all the same. Every
// batch of more than 5 rows is cancelled by the database's statement_timeout.
TEST(BulkWriter, StatementTimeoutsLowerAnAdaptiveLimit) {
  auto timedOut = [](const HttpRequest& req, int) -> std::optional<HttpResponse> {
    if (nlohmann::json::parse(req.body).size() > 5) {
      return pgError(500, "57014", "canceling statement due to statement timeout");
    }
    return std::nullopt;
  };
  EXPECT_LT(concurrencyAfterOverload(std::nullopt, {}, timedOut), kDefaultConcurrency);
  EXPECT_EQ(concurrencyAfterOverload(3, {}, timedOut), 3u) << "a chosen maxInFlight is kept";
}

TEST(BulkWriter, AChosenMaxInFlightOrClientConcurrencyIsKept) {
  EXPECT_EQ(concurrencyAfterOverload(3), 3u);
  EXPECT_EQ(concurrencyAfterOverload(std::nullopt, {.concurrency = 2}), 2u);
  EXPECT_EQ(concurrencyAfterOverload(5, {.concurrency = 2}), 5u) << "the writer's own option first";
}
