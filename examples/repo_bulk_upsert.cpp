// SPDX-License-Identifier: MIT
// Repository pattern, bulk upsert (docs/repository.md): getRepository<User>().bulkUpsert, upserts
// through save, and a custom repository with the reference docs' bulkUpsertUsers,
// bulkUpsertWithConflictResolution and smartBulkUpsert.
// Usage: repo_bulk_upsert [URL]   (default: $PGRESTIFY_TEST_URL, then http://localhost:3000)
// Checks with the helpers of example_support.hpp.
// Expects empty tables; exits non-zero when one of its checks fails.
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <vector>

struct User {
  std::optional<long long> id;
  std::string name;
  std::string email;
  std::optional<std::string> role;
  std::optional<std::string> created_at;
  std::optional<std::string> updated_at;
};
PGRESTIFY_ROW(User, id, name, email, role, created_at, updated_at)

using nlohmann::json;

using example::expect;
using example::isoNow;

namespace {

/// `{ ...existing, ...user }`: the existing row with the given user's columns laid over it.
json merge(const User& existing, const json& user) {
  json merged = existing;
  merged.update(user);
  return merged;
}

struct UpsertAction {
  std::string action;  // "created", "updated" or "error"
  json user;
  std::string error;
};

struct UpsertSummary {
  std::vector<User> inserted;
  std::vector<User> updated;
  std::size_t total = 0;
};

class UserRepository : public pgrestify::CustomRepositoryBase<User> {
 public:
  using CustomRepositoryBase::CustomRepositoryBase;

  // One user at a time: findOne by email, then save the merged row (update) or a new one (insert).
  std::vector<UpsertAction> bulkUpsertUsers(const std::vector<json>& userData) const {
    std::vector<UpsertAction> results;
    for (const auto& user : userData) {
      try {
        auto existing = findOne({{"email", user.at("email")}});
        if (existing) {
          results.push_back({"updated", save(merge(*existing, user)), {}});
        } else {
          json created = user;
          created["created_at"] = isoNow();
          results.push_back({"created", save(created), {}});
        }
      } catch (const pgrestify::Error& error) {
        std::cout << "      failed to upsert user " << user.value("email", "?") << ": " << error.message() << "\n";
        results.push_back({"error", user, error.message()});
      }
    }
    return results;
  }

  // Insert ignoring conflicts, then update the users that were not inserted.
  UpsertSummary bulkUpsertWithConflictResolution(const std::vector<json>& userData) const {
    UpsertSummary out;
    out.inserted = insertMany(userData, {.onConflict = pgrestify::OnConflict::Ignore, .conflictColumns = {"email"}});
    std::cout << "      inserted " << out.inserted.size() << " new users\n";
    std::set<std::string> insertedEmails;
    for (const auto& u : out.inserted) insertedEmails.insert(u.email);
    for (const auto& user : userData) {
      if (insertedEmails.count(user.at("email").get<std::string>())) continue;
      if (auto existing = findOne({{"email", user.at("email")}})) out.updated.push_back(save(merge(*existing, user)));
    }
    std::cout << "      updated " << out.updated.size() << " existing users\n";
    out.total = out.inserted.size() + out.updated.size();
    return out;
  }

  // One query finds the existing users; the new ones go in one insertMany, the others are saved.
  UpsertSummary smartBulkUpsert(const std::vector<json>& userData) const {
    std::vector<std::string> emails;
    for (const auto& u : userData) {
      if (u.contains("email")) emails.push_back(u["email"].get<std::string>());
    }
    auto existingUsers = createQueryBuilder().in("email", emails).find();
    std::set<std::string> existingEmails;
    for (const auto& e : existingUsers) existingEmails.insert(e.email);

    std::vector<json> toInsert;
    std::vector<json> toUpdate;
    for (const auto& u : userData) (existingEmails.count(u.value("email", "")) ? toUpdate : toInsert).push_back(u);

    UpsertSummary out;
    if (!toInsert.empty()) out.inserted = insertMany(toInsert);
    for (const auto& user : toUpdate) {
      auto existing = std::find_if(existingUsers.begin(), existingUsers.end(),
                                   [&](const User& e) { return e.email == user["email"]; });
      out.updated.push_back(save(merge(*existing, user)));
    }
    out.total = out.inserted.size() + out.updated.size();
    return out;
  }
};

}  // namespace

