// SPDX-License-Identifier: MIT
// The examples of docs/repository.md, verbatim (tests/docs checks them); the reference docs'
// repository calls one by one are in examples/repo_bulk_*.cpp. Documented statement blocks are
// flush left. CTest passes the test server's URL as argv[1]; the program checks its own
// expectations (exit status 0 = they held) with the helpers of example_support.hpp.
#include "example_support.hpp"

#include <iostream>
#include <string>
#include <vector>

#include <pgrestify/pgrestify.hpp>

struct User {
  std::optional<long long> id;          // empty: omitted, the database fills it
  std::string name;
  std::string email;
  std::optional<std::string> role;
  std::optional<bool> active;
  std::optional<std::string> created_at;
};
PGRESTIFY_ROW(User, id, name, email, role, active, created_at)

// Inserts users, reads one back and counts the admins.
std::size_t overview(const std::string& url, const std::vector<User>& users) {
  auto client = pgrestify::createClient({.url = url});
  auto userRepo = client.getRepository<User>("users");   // Repository<User>; getRepository("users") gives nlohmann::json rows

  std::vector<User> inserted = userRepo.bulkInsert(users, {.batchSize = 100});
  std::optional<User> u      = userRepo.findOne({{"id", 1}});
  std::size_t admins         = userRepo.count({{"role", "admin"}});
  std::cout << inserted.size() << " inserted, first: " << (u ? u->name : "none") << ", " << admins << " admins\n";
  return inserted.size();
}

using example::expect;
using example::isoNow;  // the UTC time as ISO 8601, for created_at below

class UserRepository : public pgrestify::CustomRepositoryBase<User> {
 public:
  using CustomRepositoryBase::CustomRepositoryBase;

  std::vector<User> bulkCreateUsers(std::vector<User> rows) const {
    for (auto& r : rows) r.created_at = isoNow();
    return insertMany(rows);
  }
  long long softDeleteUsersRpc(const std::vector<long long>& ids) const {
    return rpc("soft_delete_users", {{"ids", ids}}).get<long long>();
  }
};

// Returns the number of rows written, after printing what failed.
std::size_t insertReportingFailures(const pgrestify::Repository<User>& userRepo, const std::vector<User>& users) {
try {
  userRepo.bulkInsert(users);
} catch (const pgrestify::BulkOperationErrorOf<User>& e) {   // typed
  std::vector<User> written = e.rows();                     // the 7 rows the server returned
  for (std::size_t i : e.failedIndexes()) std::cerr << users[i].email << " failed\n";
  return written.size();
} catch (const pgrestify::BulkOperationError& e) {            // any row type
  const pgrestify::BulkResult<nlohmann::json>& r = e.result();  // counts, errors, data (JSON)
  return r.successful;
} catch (const pgrestify::Error& e) {                          // anything pgrestify throws
  std::cerr << e.status() << " " << e.code() << ": " << e.what() << "\n";
  return 0;
}
return users.size();
}

// Writes rows the role may not be allowed to read back; returns how many were written.
std::size_t writeBlind(const pgrestify::Repository<User>& userRepo, const std::vector<User>& users) {
  auto writer = userRepo.withoutReadBack();             // same table and client; readsBack() == false
  try {
    writer.bulkInsert(users, {.batchSize = 500});       // returns an empty vector
    return users.size();
  } catch (const pgrestify::BulkOperationError& e) {
    return e.result().successful;                       // the other rows were written
  }
}

// The criteria examples.
void criteria(const pgrestify::Repository<User>& userRepo, const std::vector<long long>& ids) {
userRepo.find({{"active", false}});                                   // active=eq.false
userRepo.find({{"active", false}, {"role", "admin"}});                 // both
userRepo.remove({{"id", pgrestify::in(ids)}});                        // id=in.(...)
userRepo.count({{"id", pgrestify::gt(100)}, {"id", pgrestify::lte(200)}});
userRepo.find({{"last_login", pgrestify::is(nullptr)}});
userRepo.find({{"role", pgrestify::notOf(pgrestify::eq("admin"))}});  // role=not.eq.admin
userRepo.find({{"email", pgrestify::like("*@example.com")}});
}

int main(int argc, char** argv) {
  std::string url = example::serverUrl(argc, argv);
  auto client = pgrestify::createClient({.url = url});
  auto userRepo = client.getRepository<User>("users");

  auto users = example::numberedUsers<User>(1, 5, "user", "user", [](User& u, int i) { u.role = i == 2 ? "admin" : "user"; });
  expect(overview(url, users) == 5, "overview: 5 inserted");
  expect(userRepo.findOne({{"id", 1}})->name == "user1" && userRepo.count({{"role", "admin"}}) == 1,
         "overview: findOne and count");

  // 10 rows, 3 of them violate the role CHECK: 7 are written, then the call throws.
  auto more = example::numberedUsers<User>(0, 9, "m", "m", [](User& u, int i) { u.role = i % 3 == 1 ? "root" : "user"; });
  expect(insertReportingFailures(userRepo, more) == 7, "insertReportingFailures: 7 written, 3 failed");
  expect(userRepo.count({{"email", pgrestify::like("m*")}}) == 7, "insertReportingFailures: 7 rows in the table");

  criteria(userRepo, {1, 2});
  expect(userRepo.count() == 10, "criteria: ids 1 and 2 removed");

  auto repo = client.getCustomRepository<UserRepository>("users");
  auto created = repo.bulkCreateUsers({{.name = "c1", .email = "c1@example.com"}, {.name = "c2", .email = "c2@example.com"}});
  expect(created.size() == 2 && created[0].created_at.has_value(), "bulkCreateUsers: 2 rows with created_at");
  expect(repo.softDeleteUsersRpc({*created[0].id, *created[1].id, 999999}) == 2, "softDeleteUsersRpc: 2 users");

  auto blind = example::numberedUsers<User>(0, 3, "w", "w", [](User& u, int i) { u.role = i == 3 ? "root" : "user"; });
  expect(writeBlind(userRepo, blind) == 3, "writeBlind: 3 written, 1 failed");
  expect(userRepo.count({{"email", pgrestify::like("w*")}}) == 3, "writeBlind: 3 rows in the table");

  return example::finish();
}
