// SPDX-License-Identifier: MIT
// Running in a service (issue #17): the token provider (a fresh token after `401 PGRST301`, asked
// once for concurrent refusals), the per-request observer (one event per request, retries and
// splits flagged, no credentials), and the schema of one query (QueryBuilder::schema).
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;

namespace {

constexpr const char* kOld = "old-token-0123456789";
constexpr const char* kNew = "new-token-9876543210";

std::vector<json> numberedRows(std::size_t n) {
  std::vector<json> rows;
  for (std::size_t i = 0; i < n; ++i) rows.push_back({{"id", i}});
  return rows;
}

// Accepts requests carrying `Bearer <kNew>`, refuses others like PostgREST 12 refuses an expired JWT.
HttpResponse jwtGate(const HttpRequest& req) {
  auto auth = findHeader(req.headers, "Authorization");
  if (auth && *auth == std::string("Bearer ") + kNew) {
    auto body = json::parse(req.body, nullptr, false);
    if (req.method == "GET") return status(200, "[{\"id\":1}]", {{"Content-Range", "0-0/*"}});
    return created(body.is_array() ? body.size() : 0);
  }
  return pgError(401, "PGRST301", "JWT expired", {}, {{"WWW-Authenticate", "Bearer error=\"invalid_token\""}});
}

// The rows of every accepted POST, to check that each row was written exactly once.
std::multiset<long long> acceptedIds(const FakeTransport& fake) {
  std::multiset<long long> ids;
  for (const auto& r : fake.requests("POST")) {
    if (r.header("Authorization") != std::optional<std::string_view>(std::string("Bearer ") + kNew)) continue;
    for (const auto& row : r.json()) ids.insert(row.at("id").get<long long>());
  }
  return ids;
}

BulkInsertOptions batches(std::size_t batchSize, std::size_t concurrency = 1) {
  BulkInsertOptions o;
  o.batchSize = batchSize;
  o.concurrency = concurrency;
  o.retry.initialBackoff = std::chrono::milliseconds(1);
  return o;
}

// A JWT-shaped token whose payload is @p claims (unsigned: the client reads `exp`, the server checks).
std::string fakeJwt(const std::string& claims) {
  auto b64url = [](const std::string& in) {
    static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (unsigned char c : in) {
      buffer = (buffer << 8) | c;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        out += abc[(buffer >> bits) & 63];
      }
    }
    if (bits > 0) out += abc[(buffer << (6 - bits)) & 63];
    return out;
  };
  return b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(claims) + ".c2lnbmF0dXJl";
}

std::string jwtExpiringIn(std::chrono::seconds s) {
  const auto exp =
      std::chrono::duration_cast<std::chrono::seconds>((std::chrono::system_clock::now() + s).time_since_epoch());
  return fakeJwt(R"({"role":"web_user","exp":)" + std::to_string(exp.count()) + "}");
}

// Answers every GET with one row; the token each request carried is read from fake.requests().
std::shared_ptr<FakeTransport> acceptingFake() {
  return std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return status(200, "[{\"id\":1}]", {{"Content-Range", "0-0/*"}});
  });
}

std::string sentToken(const FakeTransport& fake, std::size_t i) {
  auto gets = fake.requests("GET");
  if (i >= gets.size()) return "(no request)";
  auto auth = gets[i].header("Authorization");
  return auth ? std::string(*auth) : "(none)";
}

}  // namespace

