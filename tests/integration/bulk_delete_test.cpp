// SPDX-License-Identifier: MIT
// bulkDelete against the real PostgREST 12.0.2: key lists cut by URL length, not-found keys,
// returning, awkward text keys, key kinds, composite keys, and the seed's conditional example.
#include "models.hpp"
#include "test_env.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

namespace pgrestify::test {
namespace {

class BulkDelete : public IntegrationTest {
 protected:
  void seedUsers(int n) {
    sql("insert into api.users(name, email) select 'u' || g, 'u' || g || '@x.io' from generate_series(1, " +
        std::to_string(n) + ") g");
  }
  static std::vector<std::size_t> notFoundIndexes(const BulkResult<nlohmann::json>& r) {
    std::vector<std::size_t> out;
    for (const auto& e : r.errors) {
      if (e.kind == BulkErrorKind::NotFound) out.insert(out.end(), e.indexes.begin(), e.indexes.end());
    }
    return out;
  }
};

TEST_F(BulkDelete, TwentyThousandIdsAreCutByUrlLength) {
  seedUsers(25000);
  std::vector<long long> ids(20000);
  std::iota(ids.begin(), ids.end(), 1);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(7));

  // The naive single request: PostgREST (Warp) rejects a request head over 50 KiB.
  std::string list;
  for (auto id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
  HttpRequest naive;
  naive.method = "GET";
  naive.url = server_->url + "/users?select=id&id=in.(" + list + ")";
  ASSERT_GT(naive.url.size(), 51200u);
  // Warp answers a plain-text 400, or (when the head is far over) closes the connection while
  // libcurl is still sending it.
  auto rejected = client_->send(naive);
  EXPECT_FALSE(rejected.ok());
  EXPECT_TRUE(rejected.status == 400 || rejected.transportFailed()) << rejected.status;
  std::cout << "naive URL of " << naive.url.size() << " bytes: status " << rejected.status << " "
            << rejected.errorMessage << "\n";
  counting_->reset();

  auto r = client_->from("users").bulkDelete(ids, {.matchColumn = "id", .batchSize = 5000});
  EXPECT_EQ(r.successful, 20000u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.errors.empty()) << r.errors.front().message;
  const auto deletes = counting_->count("DELETE");
  EXPECT_EQ(r.requests, deletes);
  EXPECT_GE(deletes, 8u);  // 20,000 ids of ~5 digits do not fit in 16 KiB URLs in fewer
  std::cout << "20000 ids: " << deletes << " DELETE requests\n";
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 5000);
  EXPECT_EQ(sqlCount("select min(id) from api.users"), 20001);
}

TEST_F(BulkDelete, KeysThatMatchNothingAreReportedAsNotFound) {
  seedUsers(10);
  const std::vector<long long> ids = {1, 500, 2, 3, 501, 10};
  auto r = client_->from("users").bulkDelete(ids, {.batchSize = 100});
  EXPECT_EQ(r.successful, 4u);
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(notFoundIndexes(r), (std::vector<std::size_t>{1, 4}));
  EXPECT_EQ(counting_->count("DELETE"), 1u);
  EXPECT_EQ(sql("select string_agg(id::text, ',' order by id) from api.users"), "4,5,6,7,8,9");
}

TEST_F(BulkDelete, ReturningGivesTheDeletedRows) {
  seedUsers(10);
  auto r = client_->from<User>("users").bulkDelete(std::vector<long long>{2, 4, 6, 99},
                                                   {.matchColumn = "id", .batchSize = 100, .returning = true});
  EXPECT_EQ(r.successful, 3u);
  ASSERT_EQ(r.data.size(), 3u);
  std::set<long long> ids;
  for (const auto& u : r.data) {
    ids.insert(u.id.value_or(-1));
    EXPECT_EQ(u.email, "u" + std::to_string(*u.id) + "@x.io");
  }
  EXPECT_EQ(ids, (std::set<long long>{2, 4, 6}));
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 7);
}

TEST_F(BulkDelete, AwkwardTextKeysDeleteExactlyTheRightRows) {
  // Each key to delete has decoys that a wrong encoding would delete instead (or in addition).
  const std::vector<std::string> doomed = {"a,b", "p(x)", "q\"x", "b\\x", " sp ", "a+b", "100%", "ü/ß&=", "😀 x",
                                           "(",   ")",    "\"",   "\\",   "",     "*",   "%2B",  "NULL",  "x)y(z"};
  const std::vector<std::string> decoys = {"a",   "b", "p(x",  "p(x))", "q", "x", "b\\\\x", "sp", "a b", "ab",
                                           "100", "ü", "null", "+",     "%", "x", "y",      "z",  "x)y"};
  std::vector<nlohmann::json> rows;
  for (const auto& k : doomed) rows.push_back({{"key", k}, {"label", "doomed"}});
  for (const auto& k : decoys) {
    if (std::find(doomed.begin(), doomed.end(), k) == doomed.end()) rows.push_back({{"key", k}, {"label", "decoy"}});
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a["key"] < b["key"]; });
  rows.erase(std::unique(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a["key"] == b["key"]; }),
             rows.end());
  client_->from("tags").insert(rows);
  const auto decoyCount = sqlCount("select count(*) from api.tags where label = 'decoy'");
  ASSERT_GT(decoyCount, 10);

  auto r = client_->from("tags").bulkDelete(doomed, {.matchColumn = "key", .returning = true});
  EXPECT_EQ(r.successful, doomed.size());
  EXPECT_TRUE(r.errors.empty()) << r.errors.front().message;
  EXPECT_EQ(r.data.size(), doomed.size());
  EXPECT_EQ(sqlCount("select count(*) from api.tags where label = 'doomed'"), 0);
  EXPECT_EQ(sqlCount("select count(*) from api.tags"), decoyCount);

  // One key per request (and the empty string alone, which `in.("")` would not match).
  std::vector<nlohmann::json> again;
  for (const auto& row : rows) {
    if (row["label"] == "doomed") again.push_back(row);
  }
  client_->from("tags").insert(again);
  auto one = client_->from("tags").bulkDelete(doomed, {.matchColumn = "key", .batchSize = 1});
  EXPECT_EQ(one.successful, doomed.size());
  EXPECT_TRUE(one.errors.empty()) << one.errors.front().message;
  EXPECT_EQ(sqlCount("select count(*) from api.tags where label = 'doomed'"), 0);
  EXPECT_EQ(sqlCount("select count(*) from api.tags"), decoyCount);
}

