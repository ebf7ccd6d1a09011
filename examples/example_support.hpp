// SPDX-License-Identifier: MIT
// The plumbing the example programs share, so that each example holds only what it shows about
// pgrestify: the server URL from the command line, the self-checks (exit status 0 = every check
// held), an ISO-8601 timestamp, and numbered user rows to seed the tables with.
#pragma once

#include <pgrestify/pgrestify.hpp>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace example {

/// The PostgREST URL: the first argument (CTest's run-example.sh passes the test server's there),
/// else $PGRESTIFY_TEST_URL, else http://localhost:3000.
inline std::string serverUrl(int argc, char** argv) {
  if (argc > 1) return argv[1];
  const char* env = std::getenv("PGRESTIFY_TEST_URL");
  return env ? env : "http://localhost:3000";
}

inline int& failureCount() {
  static int failures = 0;
  return failures;
}

/// Records one self-check and prints it ("ok" or "FAIL" and what was expected).
inline void expect(bool ok, const std::string& what) {
  std::cout << (ok ? "ok    " : "FAIL  ") << what << std::endl;
  if (!ok) ++failureCount();
}

inline bool anyFailed() { return failureCount() > 0; }

/// Prints the verdict; main returns it (EXIT_FAILURE when a check failed).
inline int finish() {
  if (anyFailed()) {
    std::cout << "FAILED checks: " << failureCount() << std::endl;
    return EXIT_FAILURE;
  }
  std::cout << "all checks passed" << std::endl;
  return EXIT_SUCCESS;
}

/// The current UTC time as ISO 8601 ("2025-01-31T12:00:00Z"), for timestamptz columns.
inline std::string isoNow() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// Users i = first..last (inclusive) named `<name><i>` with the email `<mailbox><i>@example.com`;
/// `adjust(user, i)` may set the other columns of each.
template <class User, class Adjust>
std::vector<User> numberedUsers(int first, int last, const std::string& name, const std::string& mailbox,
                                Adjust adjust) {
  std::vector<User> users;
  for (int i = first; i <= last; ++i) {
    User u{};
    u.name = name + std::to_string(i);
    u.email = mailbox + std::to_string(i) + "@example.com";
    adjust(u, i);
    users.push_back(std::move(u));
  }
  return users;
}

template <class User>
std::vector<User> numberedUsers(int first, int last, const std::string& name, const std::string& mailbox) {
  return numberedUsers<User>(first, last, name, mailbox, [](User&, int) {});
}

}  // namespace example