int main(int argc, char** argv) try {
  auto client = pgrestify::createClient({.url = example::serverUrl(argc, argv)});
  auto userRepo = client.getRepository<User>("users");
  userRepo.insertMany(std::vector<User>{{.name = "Existing", .email = "existing@example.com"}});

  // ---- Method 1: repository bulk upsert ----
  std::vector<json> userData{{{"email", "existing@example.com"}, {"name", "Updated Name"}},
                             {{"email", "new@example.com"}, {"name", "New User"}, {"role", "user"}}};
  auto result = userRepo.bulkUpsert(userData, {.conflictColumns = {"email"}, .batchSize = 50});
  std::cout << "Upserted " << result.size() << " users\n";
  expect(result.size() == 2 && result[0].id == 1 && result[0].name == "Updated Name" && userRepo.count() == 2,
         "bulkUpsert updates the existing user and inserts the new one");

  // ---- Method 2: save (without a primary key it inserts, so an existing email fails) ----
  std::vector<json> saveData{{{"email", "existing@example.com"}, {"name", "Again"}},
                             {{"email", "saved@example.com"}, {"name", "Saved"}}};
  std::vector<User> upsertResults;
  for (const auto& user : saveData) {
    try {
      upsertResults.push_back(userRepo.save(user));
    } catch (const pgrestify::Error& error) {
      std::cout << "      failed to upsert user " << user["email"] << ": " << error.code() << "\n";
    }
  }
  std::cout << "Manually upserted " << upsertResults.size() << " users\n";
  expect(upsertResults.size() == 1 && upsertResults[0].email == "saved@example.com", "save inserts the new user only");

  // ---- custom repository ----
  auto customUserRepo = client.getCustomRepository<UserRepository>("users");

  std::vector<json> batch1{{{"email", "new@example.com"}, {"name", "New User v2"}},
                           {{"email", "fresh@example.com"}, {"name", "Fresh"}},
                           {{"email", "bad@example.com"}, {"name", "Bad"}, {"role", "superuser"}}};
  auto upsertResult = customUserRepo.bulkUpsertUsers(batch1);
  auto countOf = [&](const std::string& action) {
    return std::count_if(upsertResult.begin(), upsertResult.end(), [&](const UpsertAction& r) { return r.action == action; });
  };
  std::cout << "Upsert results: created " << countOf("created") << ", updated " << countOf("updated") << ", errors "
            << countOf("error") << "\n";
  expect(countOf("created") == 1 && countOf("updated") == 1 && countOf("error") == 1 &&
             customUserRepo.findOne({{"email", "new@example.com"}})->name == "New User v2",
         "bulkUpsertUsers: 1 created, 1 updated, 1 error");

  std::vector<json> batch2{{{"email", "fresh@example.com"}, {"name", "Fresh v2"}},
                           {{"email", "another@example.com"}, {"name", "Another"}}};
  auto resolved = customUserRepo.bulkUpsertWithConflictResolution(batch2);
  expect(resolved.inserted.size() == 1 && resolved.updated.size() == 1 && resolved.total == 2 &&
             customUserRepo.findOne({{"email", "fresh@example.com"}})->name == "Fresh v2",
         "bulkUpsertWithConflictResolution: 1 inserted, 1 updated");

  std::vector<json> batch3{{{"email", "existing@example.com"}, {"name", "Smart Updated"}},
                           {{"email", "smart1@example.com"}, {"name", "Smart One"}},
                           {{"email", "smart2@example.com"}, {"name", "Smart Two"}, {"role", "admin"}}};
  auto smartResult = customUserRepo.smartBulkUpsert(batch3);
  std::cout << "Smart upsert: " << smartResult.inserted.size() << " inserted, " << smartResult.updated.size() << " updated\n";
  expect(smartResult.inserted.size() == 2 && smartResult.updated.size() == 1 && smartResult.updated[0].id == 1 &&
             smartResult.updated[0].name == "Smart Updated",
         "smartBulkUpsert: 2 inserted, existing user 1 updated");
  expect(customUserRepo.count() == 7 && customUserRepo.count({{"role", "admin"}}) == 1, "7 users in the table, 1 admin");

  return example::finish();
} catch (const std::exception& e) {
  std::cerr << "unexpected exception: " << e.what() << "\n";
  return EXIT_FAILURE;
}
