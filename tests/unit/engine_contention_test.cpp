// SPDX-License-Identifier: MIT
// The engine against contention and outages (issues #20, #13.9, #13.10, #22.5), with the fake
// transport and, where time matters, a fake clock (nothing really sleeps): rows of a batch are
// sent in key order; deadlocks/serialization failures are retried on their own time budget and
// never isolated; failures that were not executed are retried for retryBudget; a stop ends a
// backoff at once; a refused column fails the rows carrying it together.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <stop_token>
#include <string>
#include <thread>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A clock that moves only when the engine sleeps.
struct FakeClock {
  Clock::time_point now = Clock::time_point{} + 1000h;
  void install(detail::EngineSettings& s) {
    s.clock = [this] { return now; };
    s.sleep = [this](std::chrono::milliseconds d) { now += d; };
  }
};

// Rows {"id": i, "v": "x"} keyed by id (as text), sent as a JSON array POST.
class KeyedOp : public detail::BulkOperation {
 public:
  explicit KeyedOp(std::vector<json> rows) : rows_(std::move(rows)) {}
  bool nextRow(detail::WorkRow& row) override {
    if (next_ >= rows_.size()) return false;
    row.index = next_;
    row.data = rows_[next_].dump();
    row.key = rows_[next_].contains("id") ? rows_[next_]["id"].dump() : std::string();
    row.size = row.data.size() + 1;
    ++next_;
    return true;
  }
  std::optional<std::size_t> totalRows() const override { return rows_.size(); }
  std::size_t maxBytes() const override { return 1 << 20; }
  HttpRequest request(const detail::Work& work) const override {
    HttpRequest r;
    r.method = "POST";
    r.url = "http://fake.test/t";
    r.body = "[";
    for (std::size_t i = 0; i < work.rows.size(); ++i) r.body += (i ? "," : "") + work.rows[i].data;
    r.body += "]";
    return r;
  }
  void accept(const detail::Work& work, const HttpResponse&, detail::Outcome& out) const override {
    out.successful = work.rows.size();
  }
  bool idempotent() const override { return true; }
  bool isolatable(const detail::Work&) const override { return true; }

 private:
  std::vector<json> rows_;
  std::size_t next_ = 0;
};

std::vector<json> keyedRows(std::size_t n) {
  std::vector<json> rows;
  for (std::size_t i = 0; i < n; ++i) rows.push_back({{"id", static_cast<int>(i)}, {"v", "x"}});
  return rows;
}

detail::EngineSettings settings(std::size_t batchSize = 100) {
  detail::EngineSettings s;
  s.batchSize = batchSize;
  s.concurrency = 4;
  return s;
}

}  // namespace

// ---------------------------------------------------------------- lock ordering (issue #20)

TEST(EngineLockOrder, UpsertRowsOfABatchAreSentInKeyOrderAndAccountedByInputIndex) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    auto body = json::parse(req.body);
    return status(201, body.dump(), {{"Content-Range", "*/" + std::to_string(body.size())}});  // representation
  });
  auto client = fakeClient(fake);
  std::vector<json> rows;
  for (int i = 0; i < 40; ++i)
    rows.push_back({{"email", "e" + std::to_string(100 + (i * 37) % 40) + "@x"}, {"name", i}});
  auto r = client.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = 10, .returning = true});
  expectAccounted(r, rows.size());
  EXPECT_EQ(r.successful, 40u);
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 4u);
  std::multiset<std::string> sent;
  for (const auto& q : reqs) {
    auto emails = emailsOf(q);
    EXPECT_TRUE(std::is_sorted(emails.begin(), emails.end())) << q.body();
    sent.insert(emails.begin(), emails.end());
  }
  // The same batches as before: rows 0-9, 10-19... (only their order inside a request changed).
  for (const auto& q : reqs) {
    std::set<int> names;
    for (const auto& row : q.json()) names.insert(row["name"].get<int>());
    EXPECT_EQ(*names.rbegin() - *names.begin(), 9) << q.body();
  }
  EXPECT_EQ(sent.size(), 40u);
  // Returned rows mapped 1:1 come back in input order.
  ASSERT_EQ(r.data.size(), 40u);
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(r.data[i]["name"], rows[i]["name"]) << i;
}