TEST(TokenProvider, AJwtCloseToItsExpiryIsRenewedBeforeTheNextRequest) {
  const std::string soon = jwtExpiringIn(std::chrono::seconds(5));  // within the default 10 s
  const std::string later = jwtExpiringIn(std::chrono::hours(1));
  auto fake = acceptingFake();
  std::atomic<int> calls{0};
  auto client = createClient(
      {.url = "http://fake", .transport = fake, .tokenProvider = [&] { return calls++ == 0 ? soon : later; }});
  client.from("t").find();
  client.from("t").find();  // asked less than a second ago: not asked again yet
  EXPECT_EQ(calls.load(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  client.from("t").find();
  client.from("t").find();
  EXPECT_EQ(calls.load(), 2) << "asked once before it expired; the fresh token is far from its expiry";
  EXPECT_EQ(sentToken(*fake, 0), "Bearer " + soon);
  EXPECT_EQ(sentToken(*fake, 1), "Bearer " + soon);
  EXPECT_EQ(sentToken(*fake, 2), "Bearer " + later);
  EXPECT_EQ(sentToken(*fake, 3), "Bearer " + later);
}

TEST(TokenProvider, WithoutRenewTokenBeforeOnlyARefusalAsksAgain) {
  const std::string soon = jwtExpiringIn(std::chrono::seconds(5));
  auto fake = acceptingFake();
  std::atomic<int> calls{0};
  auto client = createClient({.url = "http://fake",
                              .transport = fake,
                              .tokenProvider =
                                  [&] {
                                    ++calls;
                                    return soon;
                                  },
                              .renewTokenBefore = std::nullopt});
  client.from("t").find();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  client.from("t").find();
  EXPECT_EQ(calls.load(), 1);
}

TEST(TokenProvider, TokensWithoutAReadableExpAreRenewedOnlyAfterARefusal) {
  // Opaque, malformed or hostile tokens: no `exp` is read, nothing breaks, and the token is kept.
  const std::vector<std::string> tokens = {"opaque-token-123",
                                           "a.b",
                                           "a.b.c.d",
                                           fakeJwt("not json"),
                                           fakeJwt(R"({"exp":"tomorrow"})"),
                                           fakeJwt(R"({"exp":1e300})"),
                                           "..",
                                           fakeJwt(R"({"exp":-5})"),
                                           fakeJwt("[1,2]"),
                                           fakeJwt(R"({"exp":0})")};
  struct Case {
    std::shared_ptr<FakeTransport> fake = acceptingFake();
    std::atomic<int> calls{0};
    std::optional<Client> client;
  };
  std::vector<Case> cases(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    Case& c = cases[i];
    c.client.emplace(createClient({.url = "http://fake", .transport = c.fake, .tokenProvider = [&c, &t = tokens[i]] {
                                     ++c.calls;
                                     return t;
                                   }}));
    c.client->from("t").find();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    cases[i].client->from("t").find();
    EXPECT_EQ(cases[i].calls.load(), 1) << tokens[i];
    EXPECT_EQ(sentToken(*cases[i].fake, 1), "Bearer " + tokens[i]);
  }
}

TEST(TokenProvider, AProviderFailingBeforeExpiryKeepsTheCachedToken) {
  const std::string soon = jwtExpiringIn(std::chrono::seconds(5));
  auto fake = acceptingFake();
  std::atomic<int> calls{0};
  auto client = createClient({.url = "http://fake", .transport = fake, .tokenProvider = [&]() -> std::string {
                                if (calls++ == 0) return soon;
                                throw std::runtime_error("vault down");
                              }});
  client.from("t").find();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_NO_THROW(client.from("t").find());
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(sentToken(*fake, 1), "Bearer " + soon) << "the server decides; a refusal would ask again";
}

TEST(TokenProvider, ExpiredTokenMidImportIsRenewedOnceAndEveryRowWrittenOnce) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return jwtGate(req); });
  std::atomic<int> calls{0};
  auto client = createClient({.url = "http://fake", .transport = fake, .tokenProvider = [&] {
                                return std::string(calls++ == 0 ? kOld : kNew);
                              }});
  auto rows = numberedRows(1000);
  auto r = client.from("t").bulkInsert(rows, batches(50, 4));
  expectAccounted(r, rows.size());
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.successful, 1000u);
  // The first requests (up to `concurrency` of them) were refused with the old token; they asked
  // the provider once in all.
  EXPECT_EQ(calls.load(), 2);
  auto ids = acceptedIds(*fake);
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(std::set<long long>(ids.begin(), ids.end()).size(), 1000u) << "a row was written twice";
}

TEST(TokenProvider, WithoutProviderTheRefusedRowsFailWith401Once) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return jwtGate(req); });
  auto client = createClient({.url = "http://fake", .bearerToken = kOld, .transport = fake});
  auto rows = numberedRows(100);
  auto r = client.from("t").bulkInsert(rows, batches(10));
  expectAccounted(r, rows.size());
  EXPECT_EQ(r.failed, 100u);
  EXPECT_EQ(fake->count(), 10u) << "each batch is sent once: nothing to renew";
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.status, 401);
    EXPECT_EQ(e.code, "PGRST301");
    EXPECT_EQ(e.message.find(kOld), std::string::npos);
  }
}

