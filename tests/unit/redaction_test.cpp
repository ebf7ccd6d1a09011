// SPDX-License-Identifier: MIT
// Credentials never reach exceptions or BulkError, whichever way the Authorization header was set
// and whatever the transport: a fake server echoes the request's Authorization header into its
// error answer (body, header, transport message).
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;

namespace {

std::shared_ptr<FakeTransport> echoingFake() {
  return std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    const std::string auth(findHeader(req.headers, "Authorization").value_or(""));
    HttpResponse r = status(401, json{{"code", "PGRST301"}, {"message", "bad credentials: " + auth},
                                      {"details", auth}, {"hint", "got " + auth}}.dump(),
                            {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Bearer error=\"" + auth + "\""}});
    return r;
  });
}

void expectNoSecret(const QueryBuilder<json>& query, const std::string& secret) {
  try {
    query.find();
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[redacted]"), std::string::npos) << e.what();
  }
  auto r = query.bulkInsert(std::vector<json>{{{"a", 1}}});
  ASSERT_EQ(r.errors.size(), 1u);
  const auto& e = r.errors.front();
  EXPECT_EQ((e.message + e.details + e.hint).find(secret), std::string::npos) << e.message << e.details << e.hint;
}

}  // namespace

TEST(Redaction, BearerToken) {
  const std::string token = "header.payload.signature-123";
  auto client = fakeClient(echoingFake(), {.bearerToken = token});
  expectNoSecret(client.from("t"), token);
}

TEST(Redaction, AuthorizationInClientHeaders) {
  const std::string secret = "dXNlcjpwYXNzd29yZA==";
  auto client = fakeClient(echoingFake(), {.headers = {{"Authorization", "Basic " + secret}}});
  expectNoSecret(client.from("t"), secret);
}

TEST(Redaction, AuthorizationOnOneQuery) {
  const std::string secret = "per-query-token-456";
  auto client = fakeClient(echoingFake());
  expectNoSecret(client.from("t").header("Authorization", "Bearer " + secret), secret);
}

TEST(Redaction, TransportMessagesToo) {
  const std::string token = "header.payload.signature-789";
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest&, int) {
    HttpResponse r;
    r.error = TransportErrorKind::Connect;
    r.errorMessage = "proxy said: Authorization Bearer " + token;
    return r;
  });
  auto client = fakeClient(fake, {.bearerToken = token});
  try {
    client.from("t").find();
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find(token), std::string::npos) << e.what();
  }
}
