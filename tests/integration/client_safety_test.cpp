// SPDX-License-Identifier: MIT
// Issue #13, library side of points 3 (simple calls), 4, 6, 7 and 11, against the real
// PostgREST 12.0.2 and the echo server of the fixture (a server that is not PostgREST):
//   - credentials in any credential-bearing header, a declared header or the URL never come back
//     in a result, an exception or a message (ClientSafetySecrets);
//   - headers the library owns (Prefer...) are refused before any request (ClientSafetyOwnedHeaders);
//   - null never matches the text 'null' and the text 'null' is text (ClientSafetyNull);
//   - a simple call on a server that is not PostgREST throws saying so (ClientSafetyNotPostgrest);
//   - names PostgREST accepts are accepted; unknown tables are named as such (ClientSafetyNames);
//   - Client::send resolves relative URLs and adds the client's headers (ClientSafetySend).
#include "models.hpp"
#include "test_env.hpp"

#include <chrono>
#include <functional>
#include <set>
#include <thread>
#include <typeinfo>

namespace pgrestify::test {
namespace {

using nlohmann::json;

std::string messageOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no exception";
}

// ---------------------------------------------------------------------------------------------
// Point 7: secrets
// ---------------------------------------------------------------------------------------------

class ClientSafetySecrets : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (server_ && server_->echoUrl.empty()) GTEST_SKIP() << "no echo server";
  }

  // Everything a caller of @p client can see for simple and bulk calls on the echo server's
  // @p mode ("/error" echoes the request head into the error message, "/html" into a 200 page,
  // "/json" into a 200 JSON body), checked for each secret.
  void expectNowhere(const ClientOptions& base, const std::vector<std::string>& secrets) {
    for (const char* mode : {"/error", "/html", "/json"}) {
      SCOPED_TRACE(mode);
      ClientOptions options = base;
      options.url = server_->echoUrl + mode;
      Client client(options);
      std::vector<std::string> seen;
      auto record = [&](const std::function<void()>& f) { seen.push_back(messageOf(f)); };
      record([&] { client.from("users").find(); });
      record([&] { client.from("users").count(); });
      record([&] { client.from("users").insert(json{{"name", "n"}, {"email", "e@x.io"}}); });
      record([&] { client.from("users").eq("id", 1).update(json{{"name", "m"}}); });
      record([&] { client.from("users").eq("id", 1).remove(); });
      record([&] { client.getRepository<User>("users").save(User{.name = "n", .email = "e@x.io"}); });
      record([&] { client.getRepository("users").remove({{"id", 1}}); });
      record([&] { client.rpc("reset_tables"); });
      try {
        client.from("users").find();
      } catch (const Error& e) {
        seen.push_back(e.message() + e.details() + e.hint());
      }
      auto r = client.from("users").bulkInsert(std::vector<json>{{{"name", "n"}, {"email", "e@x.io"}}});
      for (const auto& e : r.errors) seen.push_back(e.message + e.details + e.hint);
      for (const auto& row : r.data) seen.push_back(row.dump());
      for (const auto& w : r.warnings) seen.push_back(w);
      auto raw = client.send({.method = "GET", .url = "/users"});
      seen.push_back(raw.errorMessage);
      if (std::string(mode) != "/json") seen.push_back(raw.body);  // a 2xx JSON body is data, never changed
      for (const auto& [name, value] : raw.headers) seen.push_back(value);
      for (const auto& text : seen) {
        for (const auto& secret : secrets) EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in: " << text;
      }
    }
  }
};

TEST_F(ClientSafetySecrets, SupabaseApikeyAndXApiKeyAreRedacted) {
  const std::string apikey = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.supabase-anon-signature";
  const std::string xApiKey = "x-api-key-0123456789abcdef";
  expectNowhere({.headers = {{"apikey", apikey}, {"X-Api-Key", xApiKey}}}, {apikey, xApiKey});
}

TEST_F(ClientSafetySecrets, CookiesAndProxyCredentialsAreRedacted) {
  const std::string session = "session-id-0123456789abcdef";
  const std::string proxy = "cHJveHl1c2VyOnByb3h5cGFzc3dvcmQ=";  // proxyuser:proxypassword
  expectNowhere({.headers = {{"Cookie", "theme=dark; sid=" + session}, {"Proxy-Authorization", "Basic " + proxy}}},
                {session, proxy, "proxypassword"});
}