TEST(EngineLockOrder, FailedRowsKeepTheirInputIndexes) {
  FakeTable table("email");
  table.seed({{"email", "k07"}, {"name", "existing"}});
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return table.post(req); });
  auto client = fakeClient(fake);
  std::vector<json> rows;
  for (int i = 9; i >= 0; --i) rows.push_back({{"email", "k0" + std::to_string(i)}, {"name", "n"}});
  // conflictColumns gives plain inserts a key: sorted too. k07 (input index 2) is a duplicate.
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 10, .conflictColumns = {"email"}});
  expectAccounted(r, 10);
  EXPECT_EQ(r.successful, 9u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{2});
  auto first = fake->requests().front();
  auto emails = emailsOf(first);
  EXPECT_TRUE(std::is_sorted(emails.begin(), emails.end())) << first.body();
}

TEST(EngineLockOrder, RowsWithoutAKeyKeepTheirPlaces) {
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  std::vector<json> rows = {{{"id", 5}}, {{"v", "a"}}, {{"id", 3}}, {{"v", "b"}}, {{"id", 1}}};
  KeyedOp op(rows);
  auto r = detail::runBulk(*fake, op, settings(10));
  EXPECT_EQ(r.successful, 5u);
  ASSERT_EQ(fake->count(), 1u);
  EXPECT_EQ(fake->requests()[0].json(), json::parse(R"([{"id":1},{"v":"a"},{"id":3},{"v":"b"},{"id":5}])"));
}

TEST(EngineLockOrder, GroupedUpdateAndDeleteSendTheirKeysInKeyOrder) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    RecordedRequest rec;
    rec.request = req;
    auto filter = rec.param("k").value_or("");
    std::size_t n = filter.empty() ? 0 : static_cast<std::size_t>(std::count(filter.begin(), filter.end(), ',')) + 1;
    json out = json::array();
    // Answer the matched keys (the server's scan order: reversed here).
    auto list = filter.substr(4, filter.size() - 5);
    std::vector<std::string> keys;
    for (std::size_t start = 0; start <= list.size();) {
      auto comma = list.find(',', start);
      keys.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    std::reverse(keys.begin(), keys.end());
    for (auto& k : keys) {
      if (k.size() >= 2 && k.front() == '"') k = k.substr(1, k.size() - 2);
      out.push_back({{"k", k}});
    }
    return status(200, out.dump(), {{"Content-Range", "0-" + std::to_string(n - 1) + "/" + std::to_string(n)}});
  });
  auto client = fakeClient(fake);
  std::vector<json> updates;
  std::vector<json> keys;
  for (int i = 9; i >= 0; --i) {
    updates.push_back({{"k", "k" + std::to_string(i)}, {"v", "same"}});
    keys.push_back("k" + std::to_string(i));
  }
  auto u = client.from("t").bulkUpdate(updates, {.matchColumn = "k", .batchSize = 5});
  expectAccounted(u, 10);
  EXPECT_EQ(u.successful, 10u);
  auto d = client.from("t").bulkDelete(keys, {.matchColumn = "k", .batchSize = 5});
  expectAccounted(d, 10);
  EXPECT_EQ(d.successful, 10u);
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 4u);
  for (const auto& q : reqs) {
    auto filter = q.param("k").value_or("");
    ASSERT_EQ(filter.rfind("in.(", 0), 0u) << filter;
    auto list = filter.substr(4, filter.size() - 5);
    std::vector<std::string> ks;
    for (std::size_t start = 0;;) {
      auto comma = list.find(',', start);
      ks.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    EXPECT_TRUE(std::is_sorted(ks.begin(), ks.end())) << q.method() << " " << filter;
  }
}

// ---------------------------------------------------------------- transient conflicts (issue #20)

TEST(EngineConflict, DeadlocksAreRetriedBeyondMaxAttemptsWithinTheBudgetAndNeverSplit) {
  FakeClock clock;
  const auto until = clock.now + 20s;  // a burst of contention of 20 s
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    if (clock.now < until) return pgError(500, "40P01", "deadlock detected", "Process 1 waits for ShareLock");
    return created(json::parse(req.body).size());
  });
  KeyedOp op(keyedRows(1000));
  auto s = settings();
  clock.install(s);
  auto r = detail::runBulk(*fake, op, s);
  expectAccounted(r, 1000);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.successful, 1000u);
  EXPECT_GT(r.retries, 10u * 5u) << "more attempts than maxAttempts per batch";
  for (const auto& q : fake->requests()) EXPECT_EQ(rowsIn(q), 100u) << "a conflict never splits a batch";
}

