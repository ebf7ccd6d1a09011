// SPDX-License-Identifier: MIT
// The bulkUpdate / bulkDelete / filter examples of docs/bulk-operations.md, verbatim (tests/docs
// checks them). The bodies of the documented functions are flush left because the docs show them
// as statements. CTest passes the test server's URL as argv[1]; the program checks its own
// expectations (exit status 0 = they held) with the helpers of example_support.hpp.
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <iostream>
#include <string>
#include <vector>

struct User {
  std::optional<long long> id;
  std::string name;
  std::string email;
  std::optional<std::string> role;
  std::optional<bool> active;
  std::optional<std::string> status;
};
PGRESTIFY_ROW(User, id, name, email, role, active, status)

using example::expect;

namespace {

std::vector<User> audited;
void audit(const User& user) { audited.push_back(user); }

}  // namespace

// Basic bulk update: different values per row.
pgrestify::BulkResult<User> basicUpdate(const pgrestify::Client& client) {
std::vector<nlohmann::json> userUpdates = {
    {{"id", 1}, {"name", "John Updated"}, {"active", true}},
    {{"id", 2}, {"name", "Jane Updated"}, {"active", false}},
    {{"id", 3}, {"role", "admin"}},  // partial update: only `role` changes
};
auto result = client.from<User>("users").bulkUpdate(userUpdates, {.matchColumn = "id", .batchSize = 50, .returning = true});
std::cout << "Updated " << result.successful << " records\n";
return result;
}

// The same values for many rows.
pgrestify::BulkResult<User> updateStatus(const pgrestify::Client& client, const std::vector<long long>& userIds,
                                         const std::string& nowIso) {
// The seed's bulkUpdateStatus: the same values for many ids -> one PATCH per 20 ids.
std::vector<nlohmann::json> statusUpdates;
for (long long id : userIds) statusUpdates.push_back({{"id", id}, {"active", true}, {"updated_at", nowIso}});
auto r = client.from<User>("users").bulkUpdate(statusUpdates, {.matchColumn = "id", .batchSize = 20});
for (const auto& e : r.errors)
  if (e.kind == pgrestify::BulkErrorKind::NotFound) std::cout << "no user for row " << e.indexes.front() << "\n";
return r;
}

// Basic bulk delete.
pgrestify::BulkResult<User> basicDelete(const pgrestify::Client& client) {
std::vector<long long> idsToDelete = {1, 2, 3, 4, 5};
auto result = client.from<User>("users").bulkDelete(idsToDelete, {.matchColumn = "id", .batchSize = 100});
std::cout << "Deleted " << result.successful << " records\n";
return result;
}

// Conditional bulk delete.
pgrestify::BulkResult<User> deleteInactive(const pgrestify::Client& client) {
// Conditional delete: select the ids with filters, then delete them and keep the rows for audit.
auto inactiveUsers = client.from<User>("users").select("id").eq("active", false).lt("last_login", "2023-01-01").find();
std::vector<long long> userIds;
for (const auto& u : inactiveUsers) userIds.push_back(*u.id);
auto result = client.from<User>("users").bulkDelete(userIds, {.matchColumn = "id", .batchSize = 50, .returning = true});
for (const User& deleted : result.data) audit(deleted);
return result;
}