TEST_F(ClientSafetySecrets, DeclaredHeaderIsRedacted) {
  const std::string secret = "tenant-credential-0123456789";
  expectNowhere({.headers = {{"X-Tenant-Credential", secret}}, .secretHeaders = {"X-Tenant-Credential"}}, {secret});
}

TEST_F(ClientSafetySecrets, BearerTokenIsRedacted) { expectNowhere({.bearerToken = server_->jwt}, {server_->jwt}); }

TEST_F(ClientSafetySecrets, UrlUserInfoIsRefusedWithoutQuotingIt) {
  // libcurl would turn `user:pw@` into `Authorization: Basic ...` behind the redaction's back:
  // refused, and the message does not show the URL.
  const std::string password = "url-password-0123456";
  const std::string host = server_->echoUrl.substr(7);  // 127.0.0.1:port
  for (const std::string& url :
       {"http://user:" + password + "@" + host + "/error", "http://" + password + "@" + host}) {
    auto m = messageOf([&] { Client client({.url = url}); });
    EXPECT_NE(m.find("user info"), std::string::npos) << m;
    EXPECT_EQ(m.find(password), std::string::npos) << m;
  }
  Client client({.url = server_->echoUrl});
  auto m = messageOf([&] { client.send({.method = "GET", .url = "http://user:" + password + "@" + host + "/error"}); });
  EXPECT_NE(m.find("user info"), std::string::npos) << m;
  EXPECT_EQ(m.find(password), std::string::npos) << m;
}