TEST(TokenProvider, AProviderThatKeepsGivingRefusedTokensEndsInOneResendPerBatch) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return jwtGate(req); });
  std::atomic<int> calls{0};
  auto client = createClient({.url = "http://fake", .transport = fake, .tokenProvider = [&] {
                                return "refused-token-" + std::to_string(calls++);
                              }});
  auto rows = numberedRows(30);
  auto r = client.from("t").bulkInsert(rows, batches(10, 1));
  expectAccounted(r, rows.size());
  EXPECT_EQ(r.failed, 30u);
  EXPECT_LE(fake->count(), 6u) << "at most one resend per batch";
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.status, 401);
    EXPECT_EQ(e.message.find("refused-token"), std::string::npos);
  }
}

TEST(TokenProvider, AThrowingProviderFailsTheRowsWithTheir401) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return jwtGate(req); });
  std::atomic<int> calls{0};
  auto client = createClient({.url = "http://fake", .transport = fake, .tokenProvider = [&]() -> std::string {
                                if (calls++ == 0) return kOld;
                                throw std::runtime_error(std::string("vault down, last token ") + kOld);
                              }});
  auto rows = numberedRows(20);
  auto r = client.from("t").bulkInsert(rows, batches(10, 1));
  expectAccounted(r, rows.size());
  EXPECT_EQ(r.failed, 20u);
  for (const auto& e : r.errors) EXPECT_EQ(e.message.find(kOld), std::string::npos) << e.message;
}

TEST(TokenProvider, SimpleCallsAreSentOnceMoreWithTheFreshToken) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return jwtGate(req); });
  std::atomic<int> calls{0};
  auto client = createClient({.url = "http://fake", .transport = fake, .tokenProvider = [&] {
                                return std::string(calls++ == 0 ? kOld : kNew);
                              }});
  auto found = client.from("t").eq("id", 1).find();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(fake->count(), 2u);
  // The cached token serves the next call without asking.
  client.from("t").find();
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(fake->count(), 3u);
}

TEST(TokenProvider, ARawRequestWithItsOwnAuthorizationIsNotRenewed) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return jwtGate(req); });
  std::atomic<int> calls{0};
  auto client = createClient({.url = "http://fake", .transport = fake, .tokenProvider = [&] {
                                return std::string(calls++ == 0 ? kOld : kNew);
                              }});
  HttpRequest req;
  req.url = "/t";
  req.headers = {{"Authorization", "Bearer caller-own-token-123"}};
  auto response = client.send(req);
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(fake->count(), 1u);
  EXPECT_EQ(calls.load(), 0);
}

TEST(TokenProvider, MisuseIsRefusedBeforeAnyRequest) {
  auto fake = std::make_shared<FakeTransport>();
  auto provider = [] { return std::string(kNew); };
  EXPECT_THROW(createClient({.url = "http://fake", .bearerToken = kOld, .transport = fake, .tokenProvider = provider}),
               std::invalid_argument);
  EXPECT_THROW(createClient({.url = "http://fake",
                             .headers = {{"Authorization", "Bearer x"}},
                             .transport = fake,
                             .tokenProvider = provider}),
               std::invalid_argument);
  EXPECT_THROW(createClient({.url = "http://fake",
                             .transport = fake,
                             .tokenProvider = provider,
                             .renewTokenBefore = std::chrono::seconds(-1)}),
               std::invalid_argument);
  auto bad = createClient(
      {.url = "http://fake", .transport = fake, .tokenProvider = [] { return std::string("abc\r\nX-Injected: 1"); }});
  EXPECT_THROW(bad.from("t").find(), std::invalid_argument);
  EXPECT_EQ(fake->count(), 0u);
}

