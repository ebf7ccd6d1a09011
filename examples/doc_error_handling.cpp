// SPDX-License-Identifier: MIT
// The error-handling and validation examples of docs/bulk-operations.md, verbatim (tests/docs
// checks them). CTest passes the test server's URL as argv[1]; the program checks its own
// expectations (exit status 0 = they held) with the helpers of example_support.hpp.
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <chrono>
#include <iostream>
#include <set>
#include <string>
#include <vector>

struct User {
  std::optional<long long> id;
  std::string name;
  std::string email;
  std::optional<std::string> role;
};
PGRESTIFY_ROW(User, id, name, email, role)

using example::expect;

// Inserts rows, reports every failure by kind, then fixes and resends the rows that broke the role CHECK.
std::size_t insertAndReport(const pgrestify::Client& client, const std::vector<nlohmann::json>& rows) {
  // No retry loop around the call: transient failures are retried inside it, per request.
  pgrestify::RetryPolicy patient{.maxAttempts = 8, .initialBackoff = std::chrono::milliseconds(250),
                                 .maxBackoff = std::chrono::seconds(30)};
  auto result = client.from("users").bulkInsert(rows, {.batchSize = 100, .retry = patient});
  for (const pgrestify::BulkError& e : result.errors) {
    switch (e.kind) {
      case pgrestify::BulkErrorKind::Server:      // the database said no: constraint, type, permission
        std::cerr << "row " << e.indexes.front() << ": HTTP " << e.status << " [" << e.code << "] " << e.message
                  << (e.details.empty() ? "" : " (" + e.details + ")") << "\n";
        break;
      case pgrestify::BulkErrorKind::Transport:   // no answer, even after e.attempts attempts
        std::cerr << e.indexes.size() << " rows got no answer after " << e.attempts << " attempts"
                  << (e.outcomeUnknown ? "; they may have been written: check before resending" : "") << "\n";
        break;
      case pgrestify::BulkErrorKind::InvalidRow:  // never sent: not an object, NaN, invalid UTF-8
        std::cerr << "row " << e.indexes.front() << " is not a valid row: " << e.message << "\n";
        break;
      case pgrestify::BulkErrorKind::NotFound:    // bulkUpdate / bulkDelete only
        break;
    }
  }
  if (result.notProcessed) std::cerr << result.notProcessed << " rows were not attempted\n";

  // e.indexes are indexes into `rows`: fix what can be fixed and send only those rows again.
  std::vector<nlohmann::json> fixed;
  for (const auto& e : result.errors)
    if (e.code == "23514")
      for (std::size_t i : e.indexes) {
        nlohmann::json row = rows[i];
        row["role"] = "user";
        fixed.push_back(std::move(row));
      }
  auto second = client.from("users").bulkInsert(fixed);
  return result.successful + second.successful;
}

struct Invalid {
  std::size_t index;                // in the input
  std::vector<std::string> errors;
};

// Checks rows before sending them: cheaper than a failed row, and the message is yours.
std::vector<User> validateUsers(const std::vector<User>& users, std::vector<Invalid>& invalid) {
  static const std::set<std::string> roles = {"user", "admin", "guest"};
  std::vector<User> valid;
  for (std::size_t i = 0; i < users.size(); ++i) {
    std::vector<std::string> errors;
    if (users[i].name.find_first_not_of(" \t") == std::string::npos) errors.push_back("Name is required");
    if (users[i].email.find('@') == std::string::npos) errors.push_back("Valid email is required");
    if (users[i].role && !roles.contains(*users[i].role)) errors.push_back("Invalid role");
    if (errors.empty()) {
      valid.push_back(users[i]);
    } else {
      invalid.push_back({i, std::move(errors)});
    }
  }
  return valid;
}

pgrestify::BulkResult<User> insertValidUsers(const pgrestify::Client& client, const std::vector<User>& userData) {
  std::vector<Invalid> invalid;
  std::vector<User> valid = validateUsers(userData, invalid);
  for (const Invalid& bad : invalid) std::cerr << "row " << bad.index << ": " << bad.errors.front() << "\n";
  auto result = client.from<User>("users").bulkInsert(valid, {
      .batchSize = 100, .onConflict = pgrestify::OnConflict::Ignore, .conflictColumns = {"email"}});
  std::cout << "Successfully processed " << result.successful << " valid records\n";
  return result;
}

int main(int argc, char** argv) {
  auto client = pgrestify::createClient({.url = example::serverUrl(argc, argv)});

  std::vector<nlohmann::json> rows = {
      {{"name", "Ann"}, {"email", "ann@example.com"}},
      {{"name", "Ann again"}, {"email", "ann@example.com"}},              // 23505: duplicate email
      {{"name", "Bob"}, {"email", "bob@example.com"}, {"role", "boss"}},  // 23514: role CHECK
      nlohmann::json::array({"not", "an", "object"}),                     // InvalidRow
      {{"name", "Cid"}, {"email", "cid@example.com"}},
  };
  std::size_t written = insertAndReport(client, rows);
  auto bob = client.from<User>("users").eq("email", "bob@example.com").findOne();
  expect(written == 3, "insertAndReport: Ann, Cid, then the fixed Bob");
  expect(bob && bob->role == std::optional<std::string>("user"), "insertAndReport: Bob resent with role user");
  expect(client.from("users").count() == 3, "insertAndReport: 3 rows in the table");

  auto direct = client.from("users").bulkInsert(rows);
  expect(direct.failed == 5 && direct.errors.size() == 5 && direct.errors[3].kind == pgrestify::BulkErrorKind::InvalidRow &&
             direct.errors[2].code == "23514" && direct.errors[0].code == "23505",
         "the same rows again: every row fails, each with its own kind/code");
  if (example::anyFailed()) {
    for (const auto& e : direct.errors)
      std::cerr << "  row " << e.indexes.front() << " (" << e.indexes.size() << " rows) kind " << static_cast<int>(e.kind)
                << " HTTP " << e.status << " [" << e.code << "] " << e.message << ", " << e.attempts << " attempts\n";
  }
  client.rpc("reset_tables");

  std::vector<User> userData = {{.name = "Dee", .email = "dee@example.com"},
                                {.name = " ", .email = "blank@example.com"},
                                {.name = "Eve", .email = "not-an-email"},
                                {.name = "Fay", .email = "fay@example.com", .role = "root"},
                                {.name = "Gus", .email = "gus@example.com", .role = "admin"},
                                {.name = "Dee twin", .email = "dee@example.com"}};
  std::vector<Invalid> invalid;
  auto valid = validateUsers(userData, invalid);
  expect(valid.size() == 3 && invalid.size() == 3 && invalid[0].index == 1 && invalid[2].errors.front() == "Invalid role",
         "validateUsers: 3 valid, rows 1, 2, 3 invalid");
  auto result = insertValidUsers(client, userData);
  expect(result.ok() && result.successful == 2 && result.skipped == 1, "insertValidUsers: 2 written, 1 duplicate skipped");
  expect(client.from("users").count() == 2, "insertValidUsers: 2 rows in the table");

  return example::finish();
}
