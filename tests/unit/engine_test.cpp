// SPDX-License-Identifier: MIT
// The bulk engine end to end through the public bulk calls and a fake transport: batch cutting,
// key ordering, retries, isolation, concurrency, progress, cancellation, exception safety.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

RetryPolicy fastRetry(int maxAttempts = 5) {
  RetryPolicy p;
  p.maxAttempts = maxAttempts;
  p.initialBackoff = 1ms;
  p.maxBackoff = 2ms;
  // Attempts alone (the time budgets are tested with a fake clock in engine_contention_test.cpp).
  p.retryBudget = 0ms;
  p.conflictBudget = 0ms;
  return p;
}

std::size_t rowsIn(const RecordedRequest& r) {
  auto j = r.json();
  return j.is_array() ? j.size() : 0;
}

// A later request holding an email starts only after the earlier one holding it has finished.
void expectKeyHoldersNeverOverlap(const std::vector<RecordedRequest>& reqs) {
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    for (std::size_t j = i + 1; j < reqs.size(); ++j) {
      auto a = emailsOf(reqs[i]), b = emailsOf(reqs[j]);
      bool shared = std::any_of(a.begin(), a.end(), [&](const std::string& k) {
        return std::find(b.begin(), b.end(), k) != b.end();
      });
      if (!shared) continue;
      ASSERT_TRUE(reqs[i].finishedAt.has_value()) << "request " << i;
      EXPECT_GE(reqs[j].startedAt, *reqs[i].finishedAt) << "requests " << i << " and " << j << " overlap";
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- batch cutting

TEST(EngineBatching, ByRowCount) {
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return table.post(req); });
  auto client = fakeClient(fake);
  auto rows = userRows(10);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 3});
  expectAccounted(r, 10);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.successful, 10u);
  EXPECT_EQ(r.batches, 4u);
  EXPECT_EQ(r.requests, 4u);
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 4u);
  std::multiset<std::size_t> sizes;
  std::set<std::string> emails;
  for (const auto& q : reqs) {
    sizes.insert(rowsIn(q));
    for (auto& e : emailsOf(q)) emails.insert(e);
  }
  EXPECT_EQ(sizes, (std::multiset<std::size_t>{3, 3, 3, 1}));
  EXPECT_EQ(emails.size(), 10u);
  EXPECT_EQ(table.size(), 10u);
}

TEST(EngineBatching, ByBytesNeverOverTheLimit) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto client = fakeClient(fake);
  std::vector<json> rows;
  for (int i = 0; i < 12; ++i) rows.push_back({{"pad", std::string(40, 'a' + i)}});
  const std::size_t rowText = rows[0].dump().size();
  // Exactly three rows' worth of "row + separator": the body of three rows is one byte more.
  const std::size_t limit = 3 * (rowText + 1);
  auto r = client.from("t").bulkInsert(rows, {.maxBatchBytes = limit});
  expectAccounted(r, 12);
  EXPECT_EQ(r.successful, 12u);
  for (const auto& q : fake->requests()) {
    EXPECT_LE(q.body().size(), limit) << "request body over maxBatchBytes (" << rowsIn(q) << " rows)";
    EXPECT_GE(rowsIn(q), 2u) << "the limit leaves room for at least two rows";
  }
}

TEST(EngineBatching, RowLargerThanTheLimitIsSentAlone) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  fake->setOrdered(true);
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"v", "a"}}, {{"v", "b"}}, {{"v", std::string(500, 'x')}}, {{"v", "c"}}, {{"v", "d"}}};
  auto r = client.from("t").bulkInsert(rows, {.maxBatchBytes = 100, .concurrency = 1});
  expectAccounted(r, 5);
  EXPECT_EQ(r.successful, 5u);
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].json(), json::array({rows[0], rows[1]}));
  EXPECT_EQ(reqs[1].json(), json::array({rows[2]}));
  EXPECT_EQ(reqs[2].json(), json::array({rows[3], rows[4]}));
}

TEST(EngineBatching, EmptyInputSendsNothing) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = fakeClient(fake);
  std::vector<json> none;
  std::size_t progressCalls = 0;
  auto r = client.from("t").bulkInsert(none, {.onProgress = [&](const BulkProgress&) { ++progressCalls; }});
  EXPECT_EQ(fake->count(), 0u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.batches, 0u);
  EXPECT_FALSE(r.cancelled);
  expectAccounted(r, 0);
  auto d = client.from("t").bulkDelete(none);
  auto u = client.from("t").bulkUpdate(none);
  EXPECT_TRUE(d.ok());
  EXPECT_TRUE(u.ok());
  EXPECT_EQ(fake->count(), 0u);
}