TEST_F(ClientSafetySecrets, MalformedHeaderNeverPrintsTheToken) {
  // `--header "Authorization Bearer $JWT"`: no colon, so the whole text is the name.
  const std::string& jwt = server_->jwt;
  std::vector<std::string> messages;
  messages.push_back(messageOf([&] {
    Client({.url = server_->url, .headers = {{"Authorization Bearer " + jwt, ""}}});
  }));
  messages.push_back(messageOf([&] { makeClient().from("users").header("Authorization Bearer " + jwt, ""); }));
  messages.push_back(messageOf([&] {
    Client({.url = server_->url, .headers = {{"Authorization", "Bearer " + jwt + "\r\n"}}});
  }));
  messages.push_back(messageOf([&] { Client({.url = server_->url, .bearerToken = jwt + "\n"}); }));
  messages.push_back(messageOf([&] { makeClient().from("users").header("apikey", jwt + "\r\nX-Evil: 1"); }));
  for (const auto& m : messages) {
    EXPECT_NE(m, "no exception");
    EXPECT_EQ(m.find(jwt), std::string::npos) << m;
    EXPECT_EQ(m.find(jwt.substr(0, 20)), std::string::npos) << m;
  }
  EXPECT_EQ(counting_->total(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Point 6: headers the library owns
// ---------------------------------------------------------------------------------------------

class ClientSafetyOwnedHeaders : public IntegrationTest {};

TEST_F(ClientSafetyOwnedHeaders, UserPreferIsRefusedBeforeAnyRequest) {
  // The test server runs with db-tx-end = commit-allow-override: `tx=rollback` would be honoured
  // while the bulk call counted the rows as written.
  std::vector<json> rows = {{{"name", "a"}, {"email", "a@x.io"}}, {{"name", "b"}, {"email", "b@x.io"}}};
  sql("insert into api.users(name, email) values ('b', 'b@x.io')");
  for (const std::string prefer : {"tx=rollback", "resolution=ignore-duplicates", "return=minimal, count=planned"}) {
    SCOPED_TRACE(prefer);
    counting_->reset();
    auto m = messageOf([&] { makeClient({.headers = {{"Prefer", prefer}}}).from("users").bulkInsert(rows); });
    EXPECT_NE(m.find("'Prefer'"), std::string::npos) << m;
    EXPECT_NE(m.find("options"), std::string::npos) << m;
    EXPECT_THROW(makeClient({.headers = {{"prefer", prefer}}}), std::invalid_argument);
    EXPECT_THROW(makeClient().from("users").header("Prefer", prefer).bulkInsert(rows), std::invalid_argument);
    EXPECT_THROW(makeClient().from("users").header("PREFER", prefer).bulkUpsert(rows), std::invalid_argument);
    EXPECT_THROW(makeClient().from("users").header("Prefer", prefer).insert(rows[0]), std::invalid_argument);
    EXPECT_EQ(counting_->total(), 0u) << "nothing may be sent";
  }
  EXPECT_EQ(sql("select string_agg(email, ',' order by email) from api.users"), "b@x.io");
}

TEST_F(ClientSafetyOwnedHeaders, EveryOwnedHeaderNamesItsOption) {
  for (const char* name : {"Content-Type", "Accept", "Content-Length", "Transfer-Encoding", "Host", "Range",
                           "Accept-Encoding", "Expect", "Connection", "X-HTTP-Method-Override"}) {
    EXPECT_THROW(makeClient({.headers = {{name, "x"}}}), std::invalid_argument) << name;
    EXPECT_THROW(makeClient().from("users").header(name, "x"), std::invalid_argument) << name;
  }
  for (const char* name : {"Accept-Profile", "Content-Profile"}) {
    auto m = messageOf([&] { makeClient().from("notes").header(name, "other"); });
    EXPECT_NE(m.find("ClientOptions::schema"), std::string::npos) << m;
  }
  EXPECT_EQ(counting_->total(), 0u);
  // Headers the library does not own still go through (Authorization is the documented way).
  auto rows = makeClient().from("secrets").header("Authorization", "Bearer " + server_->jwt).find();
  EXPECT_EQ(rows.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Point 4: null and the text 'null'
// ---------------------------------------------------------------------------------------------

class ClientSafetyNull : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (!server_) return;
    // a: the text 'null'; b: SQL NULL; c: the text 'NULL'; d: other text.
    sql("insert into api.tags(key, label) values ('a', 'null'), ('b', null), ('c', 'NULL'), ('d', 'x')");
  }
  std::set<std::string> keys(const QueryBuilder<json>& q) {
    std::set<std::string> out;
    for (const auto& row : q.find()) out.insert(row.at("key").get<std::string>());
    return out;
  }
  std::string left() { return sql("select string_agg(key, ',' order by key) from api.tags"); }
  QueryBuilder<json> tags() { return client_->from("tags"); }
};

using Keys = std::set<std::string>;

TEST_F(ClientSafetyNull, InWithANullIsRefusedAndDeletesNothing) {
  // The issue's case: `in.(null)` deleted the row whose label is the text 'null' and kept SQL NULL.
  EXPECT_THROW(tags().in("label", std::vector<json>{nullptr}).remove(), std::invalid_argument);
  EXPECT_THROW(tags().in("label", std::vector<json>{"x", nullptr}).remove(), std::invalid_argument);
  EXPECT_THROW(tags().not_("label", pgrestify::in(std::vector<json>{nullptr})).remove(), std::invalid_argument);
  EXPECT_THROW(client_->getRepository("tags").remove({{"label", pgrestify::in(std::vector<json>{nullptr})}}),
               std::invalid_argument);
  EXPECT_THROW(tags().eq("label", nullptr).remove(), std::invalid_argument);
  EXPECT_THROW(tags().neq("label", json()).remove(), std::invalid_argument);
  EXPECT_EQ(left(), "a,b,c,d");
  // Bulk delete keys: a null key fails alone, nothing is deleted.
  auto r = tags().bulkDelete(std::vector<json>{nullptr, json::object({{"label", nullptr}})}, {.matchColumn = "label"});
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(left(), "a,b,c,d");
}

TEST_F(ClientSafetyNull, TheTextNullIsTextInEveryOperator) {
  EXPECT_EQ(keys(tags().eq("label", "null")), (Keys{"a"}));
  EXPECT_EQ(keys(tags().eq("label", "NULL")), (Keys{"c"}));
  EXPECT_EQ(keys(tags().neq("label", "null")), (Keys{"c", "d"}));  // SQL: NULL <> 'null' is not true
  EXPECT_EQ(keys(tags().in("label", {"null"})), (Keys{"a"}));
  EXPECT_EQ(keys(tags().in("label", {"NULL", "x"})), (Keys{"c", "d"}));
  EXPECT_EQ(keys(tags().not_("label", pgrestify::in(std::vector<std::string>{"null"}))), (Keys{"c", "d"}));
  EXPECT_EQ(keys(tags().like("label", "null")), (Keys{"a"}));
  EXPECT_EQ(keys(tags().ilike("label", "null")), (Keys{"a", "c"}));
  EXPECT_EQ(keys(tags().gt("label", "null")), (Keys{"d"}));
  EXPECT_EQ(keys(tags().where({{"label", "null"}})), (Keys{"a"}));
  // SQL NULL is is(nullptr), or a bare null in a Where.
  EXPECT_EQ(keys(tags().is("label", nullptr)), (Keys{"b"}));
  EXPECT_EQ(keys(tags().where({{"label", nullptr}})), (Keys{"b"}));
  EXPECT_EQ(keys(tags().not_("label", pgrestify::is(nullptr))), (Keys{"a", "c", "d"}));
  EXPECT_EQ(tags().eq("label", "null").count(), 1u);
  // Writes reach exactly those rows.
  EXPECT_EQ(tags().in("label", {"null"}).remove().size(), 1u);
  EXPECT_EQ(left(), "b,c,d");
  EXPECT_EQ(client_->getRepository("tags").remove({{"label", nullptr}}).size(), 1u);
  EXPECT_EQ(left(), "c,d");
  auto r = tags().bulkDelete(std::vector<json>{"NULL"}, {.matchColumn = "label"});
  EXPECT_EQ(r.successful, 1u);
  EXPECT_EQ(left(), "d");
}

// ---------------------------------------------------------------------------------------------
// Point 3: simple calls on a server that is not PostgREST
// ---------------------------------------------------------------------------------------------

class ClientSafetyNotPostgrest : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (server_ && server_->echoUrl.empty()) GTEST_SKIP() << "no echo server";
  }

  // @p call must throw pgrestify::Error (not TransportError, not a JSON exception, not succeed)
  // whose message says the answer is not PostgREST's.
  void expectNotPostgrest(const std::string& what, const std::function<void()>& call) {
    SCOPED_TRACE(what);
    try {
      call();
      ADD_FAILURE() << what << ": succeeded";
    } catch (const TransportError& e) {
      ADD_FAILURE() << what << ": transport error " << e.what();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not PostgREST's answer"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("expected"), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": " << typeid(e).name() << " " << e.what();
    }
  }
};

TEST_F(ClientSafetyNotPostgrest, SimpleCallsRefuseAnswersThatAreNotPostgrests) {
  for (const char* mode : {"/html", "/json", "/created"}) {
    SCOPED_TRACE(mode);
    Client client({.url = server_->echoUrl + mode});
    auto users = client.from<User>("users");
    auto repo = client.getRepository<User>("users");
    expectNotPostgrest("find", [&] { users.find(); });
    expectNotPostgrest("findOne", [&] { users.eq("id", 1).findOne(); });
    expectNotPostgrest("count", [&] { users.count(); });
    expectNotPostgrest("insert", [&] { users.insert(User{.name = "n", .email = "e@x.io"}); });
    expectNotPostgrest("insert many", [&] { users.insert(std::vector<User>{{.name = "n", .email = "e@x.io"}}); });
    expectNotPostgrest("update", [&] { users.eq("id", 1).update(json{{"name", "m"}}); });
    expectNotPostgrest("remove", [&] { users.eq("id", 1).remove(); });
    expectNotPostgrest("Repository::find", [&] { repo.find({{"active", true}}); });
    expectNotPostgrest("Repository::findOne", [&] { repo.findOne({{"id", 1}}); });
    expectNotPostgrest("Repository::count", [&] { repo.count(); });
    expectNotPostgrest("Repository::save", [&] { repo.save(User{.id = 1, .name = "n", .email = "e@x.io"}); });
    expectNotPostgrest("Repository::update", [&] { repo.update({{"id", 1}}, json{{"name", "m"}}); });
    expectNotPostgrest("Repository::remove", [&] { repo.remove({{"id", 1}}); });
    if (std::string(mode) != "/json") expectNotPostgrest("rpc", [&] { client.rpc("reset_tables"); });
  }
}

TEST_F(ClientSafetyNotPostgrest, TheRealServerStillPasses) {
  // The same calls against PostgREST 12.0.2 (the checks must accept every real answer).
  auto users = [&] { return client_->from<User>("users"); };
  auto repo = client_->getRepository<User>("users");
  EXPECT_TRUE(users().find().empty());
  EXPECT_FALSE(users().eq("id", 1).findOne());
  EXPECT_EQ(users().count(), 0u);
  auto one = users().insert(User{.name = "n", .email = "e@x.io"});
  auto many = users().insert(std::vector<User>{{.name = "m", .email = "m@x.io"}, {.name = "o", .email = "o@x.io"}});
  EXPECT_EQ(many.size(), 2u);
  EXPECT_EQ(users().count(), 3u);
  EXPECT_EQ(users().order("id").limit(2).find().size(), 2u);
  EXPECT_EQ(users().order("id").offset(1).limit(5).find().size(), 2u);
  EXPECT_EQ(users().eq("id", *one.id).update(json{{"name", "n2"}}).size(), 1u);
  EXPECT_EQ(users().eq("id", -1).update(json{{"name", "n2"}}).size(), 0u);
  EXPECT_EQ(users().gt("id", 0).update(json{{"status", "s"}}).size(), 3u);
  EXPECT_EQ(users().eq("id", -1).remove().size(), 0u);
  auto saved = repo.save(User{.id = one.id, .name = "n3", .email = "e@x.io"});
  EXPECT_EQ(saved.name, "n3");
  EXPECT_EQ(repo.save(User{.name = "p", .email = "p@x.io"}).name, "p");
  EXPECT_EQ(repo.remove({{"id", *one.id}}).size(), 1u);
  EXPECT_EQ(repo.remove({{"id", -1}}).size(), 0u);
  EXPECT_EQ(repo.count({{"name", "p"}}), 1u);
  EXPECT_EQ(client_->rpc("delete_inactive_users", {{"before", "2000-01-01T00:00:00Z"}}), json(0));
  client_->rpc("reset_tables");  // void: 204 or 200 with null
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 0);
}