TEST(EngineConflict, PersistentDeadlocksFailWithAMessageNamingTheContention) {
  FakeClock clock;
  const auto start = clock.now;
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest&, int) { return pgError(500, "40P01", "deadlock detected"); });
  KeyedOp op(keyedRows(200));
  auto s = settings();
  s.retry.conflictBudget = 10s;
  clock.install(s);
  auto r = detail::runBulk(*fake, op, s);
  expectAccounted(r, 200);
  EXPECT_EQ(r.failed, 200u);
  ASSERT_EQ(r.errors.size(), 2u) << "one error per batch: not isolated";
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.indexes.size(), 100u);
    EXPECT_EQ(e.code, "40P01");
    EXPECT_NE(e.message.find("deadlock/serialization conflict with another writer persisted for 1"), std::string::npos)
        << e.message;
    EXPECT_NE(e.message.find(std::to_string(e.attempts) + " attempts"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("deadlock detected"), std::string::npos) << e.message;
    EXPECT_GT(e.attempts, 5);
  }
  EXPECT_GE(clock.now - start, 10s);
  EXPECT_LT(clock.now - start, 12s);
  for (const auto& q : fake->requests()) EXPECT_EQ(rowsIn(q), 100u);
}

TEST(EngineConflict, SerializationFailuresToo) {
  FakeClock clock;
  const auto until = clock.now + 3s;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    if (clock.now < until) return pgError(500, "40001", "could not serialize access due to concurrent update");
    return created(json::parse(req.body).size());
  });
  KeyedOp op(keyedRows(300));
  auto s = settings();
  clock.install(s);
  auto r = detail::runBulk(*fake, op, s);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.successful, 300u);
}

// ---------------------------------------------------------------- outages (issue #13.9)

TEST(EngineOutage, ConnectionRefusedForThreeSecondsIsRiddenOutByDefault) {
  FakeClock clock;
  const auto until = clock.now + 3s;  // PostgREST restarting
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    if (clock.now < until) return transportFailure(TransportErrorKind::Connect, false);
    return created(json::parse(req.body).size());
  });
  KeyedOp op(keyedRows(1000));
  auto s = settings();  // default RetryPolicy
  clock.install(s);
  auto r = detail::runBulk(*fake, op, s);
  expectAccounted(r, 1000);
  EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(r.successful, 1000u);
  EXPECT_GE(clock.now - (until - 3s), 3s);
}

TEST(EngineOutage, Status503AndNoPoolConnectionAreRiddenOutToo) {
  for (const auto& failure :
       {pgError(503, "PGRST001", "Database client error"), pgError(504, "PGRST003"), status(429)}) {
    FakeClock clock;
    const auto until = clock.now + 5s;
    auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
      if (clock.now < until) return failure;
      return created(json::parse(req.body).size());
    });
    KeyedOp op(keyedRows(200));
    auto s = settings();
    clock.install(s);
    auto r = detail::runBulk(*fake, op, s);
    SCOPED_TRACE(failure.status);
    EXPECT_EQ(r.failed, 0u);
    EXPECT_EQ(r.successful, 200u);
  }
}

TEST(EngineOutage, TheBudgetEndsAndTheRowsFail) {
  FakeClock clock;
  const auto start = clock.now;
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest&, int) { return transportFailure(TransportErrorKind::Connect, false); });
  KeyedOp op(keyedRows(100));
  auto s = settings();
  s.retry.retryBudget = 8s;
  clock.install(s);
  auto r = detail::runBulk(*fake, op, s);
  expectAccounted(r, 100);
  EXPECT_EQ(r.failed, 100u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::Transport);
  EXPECT_FALSE(r.errors[0].outcomeUnknown);
  EXPECT_GT(r.errors[0].attempts, 5);
  EXPECT_GE(clock.now - start, 8s);
  EXPECT_LT(clock.now - start, 8s + s.retry.maxBackoff + 1s);
}