TEST(EngineBatching, InvalidSettingsThrowBeforeAnyRequest) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = fakeClient(fake);
  auto rows = userRows(3);
  auto t = client.from("users");
  EXPECT_THROW(t.bulkInsert(rows, {.batchSize = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkInsert(rows, {.concurrency = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkInsert(rows, {.maxBatchBytes = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkInsert(rows, {.retry = {.maxAttempts = 0}}), std::invalid_argument);
  EXPECT_THROW(t.bulkInsert(rows, {.retry = {.multiplier = 0.5}}), std::invalid_argument);
  EXPECT_THROW(t.bulkInsert(rows, {.retry = {.initialBackoff = -1ms}}), std::invalid_argument);
  EXPECT_THROW(t.bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkUpsert(rows, {.conflictColumns = {"email"}, .concurrency = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkUpdate(rows, {.matchColumn = "email", .batchSize = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkUpdate(rows, {.matchColumn = "email", .concurrency = 0}), std::invalid_argument);
  std::vector<long long> ids = {1, 2};
  EXPECT_THROW(t.bulkDelete(ids, {.batchSize = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkDelete(ids, {.concurrency = 0}), std::invalid_argument);
  EXPECT_EQ(fake->count(), 0u);
}

// ---------------------------------------------------------------- repeated keys

TEST(EngineKeys, RepeatedConflictKeysAreNeverConcurrentAndKeepInputOrder) {
  FakeTable table("email");
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    std::this_thread::sleep_for(1ms);
    return table.post(req);
  });
  auto client = fakeClient(fake);
  std::vector<json> rows;
  const std::vector<std::string> keys = {"a", "b", "a", "c", "a", "d", "e", "b", "f", "a"};
  for (std::size_t i = 0; i < keys.size(); ++i) {
    rows.push_back({{"email", keys[i]}, {"name", "v" + std::to_string(i)}});
  }
  auto r = client.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = 3, .concurrency = 4});
  expectAccounted(r, rows.size());
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].message);
  auto reqs = fake->requests();
  // No request holds a key twice (PostgREST would answer 21000).
  for (const auto& q : reqs) {
    auto emails = emailsOf(q);
    EXPECT_EQ(std::set<std::string>(emails.begin(), emails.end()).size(), emails.size()) << q.body();
  }
  // A later request holding a key starts only after the earlier one holding it has finished.
  expectKeyHoldersNeverOverlap(reqs);
  // Input order kept: the last row of each key wins.
  EXPECT_EQ(table.row("a")["name"], "v9");
  EXPECT_EQ(table.row("b")["name"], "v7");
  EXPECT_EQ(table.size(), 6u);
}

TEST(EngineKeys, RetryOfAnEarlierBatchIsNotBlockedByALaterBatchWithTheSameKey) {
  // The first batch of key "a" is answered 503 once; the second batch of "a" must wait for it and
  // the retry must still be sent (no deadlock), in input order.
  FakeTable table("email");
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int attempt) {
    if (attempt == 1 && req.body.find("\"first\"") != std::string::npos) return pgError(503, "PGRST001");
    return table.post(req);
  });
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"email", "a"}, {"name", "first"}}, {{"email", "a"}, {"name", "second"}}};
  auto r = client.from("users").bulkUpsert(
      rows, {.conflictColumns = {"email"}, .retry = fastRetry(), .deadline = Clock::now() + 5s});
  EXPECT_FALSE(r.cancelled) << "the run stalled until the deadline";
  expectAccounted(r, 2);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.requests, 3u);
  EXPECT_EQ(r.retries, 1u);
  EXPECT_EQ(table.row("a")["name"], "second");
}

// ---------------------------------------------------------------- upsert column sets

namespace {

// The column set of every row of a request is the same (an upsert never mixes them).
std::set<std::string> columnSetOf(const json& row) {
  std::set<std::string> out;
  for (auto it = row.begin(); it != row.end(); ++it) out.insert(it.key());
  return out;
}

void expectOneColumnSetPerRequest(const std::vector<RecordedRequest>& reqs) {
  for (const auto& q : reqs) {
    auto rows = q.json();
    for (const auto& row : rows) EXPECT_EQ(columnSetOf(row), columnSetOf(rows.front())) << q.body();
  }
}

// Upserts @p rows by email into a fake table, checks that every row landed once and that no
// request mixes column sets, and returns the requests.
std::vector<RecordedRequest> upsertByEmail(const std::vector<json>& rows, std::size_t batchSize) {
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return table.post(req); });
  auto client = fakeClient(fake);
  auto r = client.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = batchSize});
  expectAccounted(r, rows.size());
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(table.size(), rows.size());
  auto reqs = fake->requests();
  expectOneColumnSetPerRequest(reqs);
  std::size_t sent = 0;
  for (const auto& q : reqs) sent += rowsIn(q);
  EXPECT_EQ(sent, rows.size());
  return reqs;
}

}  // namespace

// Rows whose optional columns come and go (struct rows with std::optional members) still fill
// batches: each column set is batched on its own, not cut at every change.
TEST(EngineGroups, InterleavedColumnSetsStillFillBatches) {
  std::vector<json> rows;
  for (int i = 0; i < 1000; ++i) {
    json row = {{"email", "u" + std::to_string(i)}, {"name", "n" + std::to_string(i)}};
    if (i % 2) row["note"] = "odd";
    if (i % 3 == 0) row["role"] = "admin";
    rows.push_back(std::move(row));
  }
  // 4 column sets in a repeating pattern; at most 100 rows are held back: batches of ~25 rows
  // or more (the old cut at every change sent 1000 one- or two-row requests).
  EXPECT_LE(upsertByEmail(rows, 100).size(), 60u);
}

