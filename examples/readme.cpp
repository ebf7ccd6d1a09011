// SPDX-License-Identifier: MIT
// The README example, verbatim (tests/docs checks it). CTest passes the test server's URL as argv[1].
#include <pgrestify/pgrestify.hpp>

#include <iostream>

struct User {
  std::optional<long long> id;  // empty optionals are omitted: the column default applies
  std::string name;
  std::string email;
};
PGRESTIFY_ROW(User, id, name, email)

int main(int argc, char** argv) {
  std::string url = argc > 1 ? argv[1] : "http://localhost:3000";
  auto client = pgrestify::createClient({.url = url});
  std::vector<User> users{{.name = "Ann", .email = "ann@example.com"}, {.name = "Bob", .email = "bob@example.com"}};
  auto result = client.from<User>("users").bulkInsert(users, {.batchSize = 500, .returning = true});
  std::cout << result.successful << " written, " << result.failed << " failed\n";
  for (const auto& e : result.errors) std::cout << "row " << e.indexes.front() << ": " << e.message << "\n";
  auto found = client.from<User>("users").like("email", "*@example.com").order("id").find();
  return result.ok() && found.size() == 2 ? 0 : 1;
}
