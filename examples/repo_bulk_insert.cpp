// SPDX-License-Identifier: MIT
// Repository pattern, bulk insert (docs/repository.md): getRepository<User>().bulkInsert /
// insertMany, and a custom repository with the reference docs' bulkCreateUsers,
// bulkInsertWithValidation, bulkInsertWithDuplicateHandling, bulkInsertInBatches and upsertUsers.
// Usage: repo_bulk_insert [URL]   (default: $PGRESTIFY_TEST_URL, then http://localhost:3000)
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
  std::optional<std::string> created_at;
};
PGRESTIFY_ROW(User, id, name, email, role, created_at)

using example::expect;
using example::isoNow;

namespace {

class UserRepository : public pgrestify::CustomRepositoryBase<User> {
 public:
  using CustomRepositoryBase::CustomRepositoryBase;

  // Add timestamps to all users, then insert them.
  std::vector<User> bulkCreateUsers(std::vector<User> userData) const {
    const std::string now = isoNow();
    for (auto& user : userData) user.created_at = now;
    return insertMany(userData);
  }

  // Validate data before inserting.
  std::vector<User> bulkInsertWithValidation(const std::vector<User>& userData) const {
    std::vector<User> validUsers;
    for (const auto& user : userData) {
      if (!user.name.empty() && user.email.find('@') != std::string::npos) validUsers.push_back(user);
    }
    if (validUsers.empty()) throw std::runtime_error("No valid users to insert");
    return insertMany(validUsers);
  }

  // The reference retries with onConflict 'ignore' after a conflict. Here the failing call has
  // already written every good row (only the duplicates failed), and the exception carries them.
  std::vector<User> bulkInsertWithDuplicateHandling(const std::vector<User>& userData) const {
    try {
      return insertMany(userData, {.onConflict = pgrestify::OnConflict::Error});
    } catch (const pgrestify::BulkOperationErrorOf<User>& e) {
      std::cout << "      conflicts detected at rows";
      for (auto i : e.failedIndexes()) std::cout << " " << i;
      std::cout << " (" << e.code() << "), keeping the " << e.rows().size() << " inserted rows\n";
      return e.rows();
    }
  }

  std::vector<User> bulkInsertInBatches(const std::vector<User>& userData, std::size_t batchSize = 100) const {
    std::vector<User> results;
    for (std::size_t i = 0; i < userData.size(); i += batchSize) {
      std::vector<User> batch(userData.begin() + static_cast<std::ptrdiff_t>(i),
                              userData.begin() + static_cast<std::ptrdiff_t>(std::min(i + batchSize, userData.size())));
      std::cout << "      processing batch " << i / batchSize + 1 << "...\n";
      auto batchResult = insertMany(batch, {.onConflict = pgrestify::OnConflict::Ignore, .conflictColumns = {"email"}});
      results.insert(results.end(), batchResult.begin(), batchResult.end());
    }
    return results;
  }

  // Repository-style upsert using save: users without an id are inserted; a failure (here a
  // duplicate email) is reported and skipped.
  std::vector<User> upsertUsers(const std::vector<User>& userData) const {
    std::vector<User> results;
    for (const auto& user : userData) {
      try {
        results.push_back(save(user));
      } catch (const pgrestify::Error& error) {
        std::cout << "      failed to upsert user " << user.email << ": HTTP " << error.status() << " " << error.code()
                  << "\n";
      }
    }
    return results;
  }
};

}  // namespace