// A key that appears under two column sets is still written in input order: the later row waits.
TEST(EngineGroups, SameKeyUnderTwoColumnSetsKeepsInputOrder) {
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    std::this_thread::sleep_for(1ms);
    return table.post(req);
  });
  auto client = fakeClient(fake);
  std::vector<json> rows;
  for (int round = 0; round < 5; ++round) {
    for (int k = 0; k < 20; ++k) {
      json row = {{"email", "k" + std::to_string(k)}, {"name", "r" + std::to_string(round)}};
      if ((round + k) % 2) row["note"] = "n" + std::to_string(round);
      rows.push_back(std::move(row));
    }
  }
  auto r = client.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = 8, .concurrency = 4});
  expectAccounted(r, rows.size());
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].message);
  auto reqs = fake->requests();
  expectOneColumnSetPerRequest(reqs);
  for (int k = 0; k < 20; ++k) EXPECT_EQ(table.row("k" + std::to_string(k))["name"], "r4") << "key k" << k;
  expectKeyHoldersNeverOverlap(reqs);
}

// Every row its own column set: more sets than are held at once still all land, one set per request.
TEST(EngineGroups, ManyColumnSetsAllLand) {
  std::vector<json> rows;
  for (int i = 0; i < 300; ++i) {
    rows.push_back({{"email", "e" + std::to_string(i)}, {"name", "x"}, {"c" + std::to_string(i % 150), i}});
  }
  // 150 column sets, two rows each, more than the 64 held at once.
  EXPECT_LE(upsertByEmail(rows, 1000).size(), 300u);
}

// A cancelled call counts the rows held back in pending batches as not processed.
TEST(EngineGroups, HeldBackRowsOfACancelledCallAreNotProcessed) {
  std::stop_source stop;
  FakeTable table;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    stop.request_stop();
    return table.post(req);
  });
  auto client = fakeClient(fake);
  std::vector<json> rows;
  for (int i = 0; i < 400; ++i) {
    json row = {{"email", "s" + std::to_string(i)}, {"name", "x"}};
    if (i % 2) row["note"] = "y";
    rows.push_back(std::move(row));
  }
  auto r = client.from("users").bulkUpsert(
      rows, {.conflictColumns = {"email"}, .batchSize = 50, .concurrency = 1, .stopToken = stop.get_token()});
  expectAccounted(r, rows.size());
  EXPECT_TRUE(r.cancelled);
  EXPECT_GT(r.notProcessed, 0u);
  EXPECT_EQ(table.size(), r.successful);
}

TEST(EngineKeys, UpdateOfOneKeyTwiceIsAppliedInInputOrder) {
  std::mutex m;
  std::vector<std::string> applied;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    {
      std::lock_guard lock(m);
      applied.push_back(json::parse(req.body).value("status", ""));
    }
    return status(200, R"([{"id":1}])", {{"Content-Range", "0-0/1"}});
  });
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"id", 1}, {"status", "s1"}}, {{"id", 1}, {"status", "s2"}}, {{"id", 1}, {"status", "s3"}}};
  auto r = client.from("users").bulkUpdate(rows, {.concurrency = 4});
  expectAccounted(r, 3);
  EXPECT_EQ(r.successful, 3u);
  EXPECT_EQ(applied, (std::vector<std::string>{"s1", "s2", "s3"}));
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (std::size_t i = 1; i < reqs.size(); ++i) EXPECT_GE(reqs[i].startedAt, *reqs[i - 1].finishedAt);
}

// ---------------------------------------------------------------- retries end to end

struct RetryCase {
  const char* label;
  HttpResponse first;
};

TEST(EngineRetry, NotExecutedFailuresAreRetriedForEveryWrite) {
  const std::vector<RetryCase> cases = {
      {"connect", transportFailure(TransportErrorKind::Connect, false)},
      {"reset before body", transportFailure(TransportErrorKind::Reset, false)},
      {"timeout before body", transportFailure(TransportErrorKind::Timeout, false)},
      {"503 PGRST000", pgError(503, "PGRST000")},
      {"503 PGRST001", pgError(503, "PGRST001")},
      {"503 PGRST002", pgError(503, "PGRST002")},
      {"503 08001", pgError(503, "08001")},
      {"503 53300", pgError(503, "53300")},
      {"504 PGRST003", pgError(504, "PGRST003")},
      {"429", status(429)},
      {"500 40001", pgError(500, "40001")},
      {"500 40P01", pgError(500, "40P01")},
  };
  for (const auto& c : cases) {
    auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int attempt) {
      return attempt == 1 ? c.first : created(json::parse(req.body).size());
    });
    auto client = fakeClient(fake);
    auto rows = userRows(4);
    // A plain insert is not idempotent, and still retried: these failures were not executed.
    auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
    SCOPED_TRACE(c.label);
    expectAccounted(r, 4);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.successful, 4u);
    EXPECT_EQ(r.requests, 2u);
    EXPECT_EQ(r.retries, 1u);
    EXPECT_EQ(fake->count(), 2u);
  }
}

TEST(EngineRetry, FinalFailuresAreNotRetried) {
  const std::vector<RetryCase> cases = {
      {"400 23502", pgError(400, "23502")},  {"409 23505", pgError(409, "23505")},
      {"500 XX000", pgError(500, "XX000")},  {"401 42501", pgError(401, "42501")},
      {"403 42501", pgError(403, "42501")},  {"404 {}", status(404, "{}")},
      {"400 PGRST100", pgError(400, "PGRST100")}, {"400 plain", status(400, "Bad Request")},
  };
  for (const auto& c : cases) {
    auto fake = std::make_shared<FakeTransport>([&](const HttpRequest&, int) { return c.first; });
    auto client = fakeClient(fake);
    auto rows = userRows(1);
    auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
    SCOPED_TRACE(c.label);
    expectAccounted(r, 1);
    EXPECT_EQ(fake->count(), 1u);
    EXPECT_EQ(r.retries, 0u);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].kind, BulkErrorKind::Server);
    EXPECT_EQ(r.errors[0].status, c.first.status);
    EXPECT_EQ(r.errors[0].attempts, 1);
    EXPECT_FALSE(r.errors[0].outcomeUnknown);
    EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{0});
  }
}

