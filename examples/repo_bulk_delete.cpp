// SPDX-License-Identifier: MIT
// Repository pattern, bulk delete (docs/repository.md): getRepository<User>().bulkDelete and
// remove, and a custom repository with the reference docs' bulkDeleteUsers, softDeleteUsers and
// deleteInactiveUsers. The reference's raw SQL (`this.query(...)`) becomes a call of a PostgreSQL
// function through PostgREST (rpc): soft_delete_users and delete_inactive_users of
// tests/integration/schema.sql.
// Usage: repo_bulk_delete [URL]   (default: $PGRESTIFY_TEST_URL, then http://localhost:3000)
// Checks with the helpers of example_support.hpp.
// Expects empty tables and the test schema's functions; exits non-zero when a check fails.
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

struct User {
  std::optional<long long> id;
  std::string name;
  std::string email;
  std::optional<bool> active;
  std::optional<std::string> last_login;
  std::optional<std::string> deleted_at;
};
PGRESTIFY_ROW(User, id, name, email, active, last_login, deleted_at)

using example::expect;
using example::isoNow;

namespace {

struct FailedDelete {
  long long id;
  std::string error;
};
struct DeleteSummary {
  std::vector<User> deleted;
  std::vector<FailedDelete> failed;
};

class UserRepository : public pgrestify::CustomRepositoryBase<User> {
 public:
  using CustomRepositoryBase::CustomRepositoryBase;

  // Deletes in batches of 50 ids; a failed batch is reported with its ids.
  DeleteSummary bulkDeleteUsers(const std::vector<long long>& userIds) const {
    DeleteSummary results;
    const std::size_t batchSize = 50;
    for (std::size_t i = 0; i < userIds.size(); i += batchSize) {
      std::vector<long long> batch(userIds.begin() + static_cast<std::ptrdiff_t>(i),
                                   userIds.begin() + static_cast<std::ptrdiff_t>(std::min(i + batchSize, userIds.size())));
      try {
        auto deleted = remove({{"id", pgrestify::in(batch)}});
        results.deleted.insert(results.deleted.end(), deleted.begin(), deleted.end());
      } catch (const pgrestify::Error& error) {
        std::cout << "      failed to delete batch: " << error.what() << "\n";
        for (auto id : batch) results.failed.push_back({id, error.message()});
      }
    }
    return results;
  }

  // Soft delete by marking as inactive (one PATCH for all ids).
  std::vector<User> softDeleteUsers(const std::vector<long long>& userIds) const {
    nlohmann::json updateData{{"active", false}, {"deleted_at", isoNow()}};
    return update({{"id", pgrestify::in(userIds)}}, updateData);
  }

  // The same in SQL, through the soft_delete_users(ids bigint[]) function; returns how many matched.
  long long softDeleteUsersRpc(const std::vector<long long>& userIds) const {
    return rpc("soft_delete_users", {{"ids", userIds}}).get<long long>();
  }

  // Users inactive since a date: find them with the query builder, then delete them in batches.
  DeleteSummary deleteInactiveUsers(const std::string& inactiveSince) const {
    auto usersToDelete = createQueryBuilder().select("id").eq("active", false).lt("last_login", inactiveSince).find();
    if (usersToDelete.empty()) return {};
    std::vector<long long> userIds;
    for (const auto& u : usersToDelete) userIds.push_back(*u.id);
    return bulkDeleteUsers(userIds);
  }

  // The same in SQL, through delete_inactive_users(before timestamptz) (which also deletes
  // inactive users that never logged in); returns how many were deleted.
  long long deleteInactiveUsersRpc(const std::string& inactiveSince) const {
    return rpc("delete_inactive_users", {{"before", inactiveSince}}).get<long long>();
  }
};

}  // namespace

