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
    HttpResponse r = status(
        401,
        json{{"code", "PGRST301"}, {"message", "bad credentials: " + auth}, {"details", auth}, {"hint", "got " + auth}}
            .dump(),
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

// ---- issue #13 point 7: every credential-bearing header, not only Authorization ----

namespace {

// A server that echoes the whole request head (every header) into its answer: the error body
// (message, details, hint), a response header and, for `ok`, a 2xx HTML page.
std::shared_ptr<FakeTransport> headEchoingFake(bool ok = false) {
  return std::make_shared<FakeTransport>([ok](const HttpRequest& req, int) {
    std::string head = req.method + " " + req.url + "\n";
    for (const auto& [name, value] : req.headers) head += name + ": " + value + "\n";
    if (ok)
      return status(200, "<html><pre>" + head + "</pre></html>", {{"Content-Type", "text/html"}, {"X-Echo", head}});
    return status(
        400, json{{"code", "PGRST100"}, {"message", "request was " + head}, {"details", head}, {"hint", head}}.dump(),
        {{"Content-Type", "application/json"}, {"X-Echo", head}});
  });
}

std::string everything(const Error& e) { return std::string(e.what()) + e.message() + e.details() + e.hint(); }

void expectRedacted(const Client& client, const std::vector<std::string>& secrets) {
  try {
    client.from("t").find();
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    for (const auto& s : secrets) EXPECT_EQ(everything(e).find(s), std::string::npos) << s << " in " << e.what();
    EXPECT_NE(everything(e).find("[redacted]"), std::string::npos) << e.what();
  }
  auto r = client.from("t").bulkInsert(std::vector<json>{{{"a", 1}}});
  ASSERT_EQ(r.errors.size(), 1u);
  const auto& e = r.errors.front();
  for (const auto& s : secrets) {
    EXPECT_EQ((e.message + e.details + e.hint).find(s), std::string::npos) << s << " in " << e.message;
  }
  auto raw = client.send({.method = "GET", .url = "/t"});
  for (const auto& s : secrets) {
    EXPECT_EQ(raw.body.find(s), std::string::npos) << s;
    EXPECT_EQ(std::string(raw.header("X-Echo").value_or("")).find(s), std::string::npos) << s;
  }
}

}  // namespace

TEST(Redaction, EveryCredentialHeaderOfTheBuiltInList) {
  const std::vector<std::string> secrets = {
      "supabase-anon-key-0123456789", "x-api-key-abcdefgh",    "api-key-ijklmnop",         "auth-token-qrstuvwx",
      "access-token-yz012345",        "proxy-credentials-678", "session-cookie-value-9abc"};
  auto client = fakeClient(headEchoingFake(), {.headers = {{"apikey", secrets[0]},
                                                           {"X-Api-Key", secrets[1]},
                                                           {"Api-Key", secrets[2]},
                                                           {"x-auth-token", secrets[3]},
                                                           {"X-Access-Token", secrets[4]},
                                                           {"Proxy-Authorization", "Basic " + secrets[5]},
                                                           {"Cookie", "theme=dark; sid=" + secrets[6]}}});
  expectRedacted(client, secrets);
}

TEST(Redaction, UserDeclaredHeaders) {
  const std::string secret = "tenant-secret-0123456789";
  auto fake = headEchoingFake();
  // Without the declaration the value is ordinary text (and is echoed): the declaration is what redacts it.
  auto plain = fakeClient(fake, {.headers = {{"X-Tenant-Secret", secret}}});
  try {
    plain.from("t").find();
  } catch (const Error& e) {
    EXPECT_NE(everything(e).find(secret), std::string::npos);
  }
  auto client = fakeClient(fake, {.headers = {{"X-Tenant-Secret", secret}}, .secretHeaders = {"x-tenant-secret"}});
  expectRedacted(client, {secret});
  // Declared names are checked like header names.
  EXPECT_THROW(fakeClient(fake, {.secretHeaders = {"Bad Name"}}), std::invalid_argument);
}

TEST(Redaction, BasicCredentialsDecodedAndJsonEscapedForms) {
  // "user:pa\"ss\\word-123" in Basic: the decoded pair and the password are redacted too, and so is
  // the JSON-escaped form of a value with '"' and '\' (an error body quotes it inside a string).
  const std::string pair = "user:pa\"ss\\word-123";
  const std::string basic = "dXNlcjpwYSJzc1x3b3JkLTEyMw==";
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    std::string quotedKey(findHeader(req.headers, "apikey").value_or(""));
    return status(401, json{{"code", "PGRST301"}, {"message", "bad " + pair + " key " + quotedKey}}.dump(),
                  {{"Content-Type", "application/json"}});
  });
  const std::string key = "k\"ey\\with-escapes";
  auto client = fakeClient(fake, {.headers = {{"Authorization", "Basic " + basic}, {"apikey", key}}});
  try {
    client.from("t").find();
    ADD_FAILURE();
  } catch (const Error& e) {
    std::string text = everything(e);
    EXPECT_EQ(text.find("pa\"ss\\word-123"), std::string::npos) << text;
    EXPECT_EQ(text.find(key), std::string::npos) << text;
  }
}

TEST(Redaction, SuccessfulNonJsonAnswersAndResponseHeaders) {
  // A 2xx answer from something that is not PostgREST (an HTML page quoting the request): the
  // library refuses it, and neither the page nor the headers keep the key.
  const std::string key = "supabase-service-role-key-42";
  auto client = fakeClient(headEchoingFake(/*ok=*/true), {.headers = {{"apikey", key}}});
  try {
    client.from("t").find();
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(everything(e).find(key), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not PostgREST's answer"), std::string::npos) << e.what();
  }
  auto raw = client.send({.method = "GET", .url = "/t"});
  EXPECT_EQ(raw.status, 200);
  EXPECT_EQ(raw.body.find(key), std::string::npos) << raw.body;
  EXPECT_EQ(std::string(raw.header("X-Echo").value_or("")).find(key), std::string::npos);
}

TEST(Redaction, JsonDataOfASuccessfulAnswerIsNeverChanged) {
  // Rows are data: a 2xx JSON answer is returned as it is, even when a value equals a credential.
  const std::string key = "stored-in-a-row-0123456";
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest&, int) {
    return status(200, json::array({{{"k", key}}}).dump(),
                  {{"Content-Type", "application/json; charset=utf-8"}, {"Content-Range", "0-0/*"}});
  });
  auto client = fakeClient(fake, {.headers = {{"apikey", key}}});
  auto rows = client.from("t").find();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["k"], key);
}
