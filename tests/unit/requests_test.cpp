// SPDX-License-Identifier: MIT
// What the bulk operations put on the wire, as the fake transport sees it: method, path, query
// parameters, Prefer and profile headers, and the rejection of header injection.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;

namespace {

std::set<std::string> preferTokens(const RecordedRequest& r) {
  std::set<std::string> out;
  std::string p(r.header("Prefer").value_or(""));
  std::size_t start = 0;
  while (start <= p.size()) {
    auto comma = p.find(',', start);
    std::string tok = p.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    tok.erase(0, tok.find_first_not_of(' '));
    if (!tok.empty()) out.insert(tok);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::set<std::string> splitSet(const std::string& s) {
  std::set<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto comma = s.find(',', start);
    out.insert(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::shared_ptr<FakeTransport> okFake() {
  return std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    if (req.method == "POST") return created(json::parse(req.body).size());
    return status(200, "[]", {{"Content-Range", "*/0"}, {"Content-Type", "application/json; charset=utf-8"}});
  });
}

}  // namespace

TEST(Requests, InsertDefaults) {
  auto fake = okFake();
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"id", 1}, {"first name", "a"}}, {{"id", 2}, {"größe", 3}}};
  auto r = client.from("people").bulkInsert(rows);
  EXPECT_EQ(r.successful, 2u);
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& q = reqs[0];
  EXPECT_EQ(q.method(), "POST");
  EXPECT_EQ(q.path(), "/people");
  // columns= is the union of the rows' keys, quoted where PostgREST's grammar needs it.
  EXPECT_EQ(splitSet(q.param("columns").value_or("")), (std::set<std::string>{"id", "\"first name\"", "\"größe\""}));
  EXPECT_FALSE(q.param("on_conflict"));
  EXPECT_FALSE(q.param("select"));
  // The rows' key sets differ: missing=default makes absent keys take the column default.
  // count=exact always: `successful` is the count PostgreSQL reports (a trigger may discard rows).
  EXPECT_EQ(preferTokens(q), (std::set<std::string>{"return=minimal", "count=exact", "missing=default"}));
  EXPECT_EQ(q.header("Content-Type").value_or(""), "application/json");
  EXPECT_FALSE(q.header("Content-Profile"));
  EXPECT_FALSE(q.header("Authorization"));
  EXPECT_EQ(q.json(), json(rows));
  // The raw URL carries no unencoded reserved characters.
  auto query = q.url().substr(q.url().find('?') + 1);
  EXPECT_EQ(query.find_first_of(",\" ()+"), std::string::npos) << q.url();
}

TEST(Requests, InsertReturningSelectAndMissingNull) {
  auto fake = okFake();
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"id", 1}}};
  client.from("t").bulkInsert(rows, {.returning = true, .missing = Missing::Null});
  client.from("t").bulkInsert(rows, {.returning = true, .select = "id,name"});
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 2u);
  // One key set per batch: no row lacks a listed column, so missing=default is not needed.
  EXPECT_EQ(preferTokens(reqs[0]), (std::set<std::string>{"return=representation", "count=exact"}));
  EXPECT_EQ(reqs[0].param("select"), std::optional<std::string>("*"));
  EXPECT_EQ(preferTokens(reqs[1]), (std::set<std::string>{"return=representation", "count=exact"}));
  EXPECT_EQ(reqs[1].param("select"), std::optional<std::string>("id,name"));

  // Rows whose key sets differ: Missing::Default asks for the column default, Missing::Null does not.
  std::vector<json> ragged = {{{"id", 1}}, {{"id", 2}, {"name", "x"}}};
  client.from("t").bulkInsert(ragged, {.missing = Missing::Null});
  client.from("t").bulkInsert(ragged);
  reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(preferTokens(reqs[2]), (std::set<std::string>{"return=minimal", "count=exact"}));
  EXPECT_EQ(preferTokens(reqs[3]), (std::set<std::string>{"return=minimal", "count=exact", "missing=default"}));
}

TEST(Requests, InsertOnConflictIgnore) {
  auto fake = okFake();
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"email", "a+b@x.io"}, {"name", "n"}}};
  client.from("users").bulkInsert(rows, {.onConflict = OnConflict::Ignore, .conflictColumns = {"email"}});
  auto q = fake->requests().at(0);
  EXPECT_EQ(q.param("on_conflict"), std::optional<std::string>("email"));
  EXPECT_EQ(preferTokens(q), (std::set<std::string>{"return=minimal", "count=exact", "resolution=ignore-duplicates"}));
  EXPECT_EQ(q.json()[0]["email"], "a+b@x.io");  // the body is JSON, not form-encoded
}