int main(int argc, char** argv) try {
  auto client = pgrestify::createClient({.url = example::serverUrl(argc, argv)});

  // ---- getRepository: bulkInsert and insertMany ----
  auto userRepo = client.getRepository<User>("users");
  std::vector<User> users{{.name = "John Doe", .email = "john@example.com", .role = "user"},
                          {.name = "Jane Smith", .email = "jane@example.com", .role = "admin"},
                          {.name = "Bob Johnson", .email = "bob@example.com", .role = "user"}};
  auto result = userRepo.bulkInsert(users);
  std::cout << "Successfully inserted " << result.size() << " records\n";
  expect(result.size() == 3 && result[0].id && result[2].email == "bob@example.com", "bulkInsert returns the 3 rows with ids");

  auto options = pgrestify::BulkInsertOptions{.batchSize = 100, .returning = true, .onConflict = pgrestify::OnConflict::Ignore,
                                              .conflictColumns = {"email"}};
  auto again = userRepo.bulkInsert(users, options);
  expect(again.empty() && userRepo.count() == 3, "bulkInsert with onConflict Ignore skips the existing emails");
  auto insertWithIgnore = userRepo.insertMany(users, {.onConflict = pgrestify::OnConflict::Ignore, .conflictColumns = {"email"}});
  expect(insertWithIgnore.empty(), "insertMany with onConflict Ignore returns no rows for duplicates");

  // ---- custom repository ----
  auto customUserRepo = client.getCustomRepository<UserRepository>("users");

  std::vector<User> newUsers{{.name = "Ann", .email = "ann@example.com"}, {.name = "Ben", .email = "ben@example.com"}};
  auto createdUsers = customUserRepo.bulkCreateUsers(newUsers);
  std::cout << "Created " << createdUsers.size() << " users with custom repository\n";
  expect(createdUsers.size() == 2 && createdUsers[1].created_at &&
             createdUsers[1].created_at->substr(0, 10) == isoNow().substr(0, 10),
         "bulkCreateUsers inserts with created_at set");

  std::vector<User> mixed{{.name = "Cid", .email = "cid@example.com"},
                          {.name = "", .email = "noname@example.com"},
                          {.name = "Dee", .email = "not-an-email"}};
  auto validated = customUserRepo.bulkInsertWithValidation(mixed);
  expect(validated.size() == 1 && validated[0].email == "cid@example.com" && !customUserRepo.findOne({{"email", "not-an-email"}}),
         "bulkInsertWithValidation inserts only the valid user");
  bool threw = false;
  try {
    customUserRepo.bulkInsertWithValidation({{.name = "", .email = "x"}});
  } catch (const std::runtime_error& e) {
    threw = std::string(e.what()) == "No valid users to insert";
  }
  expect(threw, "bulkInsertWithValidation throws when nothing is valid");

  std::vector<User> withDuplicates{{.name = "Eve", .email = "eve@example.com"},
                                   {.name = "John again", .email = "john@example.com"},
                                   {.name = "Fay", .email = "fay@example.com"}};
  auto insertResult = customUserRepo.bulkInsertWithDuplicateHandling(withDuplicates);
  std::cout << "Inserted " << insertResult.size() << " users with duplicate handling\n";
  expect(insertResult.size() == 2 && customUserRepo.count() == 8, "bulkInsertWithDuplicateHandling keeps the 2 new users");

  auto many = example::numberedUsers<User>(0, 119, "Batch ", "batch");  // Batch 0 <batch0@example.com> .. Batch 119
  many.push_back({.name = "Jane dup", .email = "jane@example.com"});
  auto batchResult = customUserRepo.bulkInsertInBatches(many, 50);
  std::cout << "Batch processed " << batchResult.size() << " users\n";
  expect(batchResult.size() == 120 && customUserRepo.count({{"email", pgrestify::like("batch*")}}) == 120,
         "bulkInsertInBatches inserts 120 users in 3 batches, skipping the duplicate");

  std::vector<User> toUpsert{{.name = "Gus", .email = "gus@example.com"}, {.name = "Ann dup", .email = "ann@example.com"}};
  auto upserted = customUserRepo.upsertUsers(toUpsert);
  expect(upserted.size() == 1 && upserted[0].email == "gus@example.com" && upserted[0].id,
         "upsertUsers saves the new user and reports the duplicate");
  expect(customUserRepo.findOne({{"email", "ann@example.com"}})->name == "Ann", "the duplicate left the existing row alone");

  return example::finish();
} catch (const std::exception& e) {
  std::cerr << "unexpected exception: " << e.what() << "\n";
  return EXIT_FAILURE;
}
