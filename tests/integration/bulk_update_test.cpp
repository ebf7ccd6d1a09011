// SPDX-License-Identifier: MIT
// bulkUpdate against the real PostgREST 12.0.2: grouped and per-row PATCH, not-found and invalid
// rows, composite keys, returning, the Upsert strategy, and the seed's status-update example.
#include "models.hpp"
#include "test_env.hpp"

#include <algorithm>

namespace pgrestify::test {
namespace {

class BulkUpdate : public IntegrationTest {
 protected:
  // Users 1..n (name u<i>, email u<i>@x.io, status 'old').
  void seedUsers(int n) {
    sql("insert into api.users(name, email, status) select 'u' || g, 'u' || g || '@x.io', 'old' "
        "from generate_series(1, " +
        std::to_string(n) + ") g");
  }
  static std::vector<std::size_t> indexesOf(const BulkResult<nlohmann::json>& r, BulkErrorKind kind) {
    std::vector<std::size_t> out;
    for (const auto& e : r.errors) {
      if (e.kind == kind) out.insert(out.end(), e.indexes.begin(), e.indexes.end());
    }
    return out;
  }
};

TEST_F(BulkUpdate, FiveThousandRowsWithTenPayloadsAreGrouped) {
  seedUsers(5000);
  std::vector<nlohmann::json> updates;
  for (int id = 1; id <= 5000; ++id) {
    updates.push_back(
        {{"id", id}, {"status", "s" + std::to_string(id % 10)}, {"role", id % 10 < 5 ? "admin" : "guest"}});
  }
  auto r = client_->from("users").bulkUpdate(updates);
  EXPECT_EQ(r.successful, 5000u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.data.empty());  // returning is off
  const auto patches = counting_->count("PATCH");
  EXPECT_GE(patches, 10u);
  EXPECT_LE(patches, 20u);
  EXPECT_EQ(r.requests, patches);
  EXPECT_EQ(counting_->total(), patches);
  std::cout << "5000 rows / 10 payloads: " << patches << " PATCH requests\n";
  EXPECT_EQ(sqlCount("select count(*) from api.users where status = 's' || (id % 10) "
                     "and role = case when id % 10 < 5 then 'admin' else 'guest' end"),
            5000);
}

TEST_F(BulkUpdate, FiveHundredDifferentPayloadsAreAllUpdated) {
  seedUsers(500);
  std::vector<nlohmann::json> updates;
  for (int id = 500; id >= 1; --id) updates.push_back({{"id", id}, {"name", "renamed " + std::to_string(id)}});
  auto r = client_->from("users").bulkUpdate(updates, {.concurrency = 8});
  EXPECT_EQ(r.successful, 500u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(counting_->count("PATCH"), 500u);
  EXPECT_EQ(sqlCount("select count(*) from api.users where name = 'renamed ' || id"), 500);
}

TEST_F(BulkUpdate, KeysThatDoNotExistAreReportedAsNotFound) {
  seedUsers(10);
  const std::vector<nlohmann::json> updates = {
      {{"id", 1}, {"status", "grouped"}},     // 0
      {{"id", 1001}, {"status", "grouped"}},  // 1 missing, grouped
      {{"id", 2}, {"status", "grouped"}},     // 2
      {{"id", 3}, {"status", "alone"}},       // 3
      {{"id", 1002}, {"status", "alone2"}},   // 4 missing, single-row PATCH
      {{"id", 4}, {"status", "grouped"}},     // 5
  };
  auto r = client_->from("users").bulkUpdate(updates);
  EXPECT_EQ(r.successful, 4u);
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(r.count, 6u);
  EXPECT_EQ(indexesOf(r, BulkErrorKind::NotFound), (std::vector<std::size_t>{1, 4}));
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(sql("select string_agg(id || '=' || status, ',' order by id) from api.users where status <> 'old'"),
            "1=grouped,2=grouped,3=alone,4=grouped");
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 10);
}

TEST_F(BulkUpdate, RowWithoutTheMatchColumnFailsAndNeverWidensTheUpdate) {
  seedUsers(10);
  const std::vector<nlohmann::json> updates = {
      {{"id", 1}, {"status", "new"}},
      {{"status", "new"}},                   // 1: no id
      {{"id", nullptr}, {"status", "new"}},  // 2: null id
      {{"id", 2}},                           // 3: nothing to update
      nlohmann::json::array({1, 2}),         // 4: not an object
      {{"id", 3}, {"status", "new"}},
  };
  auto r = client_->from("users").bulkUpdate(updates);
  EXPECT_EQ(r.successful, 2u);
  EXPECT_EQ(r.failed, 4u);
  EXPECT_EQ(indexesOf(r, BulkErrorKind::InvalidRow), (std::vector<std::size_t>{1, 2, 3, 4}));
  for (const auto& e : r.errors) EXPECT_FALSE(e.message.empty());
  EXPECT_NE(r.errors[0].message.find("match column"), std::string::npos) << r.errors[0].message;
  EXPECT_EQ(sql("select string_agg(id::text, ',' order by id) from api.users where status = 'new'"), "1,3");
  EXPECT_EQ(counting_->count("PATCH"), 1u);  // ids 1 and 3 share a payload
}

TEST_F(BulkUpdate, BadKeyInAGroupIsIsolated) {
  seedUsers(5);
  const std::vector<nlohmann::json> updates = {
      {{"id", 1}, {"status", "x"}}, {{"id", "not a number"}, {"status", "x"}}, {{"id", 3}, {"status", "x"}}};
  auto r = client_->from("users").bulkUpdate(updates);
  EXPECT_EQ(r.successful, 2u);
  EXPECT_EQ(r.failed, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{1});
  EXPECT_EQ(r.errors[0].code, "22P02");
  EXPECT_EQ(sql("select string_agg(id::text, ',' order by id) from api.users where status = 'x'"), "1,3");
}

TEST_F(BulkUpdate, CompositeMatchColumnOnInventory) {
  sql("insert into api.inventory(warehouse, sku, qty) values ('w1','a',1),('w1','b',1),('w2','a',1),"
      "('w,2','p(x)',1),('w2','q\"x\\y',1),('w 3','ü+%',1)");
  std::vector<Inventory> updates = {
      {.warehouse = "w1", .sku = "a", .qty = 10},     {.warehouse = "w2", .sku = "a", .qty = 10},
      {.warehouse = "w,2", .sku = "p(x)", .qty = 10}, {.warehouse = "w2", .sku = "q\"x\\y", .qty = 20},
      {.warehouse = "w 3", .sku = "ü+%", .qty = 30},  {.warehouse = "w9", .sku = "a", .qty = 10}};  // 5: does not exist
  auto r = client_->from<Inventory>("inventory")
               .bulkUpdate(updates, {.matchColumn = {"warehouse", "sku"}, .returning = true});
  EXPECT_EQ(r.successful, 5u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{5});
  EXPECT_EQ(r.data.size(), 5u);
  EXPECT_EQ(sql("select string_agg(warehouse || '/' || sku || '=' || qty, ' ' order by warehouse collate \"C\", sku "
                "collate \"C\") "
                "from api.inventory"),
            "w 3/ü+%=30 w,2/p(x)=10 w1/a=10 w1/b=1 w2/a=10 w2/q\"x\\y=20");
}

TEST_F(BulkUpdate, ReturningGivesTheUpdatedRows) {
  seedUsers(6);
  std::vector<nlohmann::json> updates;
  for (int id = 1; id <= 4; ++id) updates.push_back({{"id", id}, {"role", "admin"}});
  updates.push_back({{"id", 5}, {"name", "Five"}});
  updates.push_back({{"id", 77}, {"name", "ghost"}});
  auto r = client_->from<User>("users").bulkUpdate(updates, {.matchColumn = "id", .batchSize = 50, .returning = true});
  EXPECT_EQ(r.successful, 5u);
  EXPECT_EQ(r.failed, 1u);
  ASSERT_EQ(r.data.size(), 5u);
  std::vector<long long> ids;
  for (const auto& u : r.data) {
    ids.push_back(u.id.value_or(-1));
    if (u.id == 5) {
      EXPECT_EQ(u.name, "Five");
    } else {
      EXPECT_EQ(u.role.value_or(""), "admin");
      EXPECT_EQ(u.email, "u" + std::to_string(*u.id) + "@x.io");  // whole row, not just the changed columns
    }
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<long long>{1, 2, 3, 4, 5}));

