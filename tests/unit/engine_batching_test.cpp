// SPDX-License-Identifier: MIT
// How the engine cuts rows into requests, end to end through the public bulk calls and a fake
// transport: batch cutting by rows and bytes, repeated keys, upsert column sets.
// (The planner alone: batch_planner_test.cpp.)
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

// A later request holding an email starts only after the earlier one holding it has finished.
void expectKeyHoldersNeverOverlap(const std::vector<RecordedRequest>& reqs) {
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    for (std::size_t j = i + 1; j < reqs.size(); ++j) {
      auto a = emailsOf(reqs[i]), b = emailsOf(reqs[j]);
      bool shared = std::any_of(a.begin(), a.end(),
                                [&](const std::string& k) { return std::find(b.begin(), b.end(), k) != b.end(); });
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
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
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
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
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
  std::vector<json> rows = {
      {{"id", 1}, {"status", "s1"}}, {{"id", 1}, {"status", "s2"}}, {{"id", 1}, {"status", "s3"}}};
  auto r = client.from("users").bulkUpdate(rows, {.concurrency = 4});
  expectAccounted(r, 3);
  EXPECT_EQ(r.successful, 3u);
  EXPECT_EQ(applied, (std::vector<std::string>{"s1", "s2", "s3"}));
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (std::size_t i = 1; i < reqs.size(); ++i) EXPECT_GE(reqs[i].startedAt, *reqs[i - 1].finishedAt);
}