// ---------------------------------------------------------------------------------------------
// Point 11: names PostgREST accepts; tables it does not expose
// ---------------------------------------------------------------------------------------------

class ClientSafetyNames : public IntegrationTest {
 protected:
  static constexpr const char* kTable = "safety odd \"t\".ü";

  void SetUp() override {
    IntegrationTest::SetUp();
    if (!server_) return;
    sql("drop table if exists api.\"safety odd \"\"t\"\".ü\"; "
        "create table api.\"safety odd \"\"t\"\".ü\" (\"my col\" text primary key, \"q\"\"uote\" text, "
        "\"größe\" int, \"a.b\" text, \"x,y\" text, \"p(x)\" text, \"b\\s\" text); "
        "grant all on api.\"safety odd \"\"t\"\".ü\" to anon, web_user; notify pgrst, 'reload schema'");
    waitUntilExposed();
  }
  void TearDown() override {
    if (server_) sql("drop table if exists api.\"safety odd \"\"t\"\".ü\"; notify pgrst, 'reload schema'");
  }
  void waitUntilExposed() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      Client fresh({.url = server_->url});
      if (fresh.describeTable(kTable)->found) return;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "PostgREST did not reload its schema cache";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::string rows() {
    return sql(
        "select string_agg(\"my col\" || '=' || coalesce(\"q\"\"uote\", '-') || '/' || coalesce(\"a.b\", '-'), "
        "',' order by \"my col\") from api.\"safety odd \"\"t\"\".ü\"");
  }
};