TEST(EngineRetry, TooLargeOrTooSlowIsSplit) {
  for (const auto& big : {status(413, "Payload Too Large"), pgError(500, "57014")}) {
    auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
      auto n = json::parse(req.body).size();
      return n > 2 ? big : created(n);
    });
    auto client = fakeClient(fake);
    auto rows = userRows(8);
    auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
    SCOPED_TRACE(big.status);
    expectAccounted(r, 8);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.requests, 1u + 2u + 4u);  // 8 -> 4,4 -> 2,2,2,2
  }
  // A single row that is still too large fails.
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return status(413); });
  auto client = fakeClient(fake);
  auto rows = userRows(2);
  auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
  expectAccounted(r, 2);
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(r.requests, 3u);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].status, 413);
}

TEST(EngineRetry, UnknownOutcomeIsNotRetriedForAPlainInsert) {
  for (auto kind : {TransportErrorKind::Timeout, TransportErrorKind::Reset}) {
    auto fake = std::make_shared<FakeTransport>([&](const HttpRequest&, int) { return transportFailure(kind, true); });
    auto client = fakeClient(fake);
    auto rows = userRows(3);
    auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
    SCOPED_TRACE(toString(kind));
    expectAccounted(r, 3);
    EXPECT_EQ(fake->count(), 1u);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].kind, BulkErrorKind::Transport);
    EXPECT_EQ(r.errors[0].transport, kind);
    EXPECT_TRUE(r.errors[0].outcomeUnknown);
    EXPECT_EQ(r.errors[0].attempts, 1);
    EXPECT_EQ(r.errors[0].indexes, (std::vector<std::size_t>{0, 1, 2}));
    EXPECT_EQ(r.failed, 3u);
  }
  // A proxy's 502 after sending is just as unknown.
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return status(502, "<html>bad gateway</html>"); });
  auto client = fakeClient(fake);
  auto rows = userRows(1);
  auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
  EXPECT_EQ(fake->count(), 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
  EXPECT_EQ(r.errors[0].status, 502);
}

TEST(EngineRetry, UnknownOutcomeIsRetriedForIdempotentWrites) {
  auto unknownOnce = [](const HttpRequest& req, int attempt) -> HttpResponse {
    if (attempt == 1) return transportFailure(TransportErrorKind::Timeout, true);
    if (req.method == "POST") return created(json::parse(req.body).size());
    return status(200, R"([{"id":1},{"id":2}])", {{"Content-Range", "0-1/2"}});
  };
  auto rows = userRows(2);
  std::vector<json> keyed = {{{"id", 1}, {"status", "x"}}, {{"id", 2}, {"status", "x"}}};
  std::vector<long long> ids = {1, 2};
  auto check = [&](const char* label, auto run) {
    auto fake = std::make_shared<FakeTransport>(unknownOnce);
    auto client = fakeClient(fake);
    auto r = run(client);
    SCOPED_TRACE(label);
    expectAccounted(r, 2);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].message);
    EXPECT_EQ(fake->count(), 2u);
    EXPECT_EQ(r.retries, 1u);
  };
  check("insert ignore", [&](Client& c) {
    return c.from("users").bulkInsert(rows, {.onConflict = OnConflict::Ignore, .conflictColumns = {"email"},
                                            .retry = fastRetry()});
  });
  check("insert update", [&](Client& c) {
    return c.from("users").bulkInsert(rows, {.onConflict = OnConflict::Update, .conflictColumns = {"email"},
                                            .retry = fastRetry()});
  });
  check("upsert", [&](Client& c) {
    return c.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .retry = fastRetry()});
  });
  check("update grouped", [&](Client& c) { return c.from("users").bulkUpdate(keyed, {.retry = fastRetry()}); });
  check("update upsert", [&](Client& c) {
    return c.from("users").bulkUpdate(keyed, {.strategy = UpdateStrategy::Upsert, .retry = fastRetry()});
  });
  check("delete", [&](Client& c) { return c.from("users").bulkDelete(ids, {.retry = fastRetry()}); });

  // Turned off: reported as unknown after one attempt.
  auto fake = std::make_shared<FakeTransport>(unknownOnce);
  auto client = fakeClient(fake);
  RetryPolicy noUnknown = fastRetry();
  noUnknown.retryUnknownOutcome = false;
  auto r = client.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .retry = noUnknown});
  EXPECT_EQ(fake->count(), 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
}