TEST(Observer, OneEventPerRequestWithRetriesAndSplitsFlaggedAndNoCredentials) {
  const std::string secret = "observer-secret-token-42";
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int attempt) {
    auto rows = json::parse(req.body, nullptr, false);
    // The first batch: 503 once, then accepted. The second: a duplicate key in row id=15.
    if (rows.at(0).at("id") == 0 && attempt == 1) return pgError(503, "PGRST001", "no connection");
    for (const auto& row : rows) {
      if (row.at("id") == 15 && rows.size() > 1) return pgError(409, "23505", "duplicate", "Key (x)=(y) conflicts");
      if (row.at("id") == 15) return pgError(409, "23505", "duplicate");
    }
    return created(rows.size());
  });
  std::vector<RequestEvent> events;
  auto client = createClient(
      {.url = "http://fake/api/", .bearerToken = secret, .transport = fake, .onRequest = [&](const RequestEvent& e) {
         events.push_back(e);
       }});
  auto rows = numberedRows(20);
  auto r = client.from("t").bulkInsert(rows, batches(10, 1));
  expectAccounted(r, rows.size());
  EXPECT_EQ(r.failed, 1u);
  ASSERT_EQ(events.size(), fake->count());
  ASSERT_EQ(events.size(), r.requests);
  std::size_t retries = 0, splits = 0;
  for (const auto& e : events) {
    EXPECT_EQ(e.method, "POST");
    EXPECT_EQ(e.path, "/t") << "no base URL, no query";
    EXPECT_TRUE(e.bulk);
    EXPECT_GT(e.rows, 0u);
    EXPECT_GT(e.bytesSent, 0u);
    if (e.retry) {
      ++retries;
      EXPECT_EQ(e.attempt, 2);
      EXPECT_EQ(e.status, 201);
    }
    if (e.split) ++splits;
    if (e.status == 503) {
      EXPECT_EQ(e.code, "PGRST001");
    }
    for (const std::string& field : {e.method, e.path, e.code}) EXPECT_EQ(field.find(secret), std::string::npos);
  }
  EXPECT_EQ(retries, 1u);
  EXPECT_GE(splits, 2u);
  EXPECT_EQ(events.front().status, 503);
  EXPECT_EQ(events.front().rows, 10u);

  // Simple calls report too.
  events.clear();
  fake->setHandler([](const HttpRequest&, int) { return status(200, "[]", {{"Content-Range", "*/*"}}); });
  client.from("t").eq("token", secret).find();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].method, "GET");
  EXPECT_EQ(events[0].path, "/t");
  EXPECT_EQ(events[0].status, 200);
  EXPECT_FALSE(events[0].bulk);
  EXPECT_FALSE(events[0].retry);
}

TEST(Observer, TokenRenewalIsReportedAsARetry) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) { return jwtGate(req); });
  std::atomic<int> calls{0};
  std::vector<RequestEvent> events;
  auto client = createClient({.url = "http://fake",
                              .transport = fake,
                              .tokenProvider = [&] { return std::string(calls++ == 0 ? kOld : kNew); },
                              .onRequest = [&](const RequestEvent& e) { events.push_back(e); }});
  auto r = client.from("t").bulkInsert(numberedRows(10), batches(10));
  EXPECT_EQ(r.failed, 0u);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].status, 401);
  EXPECT_EQ(events[0].code, "PGRST301");
  EXPECT_EQ(events[1].status, 201);
  EXPECT_TRUE(events[1].retry);
}

TEST(SchemaPerCall, ProfileHeadersNameTheQuerysSchema) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    if (req.method == "GET") return status(200, "[]", {{"Content-Range", "*/*"}});
    return created(json::parse(req.body).size());
  });
  auto client = createClient({.url = "http://fake", .schema = "api", .transport = fake});
  client.from("t").schema("other").find();
  client.from("t").schema("other").bulkInsert(numberedRows(3));
  client.from("t").find();
  client.getRepository("t").schema("other").find();
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].header("Accept-Profile"), std::optional<std::string_view>("other"));
  EXPECT_EQ(reqs[1].header("Content-Profile"), std::optional<std::string_view>("other"));
  EXPECT_FALSE(reqs[1].header("Accept-Profile"));
  EXPECT_EQ(reqs[2].header("Accept-Profile"), std::optional<std::string_view>("api"));
  EXPECT_EQ(reqs[3].header("Accept-Profile"), std::optional<std::string_view>("other"));
  for (const auto& r : reqs) {
    std::size_t profiles = 0;
    for (const auto& [name, value] : r.request.headers)
      profiles += (name == "Accept-Profile" || name == "Content-Profile");
    EXPECT_EQ(profiles, 1u);
  }
  EXPECT_THROW(client.from("t").schema(""), std::invalid_argument);
  EXPECT_THROW(client.from("t").schema("a\r\nb"), std::invalid_argument);
  EXPECT_THROW(client.from("t").header("Accept-Profile", "other"), std::invalid_argument);
}
