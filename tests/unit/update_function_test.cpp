// SPDX-License-Identifier: MIT
// UpdateStrategy::Function on the wire (POST /rpc/pgrestify_bulk_update, issue #16) and Auto's
// detection of the function in PostgREST's OpenAPI description (once per client).
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;

namespace {

// A PostgREST that lists the function (or not) in its description and answers the function with
// the keys of the rows whose id is below 100 (the others "do not exist").
std::shared_ptr<FakeTransport> functionServer(bool listed) {
  return std::make_shared<FakeTransport>([listed](const HttpRequest& req, int) {
    if (req.method == "GET") {
      json doc = {{"swagger", "2.0"}, {"definitions", json::object()}, {"paths", {{"/", json::object()}}}};
      if (listed) doc["paths"]["/rpc/pgrestify_bulk_update"] = json::object();
      return status(200, doc.dump(), {{"Content-Type", "application/openapi+json; charset=utf-8"}});
    }
    if (req.url.find("/rpc/pgrestify_bulk_update") != std::string::npos) {
      json out = json::array();
      const json body = json::parse(req.body);
      for (const auto& row : body["rows"]) {
        if (row["id"].get<int>() < 100) out.push_back({{"id", row["id"]}});
      }
      return status(200, out.dump(), {{"Content-Type", "application/json; charset=utf-8"}});
    }
    // PATCH ?id=in.(X): that row matched
    const std::string url = detail::percentDecode(req.url);
    const auto open = url.find("in.(") + 4;
    const std::string id = url.substr(open, url.find(')', open) - open);
    return status(200, R"([{"id":)" + id + "}]", {{"Content-Range", "0-0/1"}, {"Content-Type", "application/json"}});
  });
}

std::vector<json> distinctRows(int n, int firstId = 1) {
  std::vector<json> rows;
  for (int i = 0; i < n; ++i) rows.push_back({{"id", firstId + i}, {"v", "value " + std::to_string(i)}});
  return rows;
}

}  // namespace

TEST(UpdateFunction, SendsRowsOfOneColumnSetToTheFunction) {
  auto fake = functionServer(true);
  auto client = fakeClient(fake, {.schema = "other"});
  std::vector<json> rows = {
      {{"id", 1}, {"v", "a"}}, {{"id", 2}, {"w", 2}}, {{"id", 150}, {"v", "b"}}, {{"id", 3}, {"v", "c"}}};
  auto r =
      client.from("my \"t\"; x").header("X-Tenant", "acme").bulkUpdate(rows, {.strategy = UpdateStrategy::Function});
  EXPECT_EQ(r.successful, 3u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{2});
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 2u) << "one call per column set, no description read for an explicit strategy";
  std::vector<json> bodies;
  for (const auto& q : reqs) {
    EXPECT_EQ(q.method(), "POST");
    EXPECT_NE(q.url().find("/rpc/pgrestify_bulk_update"), std::string::npos) << q.url();
    EXPECT_EQ(q.header("Content-Profile").value_or(""), "other");
    EXPECT_EQ(q.header("X-Tenant").value_or(""), "acme");
    bodies.push_back(q.json());
  }
  std::sort(bodies.begin(), bodies.end(),
            [](const json& a, const json& b) { return a["rows"].size() > b["rows"].size(); });
  EXPECT_EQ(bodies[0]["target_table"], "my \"t\"; x");
  EXPECT_EQ(bodies[0]["key_columns"], json({"id"}));
  EXPECT_EQ(bodies[0]["return_rows"], false);
  EXPECT_EQ(bodies[0]["rows"].size(), 3u);
  EXPECT_EQ(bodies[1]["rows"], json({{{"id", 2}, {"w", 2}}}));
}

TEST(UpdateFunction, AutoUsesTheFunctionWhenListedAndAsksOncePerClient) {
  auto fake = functionServer(true);
  auto client = fakeClient(fake);
  auto r = client.from("t").bulkUpdate(distinctRows(20));
  EXPECT_EQ(r.successful, 20u);
  auto again = client.from("t").bulkUpdate(distinctRows(20));
  EXPECT_EQ(again.successful, 20u);
  EXPECT_EQ(fake->requests("GET").size(), 1u) << "the description is read once per client";
  EXPECT_EQ(fake->requests("PATCH").size(), 0u);
  EXPECT_EQ(fake->requests("POST").size(), 2u);
}

TEST(UpdateFunction, AutoPatchesWhenNotListedOrFewRowsAreAlone) {
  auto fake = functionServer(false);
  auto client = fakeClient(fake);
  auto r = client.from("t").bulkUpdate(distinctRows(10));
  EXPECT_EQ(r.successful, 10u);
  EXPECT_EQ(fake->requests("GET").size(), 1u);
  EXPECT_EQ(fake->requests("PATCH").size(), 10u);
  EXPECT_EQ(fake->requests("POST").size(), 0u);

  auto listed = functionServer(true);
  auto small = fakeClient(listed);
  auto s = small.from("t").bulkUpdate(distinctRows(7));  // fewer than 8 rows alone: not worth asking
  EXPECT_EQ(s.successful, 7u);
  EXPECT_TRUE(listed->requests("GET").empty());
  EXPECT_EQ(listed->requests("PATCH").size(), 7u);
}

TEST(UpdateFunction, AnAnswerThatIsNotTheFunctionsFailsWithUnknownOutcome) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return status(200, R"({"not":"an array"})", {{"Content-Type", "application/json"}});
  });
  auto client = fakeClient(fake);
  auto r = client.from("t").bulkUpdate(distinctRows(3), {.strategy = UpdateStrategy::Function});
  EXPECT_EQ(r.failed, 3u);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
}