TEST_F(ClientSafetyNames, QuotedNamesPostgrestAcceptsWork) {
  auto t = client_->from(kTable);
  json row = {{"my col", "k1"}, {"q\"uote", "v\"1"}, {"größe", 1},  {"a.b", "ab"},
              {"x,y", "xy"},    {"p(x)", "px"},      {"b\\s", "bs"}};
  auto inserted = t.insert(row);
  EXPECT_EQ(inserted, row);
  EXPECT_EQ(rows(), "k1=v\"1/ab");
  // Filters take PostgREST's names: a name with reserved characters is written quoted.
  EXPECT_EQ(t.filter("\"a.b\"", pgrestify::eq("ab")).find().size(), 1u);
  EXPECT_EQ(t.filter("\"q\\\"uote\"", pgrestify::eq("v\"1")).find().size(), 1u);
  EXPECT_EQ(t.filter("\"x,y\"", pgrestify::eq("xy")).count(), 1u);
  EXPECT_EQ(t.eq("my col", "k1").count(), 1u);
  EXPECT_EQ(t.eq("größe", 1).count(), 1u);
  EXPECT_EQ(t.select("\"q\\\"uote\",\"b\\\\s\"").order("q\"uote").order("b\\s", false).find(),
            (std::vector<json>{{{"q\"uote", "v\"1"}, {"b\\s", "bs"}}}));
  // update/remove: a quoted column with a dot restricts the table (not an embedded resource).
  EXPECT_EQ(t.filter("\"a.b\"", pgrestify::eq("ab")).update(json{{"q\"uote", "w"}}).size(), 1u);
  EXPECT_EQ(rows(), "k1=w/ab");
  // Bulk calls use the same quoting for columns= and on_conflict=.
  auto r = t.bulkUpsert(std::vector<json>{{{"my col", "k1"}, {"q\"uote", "u"}}, {{"my col", "k2"}, {"q\"uote", "n"}}});
  EXPECT_EQ(r.successful, 2u) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(rows(), "k1=u/ab,k2=n/-");
  auto repo = client_->getRepository(kTable);
  EXPECT_EQ(repo.save(json{{"my col", "k2"}, {"q\"uote", "s"}})["q\"uote"], "s");
  EXPECT_EQ(repo.remove({{"\"a.b\"", "ab"}}).size(), 1u);
  EXPECT_EQ(rows(), "k2=s/-");
}

