// SPDX-License-Identifier: MIT
// TLS and mutual TLS for real: nginx (started by fixture.sh) terminates TLS in front of the
// PostgREST 12.0.2 of the test run and requires a client certificate signed by the fixture's CA.
// Every test checks the table with SQL.
#include "insert_test_support.hpp"
#include "test_env.hpp"

#include <thread>

namespace pgrestify::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::vector<nlohmann::json> tlsRows(std::size_t n) {
  std::vector<nlohmann::json> rows;
  for (std::size_t i = 0; i < n; ++i) {
    rows.push_back({{"name", "t" + std::to_string(i)}, {"email", "tls" + std::to_string(i) + "@x.io"}});
  }
  return rows;
}

class Tls : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (server_->tlsUrl.empty()) {
      if (serverRequired()) FAIL() << "no TLS test server: nginx is not installed (scripts/bootstrap.sh installs it)";
      GTEST_SKIP() << "no TLS test server (nginx not installed)";
    }
  }
  long long rowsInTable() const { return sqlCount("SELECT count(*) FROM api.users WHERE email LIKE 'tls%'"); }
};

TEST_F(Tls, BulkInsertWithTheClientCertificateWritesEveryRow) {
  Client client({.url = server_->tlsUrl,
                 .caInfo = server_->tlsCa,
                 .clientCert = server_->tlsCert,
                 .clientKey = server_->tlsKey,
                 .minTlsVersion = TlsVersion::Tls1_2});
  auto rows = tlsRows(3000);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 250, .concurrency = 4});
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().message);
  EXPECT_EQ(r.successful, 3000u);
  EXPECT_EQ(rowsInTable(), 3000);
  EXPECT_EQ(sqlCount("SELECT count(DISTINCT email) FROM api.users WHERE email LIKE 'tls%'"), 3000);
}

TEST_F(Tls, TransportBuiltForTheUserHonoursTheSettingsWithAProtectedKey) {
  auto transport = makeCurlTransport({.caInfo = server_->tlsCa,
                                      .clientCert = server_->tlsCert,
                                      .clientKey = server_->tlsKeyEncrypted,
                                      .keyPassword = server_->tlsKeyPassword,
                                      .minTlsVersion = TlsVersion::Tls1_2});
  Client client({.url = server_->tlsUrl, .transport = transport});
  auto rows = tlsRows(2000);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 500});
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().message);
  EXPECT_EQ(rowsInTable(), 2000);
}

TEST_F(Tls, WrongKeyPasswordFailsWithoutQuotingIt) {
  const std::string wrong = "not-the-pass-phrase-9431";
  Client client({.url = server_->tlsUrl,
                 .caInfo = server_->tlsCa,
                 .clientCert = server_->tlsCert,
                 .clientKey = server_->tlsKeyEncrypted,
                 .keyPassword = wrong});
  auto rows = tlsRows(100);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 50});
  expectAccounted(r, 100);
  EXPECT_EQ(r.successful, 0u);
  EXPECT_EQ(r.failed, 100u);
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.kind, BulkErrorKind::Transport);
    EXPECT_EQ(e.message.find(wrong), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find(server_->tlsKeyPassword), std::string::npos) << e.message;
  }
  EXPECT_EQ(rowsInTable(), 0);
}

TEST_F(Tls, WithoutTheClientCertificateNothingIsWritten) {
  // nginx completes the handshake and answers 400 "No required SSL certificate was sent".
  Client client({.url = server_->tlsUrl, .caInfo = server_->tlsCa});
  auto rows = tlsRows(3000);
  const auto started = Clock::now();
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 500});
  EXPECT_LT(Clock::now() - started, 20s);
  expectAccounted(r, 3000);
  EXPECT_EQ(r.successful, 0u);
  EXPECT_EQ(r.failed + r.notProcessed, 3000u);
  ASSERT_FALSE(r.errors.empty());
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(e.message.find("No required SSL certificate was sent"), std::string::npos) << e.message;
  }
  EXPECT_LE(r.requests, 6u) << "one request per batch: a refused certificate is not retried or bisected";
  EXPECT_EQ(rowsInTable(), 0);
}

TEST_F(Tls, WithTheWrongCaTheServerIsNotTrustedAndNothingIsSent) {
  Client client({.url = server_->tlsUrl,
                 .caInfo = server_->tlsWrongCa,
                 .clientCert = server_->tlsCert,
                 .clientKey = server_->tlsKey});
  auto rows = tlsRows(3000);
  const auto started = Clock::now();
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 500});
  EXPECT_LT(Clock::now() - started, 20s);
  expectAccounted(r, 3000);
  EXPECT_EQ(r.successful, 0u);
  EXPECT_EQ(r.failed + r.notProcessed, 3000u);
  ASSERT_FALSE(r.errors.empty());
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.kind, BulkErrorKind::Transport);
    EXPECT_FALSE(e.outcomeUnknown) << "the request never left: the handshake failed";
    EXPECT_NE(e.message.find("certificate"), std::string::npos) << e.message;
  }
  EXPECT_EQ(rowsInTable(), 0);
}

TEST_F(Tls, CaDirectoryIsHonoured) {
  // A directory holding only the fixture's CA under its subject-hash name (c_rehash layout).
  const std::string dir = server_->tlsCa.substr(0, server_->tlsCa.rfind('/')) + "/capath";
  ASSERT_EQ(std::system(("mkdir -p '" + dir + "' && cp '" + server_->tlsCa + "' '" + dir +
                         "/'$(openssl x509 -noout -subject_hash -in '" + server_->tlsCa + "').0")
                            .c_str()),
            0);
  Client client({.url = server_->tlsUrl,
                 .caInfo = server_->tlsWrongCa,  // the file alone would not trust the server
                 .clientCert = server_->tlsCert,
                 .clientKey = server_->tlsKey,
                 .caPath = dir});
  auto rows = tlsRows(500);
  auto r = client.from("users").bulkInsert(rows);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().message);
  EXPECT_EQ(rowsInTable(), 500);
}

}  // namespace
}  // namespace pgrestify::test