TEST(EngineRetry, AttemptCapIsRespectedAndReported) {
  for (int cap : {1, 3}) {
    auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return pgError(503, "PGRST000"); });
    auto client = fakeClient(fake);
    auto rows = userRows(5);
    auto r = client.from("users").bulkInsert(rows, {.batchSize = 5, .retry = fastRetry(cap)});
    SCOPED_TRACE(cap);
    expectAccounted(r, 5);
    EXPECT_EQ(fake->count(), static_cast<std::size_t>(cap));
    EXPECT_EQ(r.requests, static_cast<std::size_t>(cap));
    EXPECT_EQ(r.retries, static_cast<std::size_t>(cap - 1));
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].attempts, cap);
    EXPECT_EQ(r.errors[0].status, 503);
    EXPECT_EQ(r.errors[0].code, "PGRST000");
    EXPECT_FALSE(r.errors[0].outcomeUnknown);
    EXPECT_EQ(r.failed, 5u);
  }
  // Unknown outcome every time: the cap applies, and the result says the rows may be written.
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return transportFailure(TransportErrorKind::Reset, true);
  });
  auto client = fakeClient(fake);
  auto rows = userRows(2);
  auto r = client.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .retry = fastRetry(2)});
  EXPECT_EQ(fake->count(), 2u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].attempts, 2);
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
}

TEST(EngineRetry, RetryAfterIsHonoured) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int attempt) {
    if (attempt == 1) return pgError(503, "PGRST000", "Database connection error", {}, {{"Retry-After", "1"}});
    return created(json::parse(req.body).size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(2);
  auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});  // backoff alone would be ~1 ms
  EXPECT_TRUE(r.ok());
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 2u);
  ASSERT_TRUE(reqs[0].finishedAt.has_value());
  EXPECT_GE(reqs[1].startedAt - *reqs[0].finishedAt, 1000ms) << "retried before Retry-After elapsed";
}

// ---------------------------------------------------------------- isolation

TEST(EngineIsolation, UniqueViolationNamesTheRow) {
  FakeTable table("email");
  table.seed({{"email", "e6@x.io"}, {"name", "existing"}});
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return table.post(req); });
  auto client = fakeClient(fake);
  auto rows = userRows(10);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 10});
  expectAccounted(r, 10);
  EXPECT_EQ(r.successful, 9u);
  EXPECT_EQ(r.failed, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{6});
  EXPECT_EQ(r.errors[0].code, "23505");
  EXPECT_EQ(r.errors[0].status, 409);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::Server);
  EXPECT_EQ(r.errors[0].batchIndex, 0u);
  EXPECT_EQ(r.requests, 2u) << "the row named in details is taken out without bisection";
  EXPECT_EQ(table.size(), 10u);  // 9 new + the seeded one
  EXPECT_EQ(table.row("e6@x.io")["name"], "existing");
}

TEST(EngineIsolation, DuplicateInsideTheInputReportsTheLaterRow) {
  FakeTable table("email");
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return table.post(req); });
  auto client = fakeClient(fake);
  auto rows = userRows(8);
  rows[5]["email"] = rows[2]["email"];
  auto r = client.from("users").bulkInsert(rows);  // no conflict columns: one batch holds both
  expectAccounted(r, 8);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{5});
  EXPECT_EQ(table.row("e2@x.io")["name"], "n2");
  EXPECT_EQ(table.size(), 7u);
}

TEST(EngineIsolation, BisectionFindsRowsWithoutUsableDetails) {
  FakeTable table("email", {"name"});
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return table.post(req); });
  auto client = fakeClient(fake);
  auto rows = userRows(20);
  rows[3]["name"] = nullptr;
  rows[17]["name"] = nullptr;
  rows[18]["name"] = nullptr;
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 10});
  expectAccounted(r, 20);
  EXPECT_EQ(r.successful, 17u);
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{3});
  EXPECT_EQ(r.errors[1].indexes, std::vector<std::size_t>{17});
  EXPECT_EQ(r.errors[2].indexes, std::vector<std::size_t>{18});
  for (const auto& e : r.errors) EXPECT_EQ(e.code, "23502");
  EXPECT_EQ(r.errors[0].batchIndex, 0u);
  EXPECT_EQ(r.errors[1].batchIndex, 1u);
  EXPECT_EQ(table.size(), 17u);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(table.has("e" + std::to_string(i) + "@x.io"), i != 3 && i != 17 && i != 18) << i;
  }
}

TEST(EngineIsolation, OffReportsTheWholeBatch) {
  FakeTable table("email", {"name"});
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return table.post(req); });
  auto client = fakeClient(fake);
  auto rows = userRows(10);
  rows[4]["name"] = nullptr;
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 5, .isolateFailures = false});
  expectAccounted(r, 10);
  EXPECT_EQ(r.requests, 2u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(r.successful, 5u);
  EXPECT_EQ(table.size(), 5u);
}

TEST(EngineIsolation, StopOnErrorReportsTheBatchAndLeavesTheRest) {
  FakeTable table("email", {"name"});
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return table.post(req); });
  fake->setOrdered(true);
  auto client = fakeClient(fake);
  auto rows = userRows(20);
  rows[7]["name"] = nullptr;
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 5, .concurrency = 1, .stopOnError = true});
  expectAccounted(r, 20);
  EXPECT_FALSE(r.cancelled);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.successful, 5u);
  EXPECT_EQ(r.failed, 5u);
  EXPECT_EQ(r.notProcessed, 10u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, (std::vector<std::size_t>{5, 6, 7, 8, 9}));
  EXPECT_EQ(fake->count(), 2u);
  EXPECT_EQ(table.size(), 5u);
}

