// SPDX-License-Identifier: MIT
// Error pages of a load balancer in front of PostgREST (HAProxy 2.6's own pages, verbatim): how
// the bulk engine classifies them (503: not run, retried even for a plain insert; 502/504: unknown
// outcome, retried only for idempotent writes) and what the row errors say (the status, that a
// proxy answered and what that means; never the caller's token). tests/integration/replicas_test.cpp
// checks the same against a real HAProxy.
#include "test_util.hpp"

namespace pgrestify::test {
namespace {

using nlohmann::json;

// HAProxy 2.6's built-in error pages (src/http_htx.c, http_err_msgs), as sent.
const char* const kHaproxy503 =
    "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n";
const char* const kHaproxy502 =
    "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n";
const char* const kHaproxy504 =
    "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n";

HttpResponse haproxyPage(int code, const char* page) {
  return status(code, page, {{"Content-Type", "text/html"}, {"Cache-Control", "no-cache"}});
}

TEST(ProxyError, Haproxy503IsRetriedEvenForAPlainInsert) {
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest&, int attempt) { return attempt <= 2 ? haproxyPage(503, kHaproxy503) : created(3); });
  auto client = fakeClient(fake);
  auto r = client.from("users").bulkInsert(userRows(3), {.retry = fastRetry()});
  expectAccounted(r, 3);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.successful, 3u);
  EXPECT_EQ(fake->count(), 3u) << "the balancer's 503 means the request was not run: sent again";
}

TEST(ProxyError, Haproxy503BeyondTheRetriesSaysAProxyAnsweredAndThatNothingRan) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return haproxyPage(503, kHaproxy503); });
  auto client = fakeClient(fake);
  auto r = client.from("users").bulkInsert(userRows(3), {.retry = fastRetry(2)});
  expectAccounted(r, 3);
  ASSERT_EQ(r.errors.size(), 1u);
  const auto& e = r.errors[0];
  EXPECT_EQ(e.status, 503);
  EXPECT_FALSE(e.outcomeUnknown);
  EXPECT_EQ(e.attempts, 2);
  EXPECT_EQ(e.indexes, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(e.message,
            "HTTP 503 from a proxy or load balancer, not PostgREST's own error; no server behind it took the request, "
            "so it was not run: 503 Service Unavailable No server is available to handle this request.");
}

TEST(ProxyError, Haproxy502And504AreUnknownOutcomes) {
  for (auto [code, page] : {std::pair{502, kHaproxy502}, std::pair{504, kHaproxy504}}) {
    SCOPED_TRACE(code);
    auto fake = std::make_shared<FakeTransport>(
        [code = code, page = page](const HttpRequest&, int) { return haproxyPage(code, page); });
    auto client = fakeClient(fake);
    auto r = client.from("users").bulkInsert(userRows(2), {.retry = fastRetry()});
    expectAccounted(r, 2);
    EXPECT_EQ(fake->count(), 1u) << "a plain insert is not sent twice after an unknown outcome";
    ASSERT_EQ(r.errors.size(), 1u);
    const auto& e = r.errors[0];
    EXPECT_EQ(e.status, code);
    EXPECT_TRUE(e.outcomeUnknown);
    EXPECT_NE(e.message.find("HTTP " + std::to_string(code) + " from a proxy or load balancer"), std::string::npos)
        << e.message;
    EXPECT_NE(e.message.find("may or may not have been run"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find('<'), std::string::npos) << "the page's text, not its markup: " << e.message;

    // An idempotent write is sent again and completes.
    auto again = std::make_shared<FakeTransport>([code = code, page = page](const HttpRequest&, int attempt) {
      return attempt == 1 ? haproxyPage(code, page) : created(2);
    });
    auto up =
        fakeClient(again).from("users").bulkUpsert(userRows(2), {.conflictColumns = {"email"}, .retry = fastRetry()});
    expectAccounted(up, 2);
    EXPECT_EQ(up.failed, 0u);
    EXPECT_EQ(again->count(), 2u);
  }
}

TEST(ProxyError, PostgrestsOwnErrorsKeepTheirMessage) {
  auto fake =
      std::make_shared<FakeTransport>([](const HttpRequest&, int) { return pgError(503, "PGRST001", "db down"); });
  auto r = fakeClient(fake).from("users").bulkInsert(userRows(1), {.retry = fastRetry(1)});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "db down");
  EXPECT_EQ(r.errors[0].code, "PGRST001");
  // Warp's plain-text 400 is PostgREST's too, not a proxy's.
  auto warp = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return status(400, "Bad Request"); });
  r = fakeClient(warp).from("users").bulkInsert(userRows(1), {.retry = fastRetry(1)});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "Bad Request");
}

TEST(ProxyError, APageQuotingTheTokenDoesNotLeakIt) {
  const std::string token = "eyJhbGciOiJIUzI1NiJ9.proxy-page-token-0123456789abcdef.sig";
  // A hostile or debugging proxy quoting the request: whole, and split by a tag (markup removed
  // naively would join the halves again after the redaction ran on the raw page).
  const std::string page = "<html><pre>Authorization: Bearer " + token + "\nagain: " + token.substr(0, 20) + "<b></b>" +
                           token.substr(20) + "</pre></html>";
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest&, int) {
    return status(502, page, {{"Content-Type", "text/html"}});
  });
  auto r = fakeClient(fake, {.bearerToken = token}).from("users").bulkInsert(userRows(1), {.retry = fastRetry()});
  ASSERT_EQ(r.errors.size(), 1u);
  const auto& m = r.errors[0].message;
  EXPECT_EQ(m.find(token), std::string::npos) << m;
  EXPECT_NE(m.find("[redacted]"), std::string::npos) << m;
  try {
    fakeClient(fake, {.bearerToken = token}).from("users").find();
    ADD_FAILURE() << "find() through a 502 did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find(token), std::string::npos) << e.what();
    EXPECT_EQ(e.status(), 502);
  }
}

}  // namespace
}  // namespace pgrestify::test
