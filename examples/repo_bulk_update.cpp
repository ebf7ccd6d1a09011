// SPDX-License-Identifier: MIT
// Repository pattern, bulk update (docs/repository.md): getRepository<User>().bulkUpdate, updates
// through findOne + save, and a custom repository with the reference docs' bulkUpdateUsers,
// bulkUpdateWithValidation and bulkUpdateStatus.
// Usage: repo_bulk_update [URL]   (default: $PGRESTIFY_TEST_URL, then http://localhost:3000)
// Checks with the helpers of example_support.hpp.
// Expects empty tables; exits non-zero when one of its checks fails.
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

struct User {
  std::optional<long long> id;
  std::string name;
  std::string email;
  std::optional<std::string> role;
  std::optional<bool> active;
  std::optional<std::string> updated_at;
};
PGRESTIFY_ROW(User, id, name, email, role, active, updated_at)

using nlohmann::json;

using example::expect;
using example::isoNow;

namespace {

class UserRepository : public pgrestify::CustomRepositoryBase<User> {
 public:
  using CustomRepositoryBase::CustomRepositoryBase;

  // Each update is {"id": ..., <columns to change>}: one update() per row; failures are reported
  // and skipped.
  std::vector<User> bulkUpdateUsers(const std::vector<json>& updates) const {
    std::vector<User> results;
    for (const auto& update : updates) {
      try {
        json updateData = update;
        updateData.erase("id");
        auto updated = this->update({{"id", update.at("id")}}, updateData);
        results.insert(results.end(), updated.begin(), updated.end());
      } catch (const pgrestify::Error& error) {
        std::cout << "      failed to update user " << update.at("id") << ": " << error.code() << " " << error.message()
                  << "\n";
      }
    }
    return results;
  }

  std::vector<User> bulkUpdateWithValidation(const std::vector<json>& updates) const {
    std::vector<json> validUpdates;
    for (const auto& update : updates) {
      if (update.contains("id") && (update.contains("name") || update.contains("email") || update.contains("role"))) {
        validUpdates.push_back(update);
      }
    }
    if (validUpdates.empty()) throw std::runtime_error("No valid updates provided");
    return bulkUpdateUsers(validUpdates);
  }

  std::vector<User> bulkUpdateStatus(const std::vector<long long>& userIds, bool active) const {
    std::vector<json> updates;
    const std::string now = isoNow();
    for (auto id : userIds) updates.push_back({{"id", id}, {"active", active}, {"updated_at", now}});
    return bulkUpdateUsers(updates);
  }
};

}  // namespace

int main(int argc, char** argv) try {
  auto client = pgrestify::createClient({.url = example::serverUrl(argc, argv)});
  auto userRepo = client.getRepository<User>("users");
  auto seed = example::numberedUsers<User>(1, 6, "User ", "u");  // User 1 <u1@example.com> .. User 6
  auto seeded = userRepo.bulkInsert(seed);
  expect(seeded.size() == 6 && *seeded.front().id == 1, "6 users with ids 1..6");

  // ---- Method 1: repository bulk update (partial rows, so JSON objects) ----
  std::vector<json> userUpdates{{{"id", 1}, {"name", "John Updated"}, {"active", true}},
                                {{"id", 2}, {"name", "Jane Updated"}, {"active", false}},
                                {{"id", 3}, {"role", "admin"}}};  // partial update
  auto result = userRepo.bulkUpdate(userUpdates, {.matchColumn = "id", .batchSize = 50});
  std::cout << "Updated " << result.size() << " records\n";
  expect(result.size() == 3, "bulkUpdate returns the 3 updated rows");
  expect(userRepo.findOne({{"id", 2}})->name == "Jane Updated" && userRepo.findOne({{"id", 3}})->role == "admin",
         "the rows hold the new values");

  // A key that matches nothing makes the call throw; the other rows are updated.
  try {
    userRepo.bulkUpdate(std::vector<json>{{{"id", 4}, {"name", "Four"}}, {{"id", 404}, {"name", "nobody"}}});
    expect(false, "bulkUpdate with an unknown id throws");
  } catch (const pgrestify::BulkOperationError& e) {
    expect(e.failedIndexes() == std::vector<std::size_t>{1} && e.errors()[0].kind == pgrestify::BulkErrorKind::NotFound &&
               e.result().successful == 1,
           "bulkUpdate with an unknown id throws BulkOperationError naming row 1 (NotFound)");
  }

  // ---- Method 2: findOne + save ----
  std::vector<User> updatedUsers;
  for (const auto& update : userUpdates) {
    auto user = userRepo.findOne({{"id", update["id"]}});
    if (user) {
      json merged = *user;
      merged.update(update);                    // { ...user, ...update }
      merged["name"] = merged["name"].get<std::string>() + " (saved)";
      updatedUsers.push_back(userRepo.save(merged));
    }
  }
  std::cout << "Updated " << updatedUsers.size() << " users with save method\n";
  expect(updatedUsers.size() == 3 && updatedUsers[0].name == "John Updated (saved)", "save updates by primary key");

  // ---- custom repository ----
  auto customUserRepo = client.getCustomRepository<UserRepository>("users");
  std::vector<json> customUpdates{{{"id", 4}, {"name", "Four"}},
                                  {{"id", 5}, {"role", "superuser"}},  // violates the role check: reported, skipped
                                  {{"id", 6}, {"email", "six@example.com"}}};
  auto updateResult = customUserRepo.bulkUpdateUsers(customUpdates);
  std::cout << "Updated " << updateResult.size() << " users with custom repository\n";
  expect(updateResult.size() == 2 && customUserRepo.findOne({{"id", 5}})->role == "user",
         "bulkUpdateUsers updates 2 users and skips the invalid one");

  auto validated = customUserRepo.bulkUpdateWithValidation({{{"id", 6}, {"name", "Six"}}, {{"id", 5}, {"active", false}}});
  expect(validated.size() == 1 && validated[0].name == "Six", "bulkUpdateWithValidation drops updates without name/email/role");
  bool threw = false;
  try {
    customUserRepo.bulkUpdateWithValidation({{{"id", 5}, {"active", false}}});
  } catch (const std::runtime_error& e) {
    threw = std::string(e.what()) == "No valid updates provided";
  }
  expect(threw, "bulkUpdateWithValidation throws when nothing is valid");

  auto before = customUserRepo.findOne({{"id", 1}})->updated_at;
  auto statusResult = customUserRepo.bulkUpdateStatus({1, 2, 3}, false);
  expect(statusResult.size() == 3 && customUserRepo.count({{"active", false}}) == 3,
         "bulkUpdateStatus deactivates users 1, 2, 3");
  expect(statusResult[0].updated_at && statusResult[0].updated_at != before, "bulkUpdateStatus sets updated_at");

  return example::finish();
} catch (const std::exception& e) {
  std::cerr << "unexpected exception: " << e.what() << "\n";
  return EXIT_FAILURE;
}