TEST(Requests, UpsertMergeCompositeKey) {
  auto fake = okFake();
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"warehouse", "w"}, {"sku", "s"}, {"qty", 1}}};
  client.from("inventory").bulkUpsert(rows, {.conflictColumns = {"warehouse", "sku"}});
  client.from("inventory").bulkUpsert(rows, {.conflictColumns = {"warehouse", "sku"}, .ignoreDuplicates = true});
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].param("on_conflict"), std::optional<std::string>("warehouse,sku"));
  EXPECT_EQ(preferTokens(reqs[0]),
            (std::set<std::string>{"return=minimal", "count=exact", "resolution=merge-duplicates"}));
  EXPECT_TRUE(preferTokens(reqs[1]).count("resolution=ignore-duplicates"));
}

TEST(Requests, UpsertResolvesThePrimaryKeyFromOpenApi) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    if (req.method == "GET") {
      json doc = {
          {"definitions",
           {{"tags",
             {{"properties",
               {{"key", {{"description", "Note:\nThis is a Primary Key.<pk/>"}}}, {"label", {{"type", "text"}}}}}}},
            {"events", {{"properties", {{"kind", {{"type", "text"}}}}}}}}}};
      return status(200, doc.dump());
    }
    return created(json::parse(req.body).size());
  });
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"key", "k"}, {"label", "l"}}};
  auto r = client.from("tags").bulkUpsert(rows);
  EXPECT_EQ(r.successful, 1u);
  auto posts = fake->requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].param("on_conflict"), std::optional<std::string>("key"));
  auto gets = fake->requests("GET");
  ASSERT_EQ(gets.size(), 1u);
  EXPECT_EQ(gets[0].header("Accept").value_or(""), "application/openapi+json");
  // No primary key: misuse, rejected before any write.
  EXPECT_THROW(client.from("events").bulkUpsert(rows), std::invalid_argument);
  EXPECT_EQ(fake->requests("POST").size(), 1u);
}

TEST(Requests, SchemaProfileAndBearerToken) {
  auto fake = okFake();
  auto client = fakeClient(fake, {.bearerToken = "tok.en.x", .schema = "other"});
  std::vector<json> rows = {{{"id", 1}}};
  client.from("notes").bulkInsert(rows);
  (void)client.from("notes").find();
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].header("Content-Profile").value_or(""), "other");
  EXPECT_FALSE(reqs[0].header("Accept-Profile"));
  EXPECT_EQ(reqs[0].header("Authorization").value_or(""), "Bearer tok.en.x");
  EXPECT_EQ(reqs[1].method(), "GET");
  EXPECT_EQ(reqs[1].header("Accept-Profile").value_or(""), "other");
  EXPECT_FALSE(reqs[1].header("Content-Profile"));
  EXPECT_EQ(reqs[1].header("Authorization").value_or(""), "Bearer tok.en.x");
}

// The builder's header() goes with every request of every bulk operation, as with simple calls.
TEST(Requests, BuilderHeadersReachBulkRequests) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    if (req.method == "POST") return created(json::parse(req.body).size());
    return status(200, json{{{"id", 1}}}.dump(), {{"Content-Range", "*/1"}});
  });
  auto client = fakeClient(fake, {.headers = {{"X-Client", "c"}}});
  auto query = client.from("t").header("X-Tenant", "acme");
  query.bulkInsert(std::vector<json>{{{"id", 1}}});
  query.bulkUpsert(std::vector<json>{{{"id", 1}}}, {.conflictColumns = "id"});
  query.bulkUpdate(std::vector<json>{{{"id", 1}, {"v", 2}}}, {.matchColumn = "id"});
  query.bulkUpdate(std::vector<json>{{{"id", 1}, {"v", 2}}}, {.matchColumn = "id", .strategy = UpdateStrategy::Upsert});
  query.bulkDelete(std::vector<json>{1}, {.matchColumn = "id"});
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 5u);
  for (const auto& q : reqs) {
    EXPECT_EQ(q.header("X-Tenant").value_or(""), "acme") << q.method() << " " << q.url();
    EXPECT_EQ(q.header("X-Client").value_or(""), "c") << q.method() << " " << q.url();
  }
  // Another builder of the same client does not carry it.
  client.from("t").bulkInsert(std::vector<json>{{{"id", 2}}});
  EXPECT_FALSE(fake->requests().back().header("X-Tenant"));
}

TEST(Requests, HeaderInjectionIsRejectedBeforeAnyRequest) {
  auto fake = okFake();
  EXPECT_THROW(fakeClient(fake, {.headers = {{"X-Tenant", "a\r\nX-Evil: 1"}}}), std::invalid_argument);
  EXPECT_THROW(fakeClient(fake, {.bearerToken = "tok\nX-Evil: 1"}), std::invalid_argument);
  EXPECT_THROW(fakeClient(fake, {.schema = "api\r\nX-Evil: 1"}), std::invalid_argument);
  EXPECT_THROW(fakeClient(fake, {.headers = {{"X-Bad\nName", "v"}}}), std::invalid_argument);
  auto client = fakeClient(fake);
  EXPECT_THROW(client.from("t").header("X-A", "v\nw"), std::invalid_argument);
  EXPECT_EQ(fake->count(), 0u);
}

