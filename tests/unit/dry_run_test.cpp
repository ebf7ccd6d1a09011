// SPDX-License-Identifier: MIT
// Dry runs (Prefer: tx=rollback, proven before any row is sent and checked on every answer), the
// validate option and maxFailures, as the fake transport sees them.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;

namespace {

bool listsRollback(const RecordedRequest& r) {
  std::string p(r.header("Prefer").value_or(""));
  return p.find("tx=rollback") != std::string::npos;
}

// A server that honours tx=rollback (Preference-Applied lists it), except for bodies holding a
// row with id in @p unconfirmed.
std::shared_ptr<FakeTransport> rollbackFake(int unconfirmed = -1) {
  return std::make_shared<FakeTransport>([unconfirmed](const HttpRequest& req, int) {
    const bool asked = findHeader(req.headers, "Prefer").value_or("").find("tx=rollback") != std::string_view::npos;
    Headers applied;
    if (asked) applied.emplace_back("Preference-Applied", "count=exact, tx=rollback");
    if (req.method == "GET") {
      applied.emplace_back("Content-Range", "*/0");
      return status(200, "[]", applied);
    }
    auto rows = json::parse(req.body);
    bool drop = false;
    for (const auto& r : rows) drop = drop || r.value("id", -2) == unconfirmed;
    HttpResponse out = created(rows.size());
    if (!drop) out.headers.insert(out.headers.end(), applied.begin(), applied.end());
    return out;
  });
}

std::vector<json> idRows(int n) {
  std::vector<json> rows;
  for (int i = 0; i < n; ++i) rows.push_back({{"id", i}});
  return rows;
}

}  // namespace

TEST(DryRun, EveryRequestAsksForRollbackAfterTheCheck) {
  auto fake = rollbackFake();
  fake->setOrdered(true);
  auto client = fakeClient(fake);
  auto r = client.from("t").bulkInsert(idRows(25), {.batchSize = 10, .dryRun = true});
  EXPECT_EQ(r.successful, 25u);
  EXPECT_TRUE(r.ok());
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].method(), "GET");  // the check comes first, and writes nothing
  EXPECT_EQ(reqs[0].param("limit"), "0");
  for (const auto& q : reqs) EXPECT_TRUE(listsRollback(q)) << q.url();
  // The check is made once per client.
  const auto before = fake->count();
  r = client.from("t").bulkDelete(std::vector<int>{}, {.dryRun = true});
  EXPECT_EQ(fake->count(), before);
}

TEST(DryRun, RefusedBeforeAnyRowWhenTheServerIgnoresRollback) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    if (req.method == "GET") return status(200, "[]", {{"Content-Range", "*/0"}});
    return created(json::parse(req.body).size());  // commits, says nothing about tx
  });
  auto client = fakeClient(fake);
  try {
    client.from("t").bulkInsert(idRows(5), {.dryRun = true});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("db-tx-end"), std::string::npos) << e.what();
  }
  for (const auto& q : fake->requests()) EXPECT_EQ(q.method(), "GET");
  // Not cached as honoured: every call checks again and refuses again.
  EXPECT_THROW(client.from("t").bulkUpdate(std::vector<json>{{{"id", 1}, {"a", 2}}}, {.dryRun = true}),
               std::invalid_argument);
  EXPECT_THROW(client.from("t").bulkDelete(std::vector<int>{1}, {.dryRun = true}), std::invalid_argument);
  EXPECT_THROW(client.from("t").bulkUpsert(idRows(1), {.conflictColumns = {"id"}, .dryRun = true}),
               std::invalid_argument);
  for (const auto& q : fake->requests()) EXPECT_EQ(q.method(), "GET");
}

TEST(DryRun, AnAnswerWithoutPreferenceAppliedFailsItsRows) {
  auto fake = rollbackFake(/*unconfirmed=*/13);
  auto client = fakeClient(fake);
  auto r = client.from("t").bulkInsert(idRows(30), {.batchSize = 10, .dryRun = true});
  EXPECT_EQ(r.successful, 20u);
  EXPECT_EQ(r.failed, 10u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
  EXPECT_NE(r.errors[0].message.find("tx=rollback"), std::string::npos) << r.errors[0].message;
  std::vector<std::size_t> expected = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  EXPECT_EQ(r.errors[0].indexes, expected);
}

TEST(DryRun, WithoutDryRunNothingChanges) {
  auto fake = rollbackFake();
  auto client = fakeClient(fake);
  auto r = client.from("t").bulkInsert(idRows(3));
  EXPECT_TRUE(r.ok());
  for (const auto& q : fake->requests()) {
    EXPECT_EQ(q.method(), "POST");
    EXPECT_FALSE(listsRollback(q));
  }
}

TEST(Validate, RefusedRowsAreInvalidAndNeverSent) {
  auto fake = rollbackFake();
  auto client = fakeClient(fake);
  auto odd = [](const json& row) -> std::optional<std::string> {
    if (row.at("id").get<int>() % 2) return "odd id";
    return std::nullopt;
  };
  auto r = client.from("t").bulkInsert(idRows(6), {.validate = odd});
  EXPECT_EQ(r.successful, 3u);
  EXPECT_EQ(r.failed, 3u);
  ASSERT_EQ(r.errors.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.errors[i].kind, BulkErrorKind::InvalidRow);
    EXPECT_EQ(r.errors[i].indexes, std::vector<std::size_t>{2 * i + 1});
    EXPECT_EQ(r.errors[i].message, "odd id");
  }
  for (const auto& q : fake->requests()) {
    for (const auto& row : q.json()) EXPECT_EQ(row.at("id").get<int>() % 2, 0);
  }
}

TEST(MaxFailures, NoNewRequestAfterTheLimit) {
  auto fake = rollbackFake();
  auto client = fakeClient(fake);
  auto all = [](const json&) -> std::optional<std::string> { return "no"; };
  auto r = client.from("t").bulkInsert(idRows(10), {.validate = all, .maxFailures = 3});
  EXPECT_EQ(r.failed, 3u);
  EXPECT_EQ(r.notProcessed, 7u);
  EXPECT_EQ(r.requests, 0u);
  EXPECT_EQ(fake->requests().size(), 0u);
}
