// SPDX-License-Identifier: MIT
// Issue 22 point 1: the rows a PATCH/DELETE returns are matched to the input keys by the value the
// database compared (uuid, timestamptz, numeric...), never by the caller's spelling; and point 6:
// bulkUpdate's `data` of a grouped PATCH comes back in input order.
#include "schema_change.hpp"
#include "test_env.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace pgrestify::test {
namespace {

using json = nlohmann::json;

const std::vector<std::string> kUuids = {
    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a12",
    "c2eebc99-9c0b-4ef8-bb6d-6bb9bd380a13", "d3eebc99-9c0b-4ef8-bb6d-6bb9bd380a14",
    "e4eebc99-9c0b-4ef8-bb6d-6bb9bd380a15", "f5eebc99-9c0b-4ef8-bb6d-6bb9bd380a16"};
const std::string kMissingUuid = "0FEEBC99-9C0B-4EF8-BB6D-6BB9BD380A99";

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

class KeySpelling : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (!server_) return;
    auto client = makeClient();
    ASSERT_TRUE(
        createAndExpose("drop table if exists api.ks_uuid, api.ks_ts, api.ks_num cascade;"
                        "create table api.ks_uuid (id uuid primary key, v text);"
                        "create table api.ks_ts (at timestamptz primary key, v text);"
                        "create table api.ks_num (k numeric primary key, v text);"
                        "grant all on api.ks_uuid, api.ks_ts, api.ks_num to anon, web_user;",
                        "ks_num", client));
    for (const auto& u : kUuids) sql("insert into api.ks_uuid values ('" + u + "', 'old')");
  }
  void TearDown() override {
    if (server_) sql("drop table if exists api.ks_uuid, api.ks_ts, api.ks_num cascade");
  }
};

TEST_F(KeySpelling, BulkDeleteOfUppercaseUuids) {
  auto client = makeClient();
  {
    auto schema = client.describeTable("ks_uuid");
    ASSERT_TRUE(schema->found);
    ASSERT_TRUE(schema->column("id"));
    EXPECT_EQ(schema->column("id")->format, "uuid");
  }
  std::vector<std::string> keys = {upper(kUuids[0]), upper(kUuids[1]), upper(kUuids[2]), kMissingUuid};
  auto r = client.from("ks_uuid").bulkDelete(keys, {.returning = true});
  EXPECT_EQ(r.successful, 3u);
  EXPECT_EQ(r.failed, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound) << r.errors[0].message;
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{3});
  EXPECT_EQ(r.data.size(), 3u);
  EXPECT_EQ(sqlCount("select count(*) from api.ks_uuid where id in ('" + kUuids[0] + "','" + kUuids[1] + "','" +
                     kUuids[2] + "')"),
            0);
  EXPECT_EQ(sqlCount("select count(*) from api.ks_uuid"), 3);
}

TEST_F(KeySpelling, BulkUpdateOfUppercaseUuidsAndTheRepository) {
  auto client = makeClient();
  std::vector<json> rows;
  for (const auto& u : kUuids) rows.push_back({{"id", upper(u)}, {"v", "new"}});  // one grouped PATCH
  rows.push_back({{"id", kMissingUuid}, {"v", "new"}});
  auto r = client.from("ks_uuid").bulkUpdate(rows);
  EXPECT_EQ(r.successful, 6u);
  EXPECT_EQ(r.failed, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{6});
  EXPECT_EQ(sqlCount("select count(*) from api.ks_uuid where v = 'new'"), 6);

  // The repository: one key is missing, so it throws, but for 1 of 7 rows, not "7 of 7".
  sql("update api.ks_uuid set v = 'old'");
  for (auto& row : rows) row["v"] = "repo";
  try {
    client.getRepository("ks_uuid").bulkUpdate(rows);
    FAIL() << "no exception";
  } catch (const BulkOperationErrorOf<json>& e) {
    EXPECT_NE(std::string(e.what()).find("1 of 7 rows failed"), std::string::npos) << e.what();
    EXPECT_EQ(e.failedIndexes(), std::vector<std::size_t>{6});
    EXPECT_EQ(e.rows().size(), 6u);
  }
  EXPECT_EQ(sqlCount("select count(*) from api.ks_uuid where v = 'repo'"), 6);
  // Without the missing key the repository does not throw.
  rows.pop_back();
  EXPECT_EQ(client.getRepository("ks_uuid").bulkUpdate(rows).size(), 6u);
}

TEST_F(KeySpelling, TimestamptzKeysWrittenWithZ) {
  sql("insert into api.ks_ts values ('2024-01-01 00:00:00+00', 'a'), ('2024-01-02 00:00:00+00', 'b'), "
      "('2024-01-03 12:30:00.25+00', 'c'), ('2024-01-04 00:00:00+00', 'd')");
  auto client = makeClient();
  std::vector<json> rows = {{{"at", "2024-01-01T00:00:00Z"}, {"v", "x"}},
                            {{"at", "2024-01-02 01:00:00+01"}, {"v", "x"}},
                            {{"at", "2024-01-03T12:30:00.250Z"}, {"v", "x"}},
                            {{"at", "2024-02-01T00:00:00Z"}, {"v", "x"}}};
  auto u = client.from("ks_ts").bulkUpdate(rows, {.matchColumn = "at"});
  EXPECT_EQ(u.successful, 3u);
  ASSERT_EQ(u.errors.size(), 1u) << u.errors[0].message;
  EXPECT_EQ(u.errors[0].indexes, std::vector<std::size_t>{3});
  EXPECT_EQ(sqlCount("select count(*) from api.ks_ts where v = 'x'"), 3);
  std::vector<std::string> keys = {"2024-01-01T00:00:00Z", "2024-01-04T00:00:00.000Z", "2024-03-01T00:00:00Z"};
  auto d = client.from("ks_ts").bulkDelete(keys, {.matchColumn = "at"});
  EXPECT_EQ(d.successful, 2u);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(d.errors[0].indexes, std::vector<std::size_t>{2});
  EXPECT_EQ(sqlCount("select count(*) from api.ks_ts"), 2);
}

