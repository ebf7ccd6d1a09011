// SPDX-License-Identifier: MIT
// Issue 13 point 3 (library part): a 2xx answer that is not PostgREST's answer to the request sent
// (a wrong URL, a portal, a front end) fails its rows, for every bulk operation and strategy.
// The echo server of the fixture answers `/html/...` 200 text/html, `/json/...` 200 JSON without
// Content-Range, `/created/...` 201 without body or Content-Range.
#include "test_env.hpp"

#include <string>
#include <vector>

namespace pgrestify::test {
namespace {

using json = nlohmann::json;

class NonPostgrest : public IntegrationTest, public ::testing::WithParamInterface<const char*> {
 protected:
  Client echo() const { return Client(ClientOptions{.url = server_->echoUrl + "/" + GetParam()}); }

  static void expectRejected(const BulkResult<json>& r, std::size_t rows) {
    EXPECT_EQ(r.successful, 0u);
    EXPECT_EQ(r.skipped, 0u);
    EXPECT_EQ(r.failed, rows);
    EXPECT_EQ(r.count, rows);
    std::size_t reported = 0;
    for (const auto& e : r.errors) {
      reported += e.indexes.size();
      EXPECT_TRUE(e.outcomeUnknown) << "such a server may or may not have written anything";
      EXPECT_NE(e.message.find("the answer is not PostgREST's"), std::string::npos) << e.message;
    }
    EXPECT_EQ(reported, rows);
  }
};

std::vector<json> rows3() {
  return {{{"id", 1}, {"name", "a"}}, {{"id", 2}, {"name", "a"}}, {{"id", 3}, {"name", "b"}}};
}

TEST_P(NonPostgrest, BulkInsertFailsItsRows) {
  auto client = echo();
  auto rows = rows3();
  expectRejected(client.from("users").bulkInsert(rows), 3);
  expectRejected(client.from("users").bulkInsert(rows, {.returning = true}), 3);
  expectRejected(client.from("users").bulkInsert(rows, {.onConflict = OnConflict::Ignore, .conflictColumns = {"id"}}),
                 3);
}

TEST_P(NonPostgrest, BulkUpsertFailsItsRows) {
  auto client = echo();
  auto rows = rows3();
  expectRejected(client.from("users").bulkUpsert(rows, {.conflictColumns = {"id"}}), 3);
  expectRejected(client.from("users").bulkUpsert(rows, {.conflictColumns = {"id"}, .returning = true}), 3);
  expectRejected(client.from("users").bulkUpsert(rows, {.conflictColumns = {"id"}, .ignoreDuplicates = true}), 3);
}

TEST_P(NonPostgrest, BulkUpdateFailsItsRowsWithEveryStrategy) {
  auto client = echo();
  auto rows = rows3();
  for (auto strategy : {UpdateStrategy::Auto, UpdateStrategy::PerRow, UpdateStrategy::Upsert}) {
    SCOPED_TRACE(static_cast<int>(strategy));
    expectRejected(client.from("users").bulkUpdate(rows, {.strategy = strategy}), 3);
    expectRejected(client.from("users").bulkUpdate(rows, {.returning = true, .strategy = strategy}), 3);
  }
}

TEST_P(NonPostgrest, BulkDeleteFailsItsKeys) {
  auto client = echo();
  std::vector<long long> keys = {1, 2, 3, 4};
  expectRejected(client.from("users").bulkDelete(keys), 4);
  expectRejected(client.from("users").bulkDelete(keys, {.returning = true}), 4);
  std::vector<json> composite = {{{"warehouse", "w"}, {"sku", "s"}}};
  expectRejected(client.from("inventory").bulkDelete(composite, {.matchColumn = {"warehouse", "sku"}}), 1);
}

TEST_P(NonPostgrest, RepositoryThrowsAndSaysWhy) {
  auto repo = echo().getRepository("users");
  try {
    repo.bulkInsert(rows3());
    FAIL() << "no exception";
  } catch (const BulkOperationError& e) {
    EXPECT_EQ(e.result().successful, 0u);
    EXPECT_EQ(e.result().failed, 3u);
    EXPECT_NE(std::string(e.what()).find("the answer is not PostgREST's"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Echo, NonPostgrest, ::testing::Values("html", "json", "created"));

// The same checks accept everything PostgREST 12.0.2 really answers (201/200 for merge-duplicates,
// 200 for PATCH/DELETE with representation, `*/N` and `A-B/N`, an empty `*/0`).
class RealAnswers : public IntegrationTest {};

TEST_F(RealAnswers, EveryPostgrestAnswerShapeIsAccepted) {
  auto client = makeClient();
  std::vector<json> rows;
  for (int i = 0; i < 5; ++i)
    rows.push_back({{"name", "n" + std::to_string(i)}, {"email", std::to_string(i) + "@a.io"}});
  auto ins = client.from("users").bulkInsert(rows, {.returning = true});
  ASSERT_TRUE(ins.ok()) << (ins.errors.empty() ? "" : ins.errors[0].message);
  EXPECT_EQ(ins.successful, 5u);
  auto upd = client.from("users").bulkUpsert(ins.data, {.returning = true});  // all updated: 200
  EXPECT_TRUE(upd.ok()) << (upd.errors.empty() ? "" : upd.errors[0].message);
  EXPECT_EQ(upd.successful, 5u);
  auto none = client.from("users").bulkUpsert(std::vector<json>{}, {.conflictColumns = {"id"}});
  EXPECT_TRUE(none.ok());
  std::vector<json> patch;
  for (const auto& r : ins.data) patch.push_back({{"id", r["id"]}, {"name", "same"}});
  auto p = client.from("users").bulkUpdate(patch);
  EXPECT_TRUE(p.ok()) << (p.errors.empty() ? "" : p.errors[0].message);
  EXPECT_EQ(p.successful, 5u);
  std::vector<long long> ids = {ins.data[0]["id"].get<long long>(), 999999};
  auto d = client.from("users").bulkDelete(ids);
  EXPECT_EQ(d.successful, 1u);
  EXPECT_EQ(d.failed, 1u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 4);
}

}  // namespace
}  // namespace pgrestify::test
