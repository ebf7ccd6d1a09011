// SPDX-License-Identifier: MIT
// The real-world examples of docs/bulk-operations.md (data migration, CSV import, best
// practices), verbatim (tests/docs checks them). CTest passes the test server's URL as argv[1];
// the program checks its own expectations (exit status 0 = they held) with the helpers of
// example_support.hpp.
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <chrono>
#include <cstddef>
#include <iterator>
#include <iostream>
#include <type_traits>
#include <utility>
#include <sstream>
#include <string>
#include <vector>

struct User {
  std::optional<long long> id;
  std::string name;
  std::string email;
  std::optional<std::string> role;
  std::optional<bool> active;
};
PGRESTIFY_ROW(User, id, name, email, role, active)

using example::expect;

// Copies every user into other.notes (another schema, through a second client), one page at a time.
std::size_t migrateUsers(const std::string& url) {
  auto source = pgrestify::createClient({.url = url});
  auto target = pgrestify::createClient({.url = url, .schema = "other"});
  long long lastId = 0;
  std::size_t migrated = 0;
  for (;;) {
    // Keyset paging: stable and cheap however large the table (no OFFSET scans).
    auto page = source.from<User>("users").gt("id", lastId).order("id").limit(500).find();
    if (page.empty()) break;
    std::vector<nlohmann::json> notes;
    for (const User& u : page) notes.push_back({{"id", *u.id}, {"body", u.name + " <" + u.email + ">"}});
    // An upsert on the key: running the migration again rewrites the same rows, never duplicates them.
    auto r = target.from("notes").bulkUpsert(notes, {.conflictColumns = {"id"}, .batchSize = 200});
    if (!r.ok()) {
      std::cerr << "page after id " << lastId << ": " << r.failed << " rows failed\n";
      break;
    }
    migrated += r.successful;
    lastId = *page.back().id;
  }
  std::cout << "Migration completed: " << migrated << " users migrated\n";
  return migrated;
}

// A single-pass input range over the rows parsed from the lines of a stream, one line at a time.
template <class Parse>
class LineRows {
 public:
  using Row = std::invoke_result_t<Parse, const std::string&>;
  LineRows(std::istream& in, Parse parse) : in_(&in), parse_(std::move(parse)) { next(); }
  struct Iterator {
    using value_type = Row;
    using difference_type = std::ptrdiff_t;
    LineRows* rows = nullptr;
    const Row& operator*() const { return rows->row_; }
    Iterator& operator++() { rows->next(); return *this; }
    void operator++(int) { rows->next(); }
    bool operator==(std::default_sentinel_t) const { return rows->done_; }
  };
  Iterator begin() { return {this}; }
  std::default_sentinel_t end() const { return {}; }

 private:
  void next() {
    std::string line;
    done_ = !std::getline(*in_, line);
    if (!done_) row_ = parse_(line);
  }
  std::istream* in_;
  Parse parse_;
  Row row_{};
  bool done_ = false;
};

// Name,Email,Status without quoted fields (use `pgrestify import` for real-world CSV).
User toUser(const std::string& line) {
  std::istringstream fields(line);
  User u;
  std::string status;
  std::getline(fields, u.name, ',');
  std::getline(fields, u.email, ',');
  std::getline(fields, status, ',');
  u.active = status == "Active";
  return u;
}

pgrestify::BulkResult<User> importCsv(const pgrestify::Client& client, std::istream& csv) {
  std::string header;
  std::getline(csv, header);
  LineRows users(csv, toUser);  // read lazily, in one pass
  auto result = client.from<User>("users").bulkInsert(users, {
      .batchSize = 1000, .onConflict = pgrestify::OnConflict::Ignore, .conflictColumns = {"email"}});
  for (const auto& e : result.errors)
    for (std::size_t i : e.indexes) std::cerr << "line " << i + 2 << ": " << e.message << "\n";
  return result;
}

// The recommended shape of a bulk call in a job.
bool syncUsers(const pgrestify::Client& client, const std::vector<User>& users) {
  auto result = client.from<User>("users").bulkUpsert(users, {
      .conflictColumns = {"email"},  // the unique key rows are matched on
      .deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10)});  // no new request after 10 min
  for (const auto& e : result.errors) std::cerr << "row " << e.indexes.front() << ": " << e.message << "\n";
  return result.ok();  // false when a row failed or was not processed
}

int main(int argc, char** argv) {
  std::string url = example::serverUrl(argc, argv);
  auto client = pgrestify::createClient({.url = url});

  auto users = example::numberedUsers<User>(0, 1233, "user ", "u");  // user 0 <u0@example.com> .. user 1233
  expect(client.from<User>("users").bulkInsert(users).successful == 1234, "seed: 1234 users");
  expect(migrateUsers(url) == 1234, "migrateUsers: 1234 rows migrated");
  expect(migrateUsers(url) == 1234, "migrateUsers: a second run rewrites the same rows");
  auto target = pgrestify::createClient({.url = url, .schema = "other"});
  expect(target.from("notes").count() == 1234, "migrateUsers: 1234 notes, no duplicates");
  expect(target.from("notes").eq("body", "user 1233 <u1233@example.com>").count() == 1, "migrateUsers: the last user's note");
  client.rpc("reset_tables");

  std::stringstream csv;
  csv << "Name,Email,Status\n";
  for (int i = 0; i < 2500; ++i) csv << "Person " << i << ",p" << i << "@example.com," << (i % 2 ? "Active" : "Inactive") << "\n";
  csv << "Dup,p7@example.com,Active\n";  // line 2502: a duplicate email, skipped
  auto imported = importCsv(client, csv);
  expect(imported.ok() && imported.successful == 2500 && imported.skipped == 1, "importCsv: 2500 rows, 1 duplicate skipped");
  expect(client.from("users").eq("active", true).count() == 1250, "importCsv: Status mapped to active");

  std::vector<User> changes = {{.name = "Person 7 renamed", .email = "p7@example.com"},
                               {.name = "Newcomer", .email = "new@example.com"}};
  expect(syncUsers(client, changes), "syncUsers: ok");
  expect(client.from<User>("users").eq("email", "p7@example.com").findOne()->name == "Person 7 renamed",
         "syncUsers: the existing row updated");
  expect(client.from("users").count() == 2501, "syncUsers: one row added");

  return example::finish();
}