int main(int argc, char** argv) {
  auto client = pgrestify::createClient({.url = example::serverUrl(argc, argv)});

  // 10 users with ids 1..10 (reset_tables restarts the sequence), ann@example.com is id 1.
  std::vector<nlohmann::json> seed;
  for (int i = 1; i <= 10; ++i) {
    seed.push_back({{"name", "u" + std::to_string(i)},
                    {"email", i == 1 ? std::string("ann@example.com") : "u" + std::to_string(i) + "@example.com"},
                    {"role", i == 4 ? "guest" : "user"},
                    {"active", i % 2 == 0},
                    {"last_login", i <= 6 ? "2022-06-01T00:00:00Z" : "2024-06-01T00:00:00Z"},
                    {"created_at", "2023-06-01T00:00:00Z"}});
  }
  auto seeded = client.from("users").bulkInsert(seed);
  expect(seeded.ok() && seeded.successful == 10, "seed: 10 users");

  {
    auto result = basicUpdate(client);
    auto u1 = client.from<User>("users").eq("id", 1).findOne();
    auto u3 = client.from<User>("users").eq("id", 3).findOne();
    expect(result.ok() && result.successful == 3 && result.data.size() == 3, "basicUpdate: 3 rows updated and returned");
    expect(u1 && u1->name == "John Updated" && u1->active == std::optional<bool>(true), "basicUpdate: row 1 changed");
    expect(u3 && u3->name == "u3" && u3->role == std::optional<std::string>("admin"),
           "basicUpdate: row 3 got only its role");
  }
  {
    auto r = updateStatus(client, {6, 7, 8, 9, 10, 999}, "2025-01-01T00:00:00Z");
    expect(r.successful == 5 && r.failed == 1 && r.errors.size() == 1 &&
               r.errors[0].kind == pgrestify::BulkErrorKind::NotFound &&
               r.errors[0].indexes == std::vector<std::size_t>{5},
           "updateStatus: 5 updated, id 999 (row 5) not found");
    expect(client.from("users").in("id", {6, 7, 8, 9, 10}).eq("active", true).count() == 5,
           "updateStatus: ids 6..10 active");
  }
  {
    // The filter reads.
auto inactive = client.from<User>("users").select("id,email").eq("active", false).lt("last_login", "2023-01-01").find();
auto admin = client.from<User>("users").eq("email", "ann@example.com").findOne();
std::size_t n = client.from("users").in("role", {"admin", "guest"}).count();
    // Inactive with a login before 2023: ids 2 (deactivated by basicUpdate), 3 and 5.
    expect(inactive.size() == 3, "filters: 3 inactive users found");
    expect(admin && *admin->id == 1, "filters: findOne by email");
    expect(n == 2, "filters: one admin (row 3) and one guest (row 4)");
  }
  {
    std::size_t before = client.from("users").count();
    std::size_t inactive = client.from("users").eq("active", false).lt("last_login", "2023-01-01").count();
    auto result = deleteInactive(client);
    expect(result.ok() && result.successful == inactive && audited.size() == inactive,
           "deleteInactive: the inactive users deleted and audited");
    expect(client.from("users").count() == before - inactive, "deleteInactive: the rows are gone");
  }
  {
    std::vector<long long> ids = {7, 8};
auto promoted = client.from<User>("users").eq("role", "guest").lt("created_at", "2024-01-01").update(nlohmann::json{{"role", "user"}});
auto removed  = client.from<User>("users").in("id", ids).remove();   // returns the deleted rows
client.from<User>("users").allRows().update(nlohmann::json{{"status", "migrated"}});  // every row: explicit
    expect(promoted.size() == 1 && removed.size() == 2, "filter-based update/remove: the guest promoted, 2 removed");
    expect(client.from("users").neq("status", "migrated").count() == 0, "allRows().update: every row changed");
    bool refused = false;
    try {
      client.from<User>("users").update(nlohmann::json{{"status", "x"}});
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    expect(refused, "update() without a filter is refused");
  }
  {
    // ids 1..5 were partly deleted above: the rest are deleted, the missing ones are NotFound.
    std::size_t present = client.from("users").in("id", {1, 2, 3, 4, 5}).count();
    auto result = basicDelete(client);
    expect(result.successful == present && result.failed == 5 - present && result.count == 5,
           "basicDelete: present ids deleted, the others NotFound");
    expect(client.from("users").in("id", {1, 2, 3, 4, 5}).count() == 0, "basicDelete: ids 1..5 gone");
  }

  return example::finish();
}