TEST(Requests, DeleteByKeysQuotesAndEncodes) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    json deleted = {{{"key", "a,b"}}, {{"key", "q\"x\\"}}, {{"key", "a+b"}}};
    return status(200, deleted.dump(), {{"Content-Range", "*/3"}});
  });
  auto client = fakeClient(fake);
  std::vector<json> keys = {"a,b", "q\"x\\", "a+b"};
  auto r = client.from("tags").bulkDelete(keys, {.matchColumn = "key"});
  EXPECT_EQ(r.successful, 3u);
  expectAccounted(r, 3);
  auto q = fake->requests().at(0);
  EXPECT_EQ(q.method(), "DELETE");
  // The keys of a batch are sent in key order (lock ordering, issue #20): "a+b" < "a,b" < "q...".
  EXPECT_EQ(q.param("key"), std::optional<std::string>(R"(in.("a+b","a,b","q\"x\\"))"));
  EXPECT_EQ(q.param("select"), std::optional<std::string>("key"));
  EXPECT_TRUE(preferTokens(q).count("count=exact"));
  EXPECT_TRUE(q.body().empty());
  EXPECT_EQ(q.url().find('+'), std::string::npos) << "a raw + would arrive as a space: " << q.url();
}

TEST(Requests, DeleteNumericKeysBare) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return status(200, R"([{"id":1},{"id":2},{"id":3}])", {{"Content-Range", "*/3"}});
  });
  auto client = fakeClient(fake);
  std::vector<long long> ids = {1, 2, 3};
  auto r = client.from("users").bulkDelete(ids);
  EXPECT_EQ(r.successful, 3u);
  expectAccounted(r, 3);
  EXPECT_EQ(fake->requests().at(0).param("id"), std::optional<std::string>("in.(1,2,3)"));
}

TEST(Requests, MatchColumnsThatNeedQuotingAreQuotedInTheKeyFilter) {
  // A match column is a column name, quoted for PostgREST's grammar like the composite keys'
  // and(...) elements and select=: `first name=in.(...)` would not name the column.
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return status(200, R"([{"first name":"a"},{"first name":"b"}])", {{"Content-Range", "*/2"}});
  });
  auto client = fakeClient(fake);
  std::vector<std::string> keys = {"a", "b"};
  auto r = client.from("people").bulkDelete(keys, {.matchColumn = "first name"});
  EXPECT_EQ(r.successful, 2u);
  expectAccounted(r, 2);
  auto q = fake->requests().at(0);
  EXPECT_EQ(q.param("\"first name\""), std::optional<std::string>(R"(in.("a","b"))"));
  EXPECT_FALSE(q.param("first name").has_value());
}

TEST(Requests, UpdateGroupsIdenticalValuesAndPatchesByKey) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    // Echo the keys of the filter as matched rows.
    std::string list(RecordedRequest{0, req}.param("id").value_or("in.()"));
    auto inner = list.substr(4, list.size() - 5);
    json rows = json::array();
    std::size_t start = 0;
    while (start < inner.size()) {
      auto comma = inner.find(',', start);
      rows.push_back({{"id", std::stoll(inner.substr(start, comma - start))}});
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return status(200, rows.dump(),
                  {{"Content-Range", "0-" + std::to_string(rows.size() - 1) + "/" + std::to_string(rows.size())}});
  });
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"id", 1}, {"status", "x"}}, {{"id", 2}, {"status", "y"}}, {{"id", 3}, {"status", "x"}}};
  auto r = client.from("users").bulkUpdate(rows);
  EXPECT_EQ(r.successful, 3u);
  expectAccounted(r, 3);
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (const auto& q : reqs) EXPECT_EQ(q.method(), "PATCH");
  std::map<std::string, json> byFilter;
  for (const auto& q : reqs) byFilter[q.param("id").value_or("")] = q.json();
  EXPECT_EQ(byFilter["in.(1,3)"], json({{"status", "x"}}));
  EXPECT_EQ(byFilter["in.(2)"], json({{"status", "y"}}));
}

TEST(Requests, UpdateUpsertStrategyPostsMergeDuplicates) {
  auto fake = okFake();
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"id", 1}, {"status", "x"}}, {{"id", 2}, {"status", "y"}}};
  auto r = client.from("users").bulkUpdate(rows, {.strategy = UpdateStrategy::Upsert});
  EXPECT_EQ(r.successful, 2u);
  auto q = fake->requests().at(0);
  EXPECT_EQ(q.method(), "POST");
  EXPECT_EQ(q.param("on_conflict"), std::optional<std::string>("id"));
  EXPECT_TRUE(preferTokens(q).count("resolution=merge-duplicates"));
  EXPECT_EQ(q.json(), json(rows));
}

TEST(Requests, TableNameIsAPathSegment) {
  auto fake = okFake();
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"id", 1}}};
  client.from("my table/x").bulkInsert(rows);
  EXPECT_EQ(fake->requests().at(0).path(), "/my%20table%2Fx");
}
