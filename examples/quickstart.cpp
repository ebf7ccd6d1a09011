// SPDX-License-Identifier: MIT
// The README example: insert typed rows in batches and read them back.
// Usage: quickstart [URL]   (default: $PGRESTIFY_TEST_URL, then http://localhost:3000)
#include <pgrestify/pgrestify.hpp>

#include <cstdlib>
#include <iostream>

struct User {
  std::optional<long long> id;  // empty: omitted, so the database default applies
  std::string name;
  std::string email;
  std::optional<std::string> role;
};
PGRESTIFY_ROW(User, id, name, email, role)

int main(int argc, char** argv) {
  const char* env = std::getenv("PGRESTIFY_TEST_URL");
  std::string url = argc > 1 ? argv[1] : env ? env : "http://localhost:3000";

  auto client = pgrestify::createClient({.url = url});
  std::vector<User> users;
  for (int i = 0; i < 1000; ++i) {
    users.push_back({.name = "User " + std::to_string(i), .email = "quickstart" + std::to_string(i) + "@example.com"});
  }
  auto result = client.from<User>("users").bulkInsert(users, {.batchSize = 100, .onConflict = pgrestify::OnConflict::Ignore,
                                                              .conflictColumns = {"email"}});
  std::cout << "inserted " << result.successful << ", skipped " << result.skipped << ", failed " << result.failed
            << " in " << result.requests << " requests\n";

  auto some = client.from<User>("users").like("email", "quickstart*").order("id").limit(3).find();
  for (const auto& u : some) std::cout << "  #" << u.id.value_or(0) << " " << u.name << " <" << u.email << "> " << u.role.value_or("?") << "\n";
  return result.ok() && some.size() == 3 ? EXIT_SUCCESS : EXIT_FAILURE;
}
