// SPDX-License-Identifier: MIT
// How the engine isolates failing rows (row named by the error, bisection, invalid rows, keys that
// match nothing), end to end through the public bulk calls and a fake transport.
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

namespace {}  // namespace

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
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
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