TEST(EngineIsolation, InvalidRowsAreReportedAndTheOthersSent) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto client = fakeClient(fake);
  auto rows = userRows(10);
  rows[2]["score"] = std::nan("");
  rows[4]["name"] = std::string("bad \xC3\x28 utf8");
  rows[6] = json(5);
  rows[8]["deep"] = {{"x", {1.0, std::numeric_limits<double>::infinity()}}};
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 3});
  expectAccounted(r, 10);
  EXPECT_EQ(r.successful, 6u);
  EXPECT_EQ(r.failed, 4u);
  ASSERT_EQ(r.errors.size(), 4u);
  const std::vector<std::size_t> bad = {2, 4, 6, 8};
  for (std::size_t k = 0; k < bad.size(); ++k) {
    EXPECT_EQ(r.errors[k].kind, BulkErrorKind::InvalidRow);
    EXPECT_EQ(r.errors[k].indexes, std::vector<std::size_t>{bad[k]});
    EXPECT_FALSE(r.errors[k].message.empty());
    EXPECT_EQ(r.errors[k].attempts, 0);
  }
  std::set<std::string> sent;
  for (const auto& q : fake->requests()) {
    for (auto& e : emailsOf(q)) sent.insert(e);
  }
  EXPECT_EQ(sent, (std::set<std::string>{"e0@x.io", "e1@x.io", "e3@x.io", "e5@x.io", "e7@x.io", "e9@x.io"}));
}

TEST(EngineIsolation, UpdateReportsKeysThatMatchNothing) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return status(200, R"([{"id":1},{"id":3}])", {{"Content-Range", "0-1/2"}});
  });
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"id", 1}, {"status", "x"}}, {{"id", 2}, {"status", "x"}}, {{"id", 3}, {"status", "x"}}};
  auto r = client.from("users").bulkUpdate(rows);
  expectAccounted(r, 3);
  EXPECT_EQ(r.successful, 2u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{1});
}

TEST(EngineIsolation, IgnoredDuplicatesAreSkipped) {
  FakeTable table("email");
  table.seed({{"email", "e1@x.io"}, {"name", "old"}});
  table.seed({{"email", "e3@x.io"}, {"name", "old"}});
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) { return table.post(req); });
  auto client = fakeClient(fake);
  auto rows = userRows(5);
  auto r = client.from("users").bulkInsert(rows, {.onConflict = OnConflict::Ignore, .conflictColumns = {"email"}});
  expectAccounted(r, 5);
  EXPECT_EQ(r.successful, 3u);
  EXPECT_EQ(r.skipped, 2u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(table.row("e1@x.io")["name"], "old");
}

// ---------------------------------------------------------------- concurrency, progress, batches

TEST(EngineConcurrency, NeverMoreThanConcurrencyInFlight) {
  for (std::size_t concurrency : {1u, 3u, 8u}) {
    auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
    fake->setMaxInFlightAllowed(concurrency);
    auto client = fakeClient(fake);
    auto rows = userRows(60);
    auto r = client.from("users").bulkInsert(rows, {.batchSize = 2, .concurrency = concurrency});
    SCOPED_TRACE(concurrency);
    expectAccounted(r, 60);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(fake->violations(), 0u);
    EXPECT_EQ(fake->maxInFlightSeen(), concurrency) << "the engine keeps the slots busy";
    EXPECT_EQ(fake->sessionsOpened(), 1u);
  }
}

TEST(EngineConcurrency, ProgressAndBatchReports) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int attempt) {
    if (attempt == 1 && req.body.find("e7@") != std::string::npos) return pgError(503, "PGRST001");
    return created(json::parse(req.body).size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(41);
  std::vector<BulkProgress> progress;
  std::vector<BatchReport> batches;
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 4,
                                                  .concurrency = 3,
                                                  .retry = fastRetry(),
                                                  .onProgress = [&](const BulkProgress& p) { progress.push_back(p); },
                                                  .onBatchComplete = [&](const BatchReport& b) { batches.push_back(b); }});
  expectAccounted(r, 41);
  EXPECT_TRUE(r.ok());
  ASSERT_FALSE(progress.empty());
  for (std::size_t i = 1; i < progress.size(); ++i) {
    EXPECT_GE(progress[i].processed, progress[i - 1].processed);
    EXPECT_GE(progress[i].requests, progress[i - 1].requests);
    EXPECT_GE(progress[i].batchesDone, progress[i - 1].batchesDone);
  }
  EXPECT_EQ(progress.back().processed, 41u);
  EXPECT_EQ(progress.back().total, std::optional<std::size_t>(41));
  EXPECT_EQ(progress.back().successful, 41u);
  EXPECT_EQ(progress.back().batchesDone, 11u);
  EXPECT_EQ(progress.back().retries, 1u);
  EXPECT_EQ(progress.back().requests, 12u);
  ASSERT_EQ(batches.size(), 11u);
  std::set<std::size_t> indexes;
  std::size_t rowsReported = 0, requests = 0;
  for (const auto& b : batches) {
    indexes.insert(b.batchIndex);
    rowsReported += b.rows;
    requests += b.requests;
    EXPECT_EQ(b.rows, b.successful + b.skipped + b.failed);
  }
  EXPECT_EQ(indexes.size(), 11u);
  EXPECT_EQ(*indexes.rbegin(), 10u);
  EXPECT_EQ(rowsReported, 41u);
  EXPECT_EQ(requests, 12u);
}

TEST(EngineConcurrency, ProgressReachesTheTotalWhenEveryRowIsInvalid) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = fakeClient(fake);
  std::vector<json> rows = {json(1), json("x"), json::array()};
  std::vector<BulkProgress> progress;
  auto r = client.from("t").bulkInsert(rows, {.onProgress = [&](const BulkProgress& p) { progress.push_back(p); }});
  expectAccounted(r, 3);
  EXPECT_EQ(fake->count(), 0u);
  EXPECT_EQ(r.failed, 3u);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().processed, 3u);
}