TEST(EngineOutage, MaxAttemptsOneRetriesNothingAndUnknownOutcomesKeepTheAttemptCap) {
  FakeClock clock;
  auto refused = std::make_shared<FakeTransport>(
      [](const HttpRequest&, int) { return transportFailure(TransportErrorKind::Connect, false); });
  KeyedOp op(keyedRows(10));
  auto s = settings();
  s.retry.maxAttempts = 1;
  clock.install(s);
  auto r = detail::runBulk(*refused, op, s);
  EXPECT_EQ(refused->count(), 1u);
  EXPECT_EQ(r.failed, 10u);

  auto unknown = std::make_shared<FakeTransport>(
      [](const HttpRequest&, int) { return transportFailure(TransportErrorKind::Timeout, true); });
  KeyedOp op2(keyedRows(10));
  auto s2 = settings();
  clock.install(s2);
  auto r2 = detail::runBulk(*unknown, op2, s2);
  EXPECT_EQ(unknown->count(), 5u) << "an unknown outcome is retried maxAttempts times, not for a time budget";
  ASSERT_EQ(r2.errors.size(), 1u);
  EXPECT_TRUE(r2.errors[0].outcomeUnknown);
}

TEST(EngineOutage, AStopEndsALongRetryAfterPromptly) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return pgError(503, "PGRST001", "Database client error", {}, {{"Retry-After", "30"}});
  });
  auto client = fakeClient(fake);
  auto rows = userRows(20);
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  const auto t0 = Clock::now();
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 5, .stopToken = stop.get_token()});
  const auto took = Clock::now() - t0;
  stopper.join();
  EXPECT_LT(took, 2s) << "slept through Retry-After after the stop";
  EXPECT_TRUE(r.cancelled);
  expectAccounted(r, 20);
  EXPECT_EQ(r.notProcessed, 20u) << "not executed: not processed";
  EXPECT_EQ(r.failed, 0u);

  // The deadline too.
  const auto t1 = Clock::now();
  auto r2 = client.from("users").bulkInsert(rows, {.batchSize = 5, .deadline = Clock::now() + 300ms});
  EXPECT_LT(Clock::now() - t1, 2s);
  EXPECT_TRUE(r2.cancelled);
  EXPECT_EQ(r2.notProcessed, 20u);
}

// ---------------------------------------------------------------- refused columns (#13.10, #22.5)

TEST(EngineColumns, RowsCarryingAnUnknownColumnFailTogetherAndTheOthersAreWritten) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    auto body = json::parse(req.body);
    for (const auto& row : body) {
      if (row.contains("bogus")) return pgError(400, "PGRST204", "Column 'bogus' of relation 'users' does not exist");
    }
    return created(body.size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(50);
  for (std::size_t i : {4u, 17u, 18u, 49u}) rows[i]["bogus"] = 1;
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 50});
  expectAccounted(r, 50);
  EXPECT_EQ(r.successful, 46u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, (std::vector<std::size_t>{4, 17, 18, 49}));
  EXPECT_EQ(r.errors[0].code, "PGRST204");
  EXPECT_EQ(fake->count(), 2u);
}

TEST(EngineColumns, EveryRowCarryingItFailsWithoutBisection) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return pgError(400, "PGRST204", "Could not find the 'bogus' column of 'users' in the schema cache");
  });
  auto client = fakeClient(fake);
  auto rows = userRows(5000);
  for (auto& row : rows) row["bogus"] = 1;
  auto r = client.from("users").bulkInsert(rows);
  expectAccounted(r, 5000);
  EXPECT_EQ(r.failed, 5000u);
  EXPECT_EQ(fake->count(), 5u) << "one request per batch";
}

TEST(EngineColumns, GeneratedAlwaysValueFailsOnlyItsRow) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    auto body = json::parse(req.body);
    for (const auto& row : body) {
      if (row.contains("id"))
        return pgError(400, "428C9", "cannot insert a non-DEFAULT value into column \"id\"",
                       "Column \"id\" is an identity column defined as GENERATED ALWAYS.");
    }
    return created(body.size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(1000);
  rows[613]["id"] = 5;
  auto r = client.from("users").bulkInsert(rows);
  expectAccounted(r, 1000);
  EXPECT_EQ(r.successful, 999u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{613});
  EXPECT_EQ(fake->count(), 2u);
}

TEST(EngineColumns, AnUnexpectedWordingFallsBackToBisection) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    auto body = json::parse(req.body);
    for (const auto& row : body) {
      if (row.contains("bogus")) return pgError(400, "PGRST204", "some future wording");
    }
    return created(body.size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(8);
  rows[5]["bogus"] = 1;
  auto r = client.from("users").bulkInsert(rows);
  expectAccounted(r, 8);
  EXPECT_EQ(r.successful, 7u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{5});
}