int main(int argc, char** argv) try {
  auto client = pgrestify::createClient({.url = example::serverUrl(argc, argv)});
  auto userRepo = client.getRepository<User>("users");
  auto seed = example::numberedUsers<User>(1, 200, "User ", "u", [](User& u, int i) {
    if (i > 150) {  // 151..200: inactive; 151..175 last seen in 2022, 176..190 in 2024, 191..200 never
      u.active = false;
      if (i <= 175) u.last_login = "2022-06-01T00:00:00Z";
      else if (i <= 190) u.last_login = "2024-06-01T00:00:00Z";
    }
  });
  // One request (the default batch holds 1000 rows), so the ids follow the input order.
  auto seeded = userRepo.bulkInsert(seed);
  expect(seeded.size() == 200 && seeded.front().id == 1 && seeded.back().id == 200, "200 users with ids 1..200");

  // ---- Method 1: repository bulk delete ----
  std::vector<long long> idsToDelete{1, 2, 3, 4, 5};
  auto result = userRepo.bulkDelete(idsToDelete, {.matchColumn = "id", .batchSize = 100});
  std::cout << "Deleted " << result.size() << " records\n";
  expect(result.size() == 5 && !userRepo.findOne({{"id", 3}}), "bulkDelete deletes ids 1..5 and returns them");
  try {
    userRepo.bulkDelete(std::vector<long long>{6, 5});  // 5 is gone already
    expect(false, "bulkDelete of a missing id throws");
  } catch (const pgrestify::BulkOperationError& e) {
    expect(e.failedIndexes() == std::vector<std::size_t>{1} && e.result().successful == 1,
           "bulkDelete of a missing id throws, naming row 1; id 6 is deleted");
  }

  // ---- Method 2: remove (the reference's delete) with an `in` condition ----
  auto deleteResult = userRepo.remove({{"id", pgrestify::in(std::vector<long long>{7, 8, 9})}});
  std::cout << "Deleted " << deleteResult.size() << " users\n";
  expect(deleteResult.size() == 3, "remove({{\"id\", in(ids)}}) returns the 3 deleted users");

  // ---- Method 3: one remove per id ----
  std::vector<User> deletedUsers;
  std::vector<FailedDelete> failedDeletes;
  for (long long id : std::vector<long long>{10, 11, 9}) {
    try {
      auto deleted = userRepo.remove({{"id", id}});
      if (!deleted.empty()) {
        deletedUsers.insert(deletedUsers.end(), deleted.begin(), deleted.end());
      } else {
        failedDeletes.push_back({id, "User not found"});
      }
    } catch (const pgrestify::Error& error) {
      failedDeletes.push_back({id, error.message()});
    }
  }
  std::cout << "Successfully deleted: " << deletedUsers.size() << ", Failed: " << failedDeletes.size() << "\n";
  expect(deletedUsers.size() == 2 && failedDeletes.size() == 1 && failedDeletes[0].id == 9, "individual removes: 2 deleted, 1 not found");
  expect(userRepo.count() == 189, "189 users left");

  // ---- custom repository ----
  auto customUserRepo = client.getCustomRepository<UserRepository>("users");

  std::vector<long long> many;
  for (long long id = 12; id <= 111; ++id) many.push_back(id);  // 100 ids: 2 batches of 50
  auto bulkDeleteResult = customUserRepo.bulkDeleteUsers(many);
  std::cout << "Bulk delete: " << bulkDeleteResult.deleted.size() << " deleted, " << bulkDeleteResult.failed.size()
            << " failed\n";
  expect(bulkDeleteResult.deleted.size() == 100 && bulkDeleteResult.failed.empty() && customUserRepo.count() == 89,
         "bulkDeleteUsers deletes 100 users in 2 batches");

  auto softDeleted = customUserRepo.softDeleteUsers({112, 113, 114});
  std::cout << "Soft deleted " << softDeleted.size() << " users\n";
  expect(softDeleted.size() == 3 && softDeleted[0].deleted_at && softDeleted[0].active == false &&
             customUserRepo.count({{"deleted_at", pgrestify::notOf(pgrestify::is(nullptr))}}) == 3,
         "softDeleteUsers marks 3 users deleted and inactive");
  expect(customUserRepo.softDeleteUsersRpc({115, 116, 9999}) == 2 &&
             customUserRepo.count({{"deleted_at", pgrestify::notOf(pgrestify::is(nullptr))}}) == 5,
         "softDeleteUsersRpc (soft_delete_users) marks the 2 existing users");

  auto inactive = customUserRepo.deleteInactiveUsers("2023-01-01T00:00:00Z");
  expect(inactive.deleted.size() == 25 && customUserRepo.count({{"id", pgrestify::gt(150)}}) == 25,
         "deleteInactiveUsers deletes the 25 users last seen before 2023");
  expect(customUserRepo.deleteInactiveUsers("2023-01-01T00:00:00Z").deleted.empty(), "deleteInactiveUsers again: nothing left");

  // The function also deletes the inactive users who never logged in (191..200), and the 5 soft-deleted (inactive) ones.
  auto removedBySql = customUserRepo.deleteInactiveUsersRpc("2025-01-01T00:00:00Z");
  expect(removedBySql == 30 && customUserRepo.count({{"active", false}}) == 0 && customUserRepo.count() == 34,
         "deleteInactiveUsersRpc (delete_inactive_users) deletes the 30 remaining inactive users");

  return example::finish();
} catch (const std::exception& e) {
  std::cerr << "unexpected exception: " << e.what() << "\n";
  return EXIT_FAILURE;
}