TEST(EngineConcurrency, StopTokenFinishesInFlightAndLeavesTheRest) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto client = fakeClient(fake);
  auto rows = userRows(100);
  std::stop_source stop;
  std::size_t reports = 0;
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 5,
                                                  .concurrency = 3,
                                                  .onBatchComplete =
                                                      [&](const BatchReport&) {
                                                        if (++reports == 4) stop.request_stop();
                                                      },
                                                  .stopToken = stop.get_token()});
  expectAccounted(r, 100);
  EXPECT_TRUE(r.cancelled);
  EXPECT_GT(r.notProcessed, 0u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.errors.empty());
  auto reqs = fake->requests();
  std::size_t sentRows = 0;
  for (const auto& q : reqs) {
    EXPECT_TRUE(q.finishedAt.has_value()) << "a started request was abandoned";
    sentRows += rowsIn(q);
  }
  EXPECT_EQ(r.successful, sentRows) << "every started batch is finished and counted";
  EXPECT_LE(reqs.size(), 4u + 3u) << "no new batch after the stop (4 done + at most 3 in flight)";
  EXPECT_EQ(reports, reqs.size());
}

TEST(EngineConcurrency, StopRequestedBeforeTheCallSendsNothing) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = fakeClient(fake);
  auto rows = userRows(10);
  std::stop_source stop;
  stop.request_stop();
  auto r = client.from("users").bulkInsert(rows, {.stopToken = stop.get_token()});
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(fake->count(), 0u);
  EXPECT_EQ(r.notProcessed, 10u);
  expectAccounted(r, 10);
}

TEST(EngineConcurrency, DeadlineFinishesInFlightAndLeavesTheRest) {
  const auto deadline = Clock::now() + 150ms;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    // The third request is answered only after the deadline.
    if (req.body.find("\"e10@x.io\"") != std::string::npos) std::this_thread::sleep_until(deadline + 20ms);
    return created(json::parse(req.body).size());
  });
  fake->setOrdered(true);
  auto client = fakeClient(fake);
  auto rows = userRows(50);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 5, .concurrency = 1, .deadline = deadline});
  expectAccounted(r, 50);
  EXPECT_TRUE(r.cancelled);
  auto reqs = fake->requests();
  EXPECT_LE(reqs.size(), 3u);
  std::size_t sentRows = 0;
  for (const auto& q : reqs) sentRows += rowsIn(q);
  EXPECT_EQ(r.successful, sentRows);
  EXPECT_EQ(r.notProcessed, 50u - sentRows);
}

TEST(EngineConcurrency, RetryableFailureAfterTheStopIsNotProcessed) {
  // Batches 0 and 1 are in flight; batch 0 succeeds and the stop is requested; batch 1 is answered
  // 503 (not executed) after the stop: its rows were never written, so they are not processed
  // (not failed) and they are not sent again.
  std::stop_source stop;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    if (req.body.find("\"e0@x.io\"") != std::string::npos) {
      stop.request_stop();
      return created(5);
    }
    return pgError(503, "PGRST000");
  });
  fake->setOrdered(true);
  auto client = fakeClient(fake);
  auto rows = userRows(20);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 5, .concurrency = 2, .retry = fastRetry(),
                                                  .stopToken = stop.get_token()});
  expectAccounted(r, 20);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.successful, 5u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.notProcessed, 15u);
  EXPECT_EQ(fake->count(), 2u);
}

// ---------------------------------------------------------------- exceptions stay inside

TEST(EngineExceptions, ThrowingTransportStartReportsTheBatch) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) -> HttpResponse {
    if (req.body.find("\"e4@x.io\"") != std::string::npos) throw std::runtime_error("socket exploded");
    return created(json::parse(req.body).size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(9);
  BulkResult<json> r;
  ASSERT_NO_THROW(r = client.from("users").bulkInsert(rows, {.batchSize = 3}));
  expectAccounted(r, 9);
  EXPECT_EQ(r.successful, 6u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::Transport);
  EXPECT_EQ(r.errors[0].indexes, (std::vector<std::size_t>{3, 4, 5}));
  EXPECT_NE(r.errors[0].message.find("socket exploded"), std::string::npos);
  EXPECT_FALSE(r.errors[0].outcomeUnknown);
}

namespace {
class NoSessionTransport : public Transport {
 public:
  std::unique_ptr<TransportSession> openSession() override { throw std::runtime_error("no sockets left"); }
};
}  // namespace

TEST(EngineExceptions, TransportThatCannotOpenASessionReportsEveryRow) {
  auto client = Client({.url = "http://fake.test", .transport = std::make_shared<NoSessionTransport>()});
  auto rows = userRows(7);
  BulkResult<json> r;
  ASSERT_NO_THROW(r = client.from("users").bulkInsert(rows, {.batchSize = 3}));
  expectAccounted(r, 7);
  EXPECT_EQ(r.failed, 7u);
  EXPECT_EQ(r.requests, 0u);
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.kind, BulkErrorKind::Transport);
    EXPECT_NE(e.message.find("no sockets left"), std::string::npos);
  }
}