TEST_F(KeySpelling, NumericKeys) {
  sql("insert into api.ks_num values (1.5, 'a'), (2, 'b'), (10.25, 'c')");
  auto client = makeClient();
  // Different new values: one PATCH per row; the server writes 1.5, 2, 10.25.
  std::vector<json> rows = {{{"k", "1.50"}, {"v", "p"}},
                            {{"k", "2.0"}, {"v", "q"}},
                            {{"k", "010.250"}, {"v", "r"}},
                            {{"k", "3"}, {"v", "s"}}};
  auto r = client.from("ks_num").bulkUpdate(rows, {.matchColumn = "k"});
  EXPECT_EQ(r.successful, 3u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{3});
  EXPECT_EQ(sql("select string_agg(v, ',' order by k) from api.ks_num"), "p,q,r");
  // Same new values with one missing key: one grouped PATCH, the server writes 1.5, 2, 10.25.
  std::vector<json> same = {{{"k", "1.50"}, {"v", "g"}},
                            {{"k", "7"}, {"v", "g"}},
                            {{"k", "2.0"}, {"v", "g"}},
                            {{"k", "010.250"}, {"v", "g"}}};
  auto g = client.from("ks_num").bulkUpdate(same, {.matchColumn = "k"});
  EXPECT_EQ(g.successful, 3u);
  ASSERT_EQ(g.errors.size(), 1u);
  EXPECT_EQ(g.errors[0].kind, BulkErrorKind::NotFound) << g.errors[0].message;
  EXPECT_EQ(g.errors[0].indexes, std::vector<std::size_t>{1});
  EXPECT_EQ(sqlCount("select count(*) from api.ks_num where v = 'g'"), 3);
  std::vector<json> keys = {"1.50", 2.0, "10.2500", "7"};
  auto d = client.from("ks_num").bulkDelete(keys, {.matchColumn = "k"});
  EXPECT_EQ(d.successful, 3u);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].kind, BulkErrorKind::NotFound) << d.errors[0].message;
  EXPECT_EQ(d.errors[0].indexes, std::vector<std::size_t>{3});
  EXPECT_EQ(sqlCount("select count(*) from api.ks_num"), 0);
}

TEST_F(KeySpelling, GroupedPatchDataIsInInputOrder) {
  auto client = makeClient();
  // Input order differs from the table's physical order; all rows get the same values (one PATCH).
  std::vector<json> rows;
  for (int i : {4, 1, 5, 0, 3, 2}) rows.push_back({{"id", upper(kUuids[static_cast<std::size_t>(i)])}, {"v", "g"}});
  sql("update api.ks_uuid set v = v");  // rewrite the rows: the server's order is not ours
  auto r = client.from("ks_uuid").bulkUpdate(rows, {.returning = true});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.data.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(upper(r.data[i]["id"].get<std::string>()), rows[i]["id"].get<std::string>()) << i;
  }
  EXPECT_EQ(counting_->count("PATCH"), 1u);
}

// Issue 13 point 5 (library part): a key too long for any URL fails alone, the others proceed.
class KeyTooLong : public IntegrationTest {};

TEST_F(KeyTooLong, FailsAloneAsInvalidRowOnTheRealServer) {
  sql("insert into api.users (name, email) values ('a', 'a@x.io'), ('b', 'b@x.io'), ('c', 'c@x.io')");
  auto client = makeClient();
  const std::string huge(60000, 'k');  // over PostgREST's 50 KiB request-head limit on its own
  std::vector<std::string> keys = {"a@x.io", huge, "b@x.io"};
  auto d = client.from("users").bulkDelete(keys, {.matchColumn = "email"});
  EXPECT_EQ(d.successful, 2u);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].kind, BulkErrorKind::InvalidRow);
  EXPECT_EQ(d.errors[0].indexes, std::vector<std::size_t>{1});
  EXPECT_FALSE(d.errors[0].outcomeUnknown);
  EXPECT_NE(d.errors[0].message.find("the key is 60009 bytes in a URL; maxUrlBytes allows"), std::string::npos)
      << d.errors[0].message;
  EXPECT_EQ(sql("select string_agg(email, ',') from api.users"), "c@x.io");
  std::vector<json> rows = {{{"email", huge}, {"name", "x"}}, {{"email", "c@x.io"}, {"name", "x"}}};
  auto u = client.from("users").bulkUpdate(rows, {.matchColumn = "email"});
  EXPECT_EQ(u.successful, 1u);
  ASSERT_EQ(u.errors.size(), 1u);
  EXPECT_EQ(u.errors[0].kind, BulkErrorKind::InvalidRow);
  EXPECT_EQ(u.errors[0].indexes, std::vector<std::size_t>{0});
  EXPECT_EQ(sql("select name from api.users where email = 'c@x.io'"), "x");
}

}  // namespace
}  // namespace pgrestify::test
