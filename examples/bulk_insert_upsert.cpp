// SPDX-License-Identifier: MIT
// The bulkInsert / bulkUpsert examples of docs/bulk-operations.md, verbatim (tests/docs checks
// them). CTest passes the test server's URL as argv[1]; the program checks its own expectations
// (exit status 0 = they held) with the helpers of example_support.hpp.
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <iostream>

struct User {
  std::optional<long long> id;   // empty optionals are omitted: the column DEFAULT applies
  std::string name;
  std::string email;
  std::optional<std::string> role;
};
PGRESTIFY_ROW(User, id, name, email, role)

// Inserts users in batches of 500 and prints the rows that failed.
pgrestify::BulkResult<User> importUsers(const pgrestify::Client& client, const std::vector<User>& users) {
  auto result = client.from<User>("users").bulkInsert(users, {.batchSize = 500});
  std::cout << result.successful << " inserted, " << result.failed << " failed\n";
  for (const auto& e : result.errors)
    std::cout << "row " << e.indexes.front() << ": " << e.code << " " << e.message << "\n";
  return result;
}

// Inserts the users whose email is new, skips the others, and prints the new rows' ids.
pgrestify::BulkResult<User> importNewUsers(const pgrestify::Client& client, const std::vector<User>& users) {
  auto result = client.from<User>("users").bulkInsert(users, {
      .batchSize = 100, .returning = true,
      .onConflict = pgrestify::OnConflict::Ignore, .conflictColumns = {"email"}});
  std::cout << result.successful << " new, " << result.skipped << " already there\n";
  for (const User& u : result.data) std::cout << *u.id << " " << u.email << "\n";
  return result;
}

// Strict: every row that is not a duplicate is written, every duplicate is reported.
pgrestify::BulkResult<nlohmann::json> insertStrict(const pgrestify::Client& client,
                                                   const std::vector<nlohmann::json>& rows) {
  auto result = client.from("users").bulkInsert(rows);
  for (const auto& e : result.errors)
    if (e.code == "23505") std::cout << "duplicate at row " << e.indexes.front() << ": " << e.details << "\n";
  return result;
}

// Updates the users whose email exists (only the columns each row carries), inserts the others.
pgrestify::BulkResult<User> upsertUsers(const pgrestify::Client& client) {
  std::vector<nlohmann::json> rows = {
      {{"email", "existing@example.com"}, {"name", "Updated Name"}},
      {{"email", "new@example.com"}, {"name", "New User"}, {"role", "user"}},
  };
  return client.from<User>("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = 50, .returning = true});
}

using example::expect;

int main(int argc, char** argv) {
  auto client = pgrestify::createClient({.url = example::serverUrl(argc, argv)});

  auto users = example::numberedUsers<User>(0, 1199, "u", "u");  // u0 <u0@example.com> .. u1199
  users[300].email = users[3].email;  // same request as row 3: row 300 fails with 23505, the others are written
  auto imported = importUsers(client, users);
  expect(imported.successful == 1199 && imported.failed == 1 && imported.errors.size() == 1 &&
             imported.errors[0].indexes == std::vector<std::size_t>{300} && imported.errors[0].code == "23505",
         "importUsers: 1199 written, row 300 failed with 23505");
  expect(client.from("users").count() == 1199, "importUsers: 1199 rows in the table");

  std::vector<User> more = {{.name = "again", .email = "u1@example.com"}, {.name = "v", .email = "v@example.com"},
                            {.name = "w", .email = "w@example.com", .role = "admin"}};
  auto fresh = importNewUsers(client, more);
  expect(fresh.successful == 2 && fresh.skipped == 1 && fresh.data.size() == 2 && fresh.data[0].id &&
             fresh.data[1].role == std::optional<std::string>("admin"),
         "importNewUsers: 2 new (returned with ids), 1 skipped");
  expect(client.from<User>("users").eq("email", "u1@example.com").findOne()->name == "u1",
         "importNewUsers: the existing row is kept");

  std::vector<nlohmann::json> rows = {{{"name", "x"}, {"email", "x@example.com"}},
                                      {{"name", "dup"}, {"email", "v@example.com"}},
                                      {{"name", "y"}, {"email", "y@example.com"}}};
  auto strict = insertStrict(client, rows);
  expect(strict.successful == 2 && strict.failed == 1 && strict.errors.at(0).indexes == std::vector<std::size_t>{1},
         "insertStrict: rows 0 and 2 written, row 1 reported");

  client.from("users").insert(nlohmann::json{{"name", "Old Name"}, {"email", "existing@example.com"}, {"role", "admin"}});
  auto upserted = upsertUsers(client);
  auto existing = client.from<User>("users").eq("email", "existing@example.com").findOne();
  expect(upserted.successful == 2 && upserted.data.size() == 2, "upsertUsers: 2 rows written and returned");
  expect(existing && existing->name == "Updated Name" && existing->role == std::optional<std::string>("admin"),
         "upsertUsers: the existing row got the new name and kept its role");
  expect(client.from("users").eq("email", "new@example.com").count() == 1, "upsertUsers: the new row is there");

  return example::finish();
}