TEST_F(BulkDelete, KeysMayBeNumbersStringsOrJsonValues) {
  seedUsers(8);
  const std::vector<nlohmann::json> keys = {1,           "2", nlohmann::json{{"id", 3}},
                                            nullptr,     4.0, nlohmann::json::array({5}),
                                            "not a key", 6,   nlohmann::json{{"name", "u7"}}};
  auto r = client_->from("users").bulkDelete(keys);
  // 1, "2", {"id":3} and 6 delete; null, [5] and an object without `id` are invalid rows; 4.0 and
  // "not a key" are rejected by PostgreSQL (bigint) and isolated.
  EXPECT_EQ(r.successful, 4u);
  EXPECT_EQ(r.failed, 5u);
  std::vector<std::size_t> invalid, server;
  for (const auto& e : r.errors) {
    auto& into = e.kind == BulkErrorKind::InvalidRow ? invalid : server;
    into.insert(into.end(), e.indexes.begin(), e.indexes.end());
  }
  EXPECT_EQ(invalid, (std::vector<std::size_t>{3, 5, 8}));
  EXPECT_EQ(server, (std::vector<std::size_t>{4, 6}));
  EXPECT_EQ(sql("select string_agg(id::text, ',' order by id) from api.users"), "4,5,7,8");
}

TEST_F(BulkDelete, CompositeKeys) {
  sql("insert into api.inventory(warehouse, sku) values ('w1','a'),('w1','b'),('w2','a'),('w,2','p(x)'),"
      "('w2','q\"x\\y'),('w 3','ü+%'),('w3','')");
  std::vector<nlohmann::json> keys = {{{"warehouse", "w1"}, {"sku", "a"}},
                                      {{"warehouse", "w,2"}, {"sku", "p(x)"}},
                                      {{"warehouse", "w2"}, {"sku", "q\"x\\y"}},
                                      {{"warehouse", "w 3"}, {"sku", "ü+%"}},
                                      {{"warehouse", "w3"}, {"sku", ""}},
                                      {{"warehouse", "w9"}, {"sku", "a"}},  // 5: matches nothing
                                      nlohmann::json("w2")};                // 6: not a composite key
  auto r = client_->from<Inventory>("inventory").bulkDelete(keys, {.matchColumn = {"warehouse", "sku"}});
  EXPECT_EQ(r.successful, 5u);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{5});
  EXPECT_EQ(r.errors[1].kind, BulkErrorKind::InvalidRow);
  EXPECT_EQ(r.errors[1].indexes, std::vector<std::size_t>{6});
  EXPECT_EQ(sql("select string_agg(warehouse || '/' || sku, ' ' order by warehouse collate \"C\", sku collate \"C\") "
                "from api.inventory"),
            "w1/b w2/a");
}

TEST_F(BulkDelete, EmptyKeyListSendsNothing) {
  seedUsers(3);
  auto r = client_->from("users").bulkDelete(std::vector<long long>{});
  EXPECT_EQ(r.count, 0u);
  EXPECT_TRUE(r.ok());
  // Only invalid keys: nothing to send either.
  auto invalid = client_->from("users").bulkDelete(std::vector<nlohmann::json>{nullptr, nlohmann::json::object()});
  EXPECT_EQ(invalid.failed, 2u);
  EXPECT_EQ(counting_->total(), 0u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 3);
}

TEST_F(BulkDelete, ConditionalDeleteOfInactiveUsersWithAudit) {
  seedUsers(30);
  sql("update api.users set active = false, last_login = '2022-03-01' where id % 3 = 0");  // 10 stale
  sql("update api.users set active = false, last_login = '2023-03-01' where id % 5 = 0 and id % 3 <> 0");
  // The seed's example: select ids with filters, then bulkDelete them returning the rows.
  auto inactiveUsers =
      client_->from<User>("users").select("id").eq("active", false).lt("last_login", "2023-01-01").find();
  ASSERT_EQ(inactiveUsers.size(), 10u);
  std::vector<long long> userIds;
  for (const auto& u : inactiveUsers) userIds.push_back(*u.id);
  auto r = client_->from<User>("users").bulkDelete(userIds, {.matchColumn = "id", .batchSize = 50, .returning = true});
  EXPECT_EQ(r.successful, 10u);
  ASSERT_EQ(r.data.size(), 10u);
  for (const auto& u : r.data) {
    EXPECT_EQ(*u.id % 3, 0);
    EXPECT_EQ(u.active, std::optional<bool>(false));
    EXPECT_FALSE(u.email.empty());  // the whole row, for the audit trail
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 20);
  EXPECT_EQ(sqlCount("select count(*) from api.users where id % 3 = 0"), 0);
}

}  // namespace
}  // namespace pgrestify::test