  // `select` narrows the returned columns.
  auto narrow = client_->from("users").bulkUpdate(std::vector<nlohmann::json>{{{"id", 6}, {"status", "n"}}},
                                                  {.returning = true, .select = "status"});
  ASSERT_EQ(narrow.data.size(), 1u);
  EXPECT_EQ(narrow.data[0]["status"], "n");
  EXPECT_FALSE(narrow.data[0].contains("email"));
}

TEST_F(BulkUpdate, NonUniqueMatchColumnStillReportsKeysThatMatchedNothing) {
  seedUsers(4);
  sql("update api.users set role = 'admin' where id <= 2");
  // `admin` matches two rows and `guest` none: two rows affected for two keys, yet one is missing.
  const std::vector<nlohmann::json> updates = {{{"role", "admin"}, {"status", "x"}},
                                               {{"role", "guest"}, {"status", "x"}}};
  auto r = client_->from("users").bulkUpdate(updates, {.matchColumn = "role"});
  EXPECT_EQ(r.successful, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{1});
  EXPECT_EQ(sql("select string_agg(id::text, ',' order by id) from api.users where status = 'x'"), "1,2");
}

TEST_F(BulkUpdate, RepeatedKeysApplyInInputOrder) {
  seedUsers(3);
  const std::vector<nlohmann::json> updates = {{{"id", 1}, {"status", "first"}},
                                               {{"id", 2}, {"status", "first"}},
                                               {{"id", 1}, {"status", "second"}},
                                               {{"id", 1}, {"status", "third"}}};
  auto r = client_->from("users").bulkUpdate(updates);
  EXPECT_EQ(r.successful, 4u);
  EXPECT_EQ(sql("select string_agg(id || '=' || status, ',' order by id) from api.users"), "1=third,2=first,3=old");
}

TEST_F(BulkUpdate, PerRowStrategySendsOnePatchPerRow) {
  seedUsers(20);
  std::vector<nlohmann::json> updates;
  for (int id = 1; id <= 20; ++id) updates.push_back({{"id", id}, {"status", "same"}});
  auto r = client_->from("users").bulkUpdate(updates, {.strategy = UpdateStrategy::PerRow});
  EXPECT_EQ(r.successful, 20u);
  EXPECT_EQ(counting_->count("PATCH"), 20u);
  EXPECT_EQ(sqlCount("select count(*) from api.users where status = 'same'"), 20);
}

TEST_F(BulkUpdate, UpsertStrategyUpdatesAndInsertsMissingRows) {
  seedUsers(4);
  // Two key sets (with and without `role`): each batch's `columns=` must be exactly its rows' keys.
  std::vector<nlohmann::json> rows;
  // Key sets A, A, B, A: a batch of A rows must not list B's `role` (that would set role to NULL).
  for (int id = 1; id <= 4; ++id) {
    nlohmann::json row = {
        {"id", id}, {"name", "up" + std::to_string(id)}, {"email", "u" + std::to_string(id) + "@x.io"}};
    if (id == 3) row["role"] = "admin";
    rows.push_back(row);
  }
  rows.push_back({{"id", 100}, {"name", "new"}, {"email", "new@x.io"}});  // does not exist: INSERTED
  auto r = client_->from("users").bulkUpdate(rows, {.returning = true, .strategy = UpdateStrategy::Upsert});
  EXPECT_EQ(r.successful, 5u);
  EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(r.data.size(), 5u);
  EXPECT_EQ(counting_->count("PATCH"), 0u);
  EXPECT_EQ(counting_->count("POST"), 2u);
  EXPECT_EQ(sql("select string_agg(id || '=' || name || '/' || role || '/' || coalesce(status, ''), ',' order by id) "
                "from api.users"),
            "1=up1/user/old,2=up2/user/old,3=up3/admin/old,4=up4/user/old,100=new/user/");
}

TEST_F(BulkUpdate, StatusUpdatesWithTimestamps) {
  seedUsers(120);
  // The seed's bulkUpdateStatus(userIds, active): every row gets the same values.
  std::vector<long long> userIds;
  for (long long id = 11; id <= 110; ++id) userIds.push_back(id);
  const std::string now = "2024-05-01T12:34:56.789+00:00";
  std::vector<nlohmann::json> statusUpdates;
  for (auto id : userIds) statusUpdates.push_back({{"id", id}, {"active", false}, {"updated_at", now}});
  auto r = client_->from<User>("users").bulkUpdate(statusUpdates, {.matchColumn = "id", .batchSize = 20});
  EXPECT_EQ(r.successful, 100u);
  EXPECT_EQ(counting_->count("PATCH"), 5u);
  EXPECT_EQ(sqlCount("select count(*) from api.users where active = false and updated_at = '" + now + "'"), 100);
  EXPECT_EQ(sqlCount("select count(*) from api.users where active = false and id not between 11 and 110"), 0);
}

TEST_F(BulkUpdate, EmptyInputSendsNothing) {
  auto r = client_->from("users").bulkUpdate(std::vector<nlohmann::json>{});
  EXPECT_EQ(r.count, 0u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(counting_->total(), 0u);
}

}  // namespace
}  // namespace pgrestify::test
