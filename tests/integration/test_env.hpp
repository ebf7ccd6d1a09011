// SPDX-License-Identifier: MIT
// Shared helpers of the integration tests: the servers started by the CTest fixture, a client on
// them, direct SQL for checking what is really in the tables, and a request-counting transport.
#pragma once

#include <pgrestify/pgrestify.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>

namespace pgrestify::test {

/// The servers of this test run (from the fixture's env file or PGRESTIFY_TEST_* variables).
struct TestServer {
  std::string url;  ///< PostgREST base URL
  std::string jwt;  ///< a token for role web_user
  std::string jwtSecret;
  std::string pgUri;      ///< superuser connection URI
  std::string dir;        ///< testenv directory (empty for a developer's own server)
  std::string psql;       ///< psql binary
  std::string echoUrl;    ///< a server that is not PostgREST: answers at once, quoting the request (fixture.sh)
  std::string silentUrl;  ///< a server that accepts connections and never answers (fixture.sh)
  // nginx terminating TLS in front of `url` and requiring a client certificate (fixture.sh; empty
  // when nginx is not installed).
  std::string tlsUrl;           ///< https://127.0.0.1:PORT
  std::string tlsCa;            ///< the CA that signed the server and client certificates (PEM)
  std::string tlsCert;          ///< client certificate (PEM)
  std::string tlsKey;           ///< its key (PEM, no pass phrase)
  std::string tlsKeyEncrypted;  ///< the same key protected by tlsKeyPassword
  std::string tlsKeyPassword;
  std::string tlsWrongCa;  ///< a CA that signed nothing here
  std::string
      commitUrl;  ///< a second PostgREST on the same database with the default `db-tx-end = commit` (fixture.sh)
  /// HAProxy in front of three PostgREST replicas on the same database (fixture.sh, `testenv.sh
  /// start-lb`; empty when haproxy is not installed or the servers are the developer's own).
  std::string lbUrl;
};

/// The servers, or nullptr when none is configured.
const TestServer* server();
/// True when a missing server must fail the tests (CI or PGRESTIFY_REQUIRE_SERVER=1).
bool serverRequired();

/// Runs SQL as superuser with psql -At and returns its output (trailing newline removed).
/// Throws std::runtime_error when psql fails.
std::string sql(const std::string& statement);
/// sql() parsed as an integer.
long long sqlCount(const std::string& statement);
/// Runs `scripts/testenv.sh <subcommand> <dir>` (restart-postgrest, stop-postgres...); returns its exit status.
int testenv(const std::string& subcommand);
/// Runs `scripts/testenv.sh <subcommand> <dir> <args>` (kill-replica DIR 2...); returns its exit status.
int testenv(const std::string& subcommand, const std::string& args);

/// A transport that forwards to another one and counts requests by method.
class CountingTransport : public Transport {
 public:
  explicit CountingTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {}
  std::unique_ptr<TransportSession> openSession() override;
  std::size_t count(const std::string& method) const;
  std::size_t total() const;
  void reset();

 private:
  friend class CountingSession;
  std::shared_ptr<Transport> inner_;
  mutable std::mutex mutex_;
  std::map<std::string, std::size_t> counts_;
};

/// Base fixture: requires the servers (fails under CI, skips otherwise), truncates the test
/// tables, and offers a client.
class IntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override;
  /// A client on the test server; `counting` sees every request it sends.
  Client makeClient(ClientOptions options = {}) const;

  const TestServer* server_ = nullptr;
  std::shared_ptr<CountingTransport> counting_;
  std::unique_ptr<Client> client_;
};

}  // namespace pgrestify::test