TEST_F(ClientSafetyNames, UnknownTableIsNamedAsSuch) {
  std::vector<json> rows = {{{"id", 1}}};
  for (const std::string table : {"no_such_table", "safety_unknown"}) {
    auto m = messageOf([&] { client_->from(table).bulkUpsert(rows); });
    EXPECT_NE(m.find("is not exposed by PostgREST"), std::string::npos) << m;
    EXPECT_EQ(m.find("primary key"), std::string::npos) << m;
    m = messageOf([&] { client_->from(table).bulkInsert(rows, {.onConflict = OnConflict::Ignore}); });
    EXPECT_NE(m.find("is not exposed by PostgREST"), std::string::npos) << m;
    m = messageOf([&] { client_->getRepository(table).save(json{{"id", 1}}); });
    EXPECT_NE(m.find("is not exposed by PostgREST"), std::string::npos) << m;
  }
  // A table that exists without a primary key still says so.
  auto m = messageOf([&] { client_->from("events").bulkUpsert(std::vector<json>{{{"kind", "k"}}}); });
  EXPECT_NE(m.find("primary key"), std::string::npos) << m;
  EXPECT_EQ(counting_->count("POST"), 0u);
}

// ---------------------------------------------------------------------------------------------
// Client::send (issue 14 point 6)
// ---------------------------------------------------------------------------------------------

class ClientSafetySend : public IntegrationTest {};

TEST_F(ClientSafetySend, RelativeUrlsGetTheBaseUrlAndTheClientsHeaders) {
  // api.secrets is readable with the JWT only: the client's bearer token must be added.
  auto client = makeClient({.url = server_->url + "/", .bearerToken = server_->jwt});
  for (const std::string url : {"/secrets?select=value", "secrets?select=value"}) {
    auto r = client.send({.method = "GET", .url = url});
    EXPECT_EQ(r.status, 200) << url << " " << r.body << " " << r.errorMessage;
    EXPECT_EQ(json::parse(r.body, nullptr, false), json::parse(R"([{"value":"s3cr3t"}])")) << r.body;
  }
  // A header of the request wins over the client's header of the same name.
  auto anon = client.send({.method = "GET", .url = "/secrets", .headers = {{"authorization", "Bearer not.a.jwt"}}});
  EXPECT_EQ(anon.status, 401) << anon.body;
  // The schema's profile header is added too.
  sql("insert into other.notes(body) values ('n')");
  auto other = makeClient({.schema = "other"}).send({.method = "GET", .url = "/notes?select=body"});
  EXPECT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(json::parse(other.body, nullptr, false), json::parse(R"([{"body":"n"}])")) << other.body;
  // An absolute URL is sent untouched: the client's credentials do not go to another server.
  if (!server_->echoUrl.empty()) {
    auto echoed = client.send({.method = "GET", .url = server_->echoUrl + "/json"});
    EXPECT_EQ(echoed.status, 200);
    EXPECT_EQ(echoed.body.find("Authorization"), std::string::npos) << echoed.body;
    EXPECT_EQ(echoed.body.find(server_->jwt), std::string::npos);
  }
}

}  // namespace
}  // namespace pgrestify::test