TEST(EngineExceptions, RowThatCannotBeEncodedIsIsolated) {
  // A key that PostgREST's column grammar cannot express makes building the request throw.
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto client = fakeClient(fake);
  auto rows = userRows(6);
  rows[3]["bad\ncolumn"] = 1;
  BulkResult<json> r;
  ASSERT_NO_THROW(r = client.from("users").bulkInsert(rows));
  expectAccounted(r, 6);
  EXPECT_EQ(r.successful, 5u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::InvalidRow);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{3});
  for (const auto& q : fake->requests()) EXPECT_EQ(q.body().find("bad"), std::string::npos);
}

namespace {
// A minimal operation to drive runBulk directly: rows are numbers, accept() throws on demand.
class NumberOp : public detail::BulkOperation {
 public:
  NumberOp(std::size_t n, std::function<void(const detail::Work&)> onAccept) : n_(n), onAccept_(std::move(onAccept)) {}
  bool nextRow(detail::WorkRow& row) override {
    if (next_ >= n_) return false;
    row.index = next_;
    row.data = std::to_string(next_);
    row.size = row.data.size() + 1;
    ++next_;
    return true;
  }
  std::optional<std::size_t> totalRows() const override { return n_; }
  std::size_t maxBytes() const override { return 1 << 20; }
  HttpRequest request(const detail::Work& work) const override {
    HttpRequest r;
    r.method = "POST";
    r.url = "http://fake.test/numbers";
    r.body = "[";
    for (std::size_t i = 0; i < work.rows.size(); ++i) r.body += (i ? "," : "") + work.rows[i].data;
    r.body += "]";
    return r;
  }
  void accept(const detail::Work& work, const HttpResponse&, detail::Outcome& out) const override {
    onAccept_(work);
    out.successful = work.rows.size();
  }
  bool idempotent() const override { return false; }
  bool isolatable(const detail::Work&) const override { return true; }

 private:
  std::size_t n_;
  std::size_t next_ = 0;
  std::function<void(const detail::Work&)> onAccept_;
};
}  // namespace

TEST(EngineExceptions, ThrowingAcceptReportsTheBatchAsUnknown) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return status(201); });
  NumberOp op(9, [](const detail::Work& w) {
    if (w.rows.front().index == 3) throw std::runtime_error("unreadable answer");
  });
  detail::EngineSettings s;
  s.batchSize = 3;
  BulkResult<json> r;
  ASSERT_NO_THROW(r = detail::runBulk(*fake, op, s));
  expectAccounted(r, 9);
  EXPECT_EQ(r.successful, 6u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, (std::vector<std::size_t>{3, 4, 5}));
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
  EXPECT_EQ(r.errors[0].status, 201);
}

TEST(EngineExceptions, ReturnedRowsComeBackInInputOrderOfBatches) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    auto body = json::parse(req.body);
    return status(201, body.dump(), {{"Content-Range", "*/" + std::to_string(body.size())}});
  });
  auto client = fakeClient(fake);
  auto rows = userRows(30);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 4, .returning = true, .concurrency = 4});
  expectAccounted(r, 30);
  ASSERT_EQ(r.data.size(), 30u);
  for (std::size_t i = 0; i < 30; ++i) EXPECT_EQ(r.data[i]["email"], rows[i]["email"]);
}

namespace {
// An operation whose accept() reports whatever the test says, right or wrong.
class LyingOp : public NumberOp {
 public:
  LyingOp(std::size_t n, std::function<void(const detail::Work&, detail::Outcome&)> lie)
      : NumberOp(n, [](const detail::Work&) {}), lie_(std::move(lie)) {}
  void accept(const detail::Work& work, const HttpResponse& response, detail::Outcome& out) const override {
    NumberOp::accept(work, response, out);
    lie_(work, out);
  }

 private:
  std::function<void(const detail::Work&, detail::Outcome&)> lie_;
};
}  // namespace

TEST(EngineAccounting, EveryRowGetsExactlyOneOutcomeWhateverTheOperationSays) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return status(201); });
  LyingOp op(12, [](const detail::Work& w, detail::Outcome& out) {
    switch (w.rows.front().index) {
      case 0: out.successful = 10; break;                           // more than the batch
      case 4: out.notFound = {1, 1, 7, 99}; break;                   // duplicate and out-of-range positions
      case 8: out.successful = 1; out.skipped = 1; break;            // fewer than the batch
      default: break;
    }
  });
  detail::EngineSettings s;
  s.batchSize = 4;
  auto r = detail::runBulk(*fake, op, s);
  expectAccounted(r, 12);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{5});
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_EQ(r.successful, 10u);
}

TEST(EngineIsolation, RowIsolatedAfterAnUnknownOutcomeIsStillUnknown) {
  // Attempt 1 times out after sending (the upsert may have been committed), attempt 2 fails on
  // another unique constraint naming row 1: that row's outcome is unknown, not "not written".
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int attempt) {
    auto body = json::parse(req.body);
    if (attempt == 1 && body.size() == 3) return transportFailure(TransportErrorKind::Timeout, true);
    for (const auto& row : body) {
      if (row["email"] == "e1@x.io") {
        return pgError(409, "23505", "duplicate key value violates unique constraint \"users_name_key\"",
                       "Key (name)=(n1) already exists.");
      }
    }
    return created(body.size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(3);
  auto r = client.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .retry = fastRetry()});
  expectAccounted(r, 3);
  EXPECT_EQ(r.successful, 2u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{1});
  EXPECT_EQ(r.errors[0].code, "23505");
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
}
