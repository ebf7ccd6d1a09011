// SPDX-License-Identifier: MIT
// What the bulk operations accept as PostgREST's answer (issue 13 point 3), how returned rows are
// matched to keys by the value the database compared (issue 22 point 1), keys too long for a URL
// and null keys (issue 13 points 4 and 5).
#include "../../src/key_match.hpp"
#include "../../src/ops_common.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgrestify::test {
namespace {

using detail::canonicalValue;
using detail::KeyType;
using json = nlohmann::json;

bool same(KeyType t, std::string_view a, std::string_view b) {
  auto x = canonicalValue(t, a);
  auto y = canonicalValue(t, b);
  return x && y && *x == *y;
}

TEST(KeyCanonical, UuidIgnoresCaseHyphensAndBraces) {
  const auto t = KeyType::Uuid;
  EXPECT_TRUE(same(t, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
  EXPECT_TRUE(same(t, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
  EXPECT_TRUE(same(t, "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
  EXPECT_FALSE(same(t, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
  EXPECT_FALSE(canonicalValue(t, "not-a-uuid"));
}

TEST(KeyCanonical, TimestampsCompareInstantsOrFields) {
  const auto tz = KeyType::Timestamptz;
  EXPECT_TRUE(same(tz, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00+00:00"));
  EXPECT_TRUE(same(tz, "2024-01-01 00:00:00+00", "2024-01-01T00:00:00+00:00"));
  EXPECT_TRUE(same(tz, "2024-01-01T02:30:00+02:30", "2024-01-01T00:00:00+00:00"));
  EXPECT_TRUE(same(tz, "2023-12-31T19:00:00-0500", "2024-01-01T00:00:00+00:00"));
  EXPECT_TRUE(same(tz, "2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00.500000+00:00"));
  EXPECT_TRUE(same(tz, "2024-01-01T00:00:00.1234567Z", "2024-01-01T00:00:00.123457+00:00"));  // microseconds
  EXPECT_FALSE(same(tz, "2024-01-01T00:00:01Z", "2024-01-01T00:00:00+00:00"));
  EXPECT_FALSE(canonicalValue(tz, "2024-01-01T00:00:00"));  // read in the session's zone: unknown
  const auto ts = KeyType::Timestamp;
  EXPECT_TRUE(same(ts, "2024-01-01 00:00:00", "2024-01-01T00:00:00"));
  EXPECT_TRUE(same(ts, "2024-01-01T00:00:00+05", "2024-01-01T00:00:00"));  // PostgreSQL ignores the offset
  EXPECT_TRUE(same(KeyType::Date, "2024-1-5", "2024-01-05"));
  EXPECT_TRUE(same(KeyType::Time, "7:05", "07:05:00"));
}

TEST(KeyCanonical, NumbersBooleansAndText) {
  EXPECT_TRUE(same(KeyType::Numeric, "1.50", "1.5"));
  EXPECT_TRUE(same(KeyType::Numeric, "150e-2", "1.5"));
  EXPECT_TRUE(same(KeyType::Numeric, "-0.0", "0"));
  EXPECT_TRUE(same(KeyType::Integer, "007", "7"));
  EXPECT_FALSE(same(KeyType::Numeric, "1.51", "1.5"));
  EXPECT_TRUE(same(KeyType::Double, "0.10", "0.1"));
  EXPECT_TRUE(same(KeyType::Real, "0.1000000001", "0.1"));  // the same float4
  EXPECT_TRUE(same(KeyType::Boolean, "TRUE", "true"));
  EXPECT_TRUE(same(KeyType::Boolean, "yes", "true"));
  EXPECT_TRUE(same(KeyType::CaseInsensitive, "Lead@X.io", "lead@x.io"));
  EXPECT_TRUE(same(KeyType::Blank, "ab  ", "ab"));
  EXPECT_FALSE(same(KeyType::Exact, "Lead", "lead"));
  EXPECT_FALSE(same(KeyType::Exact, " lead", "lead"));
  EXPECT_FALSE(canonicalValue(KeyType::Unknown, "x"));
  EXPECT_EQ(detail::keyTypeOf("timestamp with time zone"), KeyType::Timestamptz);
  EXPECT_EQ(detail::keyTypeOf("uuid"), KeyType::Uuid);
  EXPECT_EQ(detail::keyTypeOf("my_domain"), KeyType::Unknown);
}

TEST(AnswerCheck, ContentRangeOfMutations) {
  EXPECT_EQ(detail::contentRangeCount("*/3"), std::optional<std::size_t>(3));
  EXPECT_EQ(detail::contentRangeCount("0-2/3"), std::optional<std::size_t>(3));
  EXPECT_EQ(detail::contentRangeCount("*/0"), std::optional<std::size_t>(0));
  EXPECT_FALSE(detail::contentRangeCount("*/*"));
  EXPECT_FALSE(detail::contentRangeCount("0-2/*"));
  EXPECT_FALSE(detail::contentRangeCount("0-3/3"));
  EXPECT_FALSE(detail::contentRangeCount("bytes 0-2/3"));
  EXPECT_FALSE(detail::contentRangeCount(""));
}

HttpResponse answer(int code, std::string body, Headers headers) {
  HttpResponse r;
  r.status = code;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

TEST(AnswerCheck, AcceptsWhatPostgrestSends) {
  detail::ExpectedAnswer insert{201, 0, false, 3};
  EXPECT_EQ(detail::readAnswer(answer(201, "", {{"Content-Range", "*/3"}}), insert).count, 3u);
  EXPECT_EQ(detail::readAnswer(answer(201, "", {{"Content-Range", "*/2"}}), insert).count, 2u);
  detail::ExpectedAnswer merge{201, 200, true, 2};
  auto a = detail::readAnswer(answer(200, "[{\"id\":1}, \n {\"id\":2}]",
                                     {{"Content-Range", "*/2"}, {"Content-Type", "application/json; charset=utf-8"}}),
                              merge);
  EXPECT_EQ(a.rows.size(), 2u);
  detail::ExpectedAnswer patch{200, 0, true};
  EXPECT_EQ(
      detail::readAnswer(answer(200, "[]", {{"Content-Range", "*/0"}, {"Content-Type", "application/json"}}), patch)
          .count,
      0u);
  EXPECT_EQ(
      detail::readAnswer(answer(200, "[{\"id\":1}]",
                                {{"content-range", "0-0/1"}, {"content-type", "Application/JSON; charset=utf-8"}}),
                         patch)
          .count,
      1u);
}

std::string rejection(const HttpResponse& r, const detail::ExpectedAnswer& e) {
  try {
    detail::readAnswer(r, e);
  } catch (const std::runtime_error& err) {
    return err.what();
  }
  return "accepted";
}

TEST(AnswerCheck, RejectsWhatPostgrestNeverSends) {
  detail::ExpectedAnswer insert{201, 0, false, 3};
  EXPECT_EQ(rejection(answer(200, "<html></html>", {{"Content-Type", "text/html"}}), insert),
            "the answer is not PostgREST's: expected status 201 with a Content-Range and no body, got 200 text/html");
  EXPECT_NE(rejection(answer(201, "", {}), insert).find("no Content-Range"), std::string::npos);
  EXPECT_NE(rejection(answer(201, "", {{"Content-Range", "*/*"}}), insert).find("has no count"), std::string::npos);
  EXPECT_NE(rejection(answer(201, "", {{"Content-Range", "*/4"}}), insert).find("a count of 4 for 3 rows sent"),
            std::string::npos);
  EXPECT_NE(rejection(answer(201, "ok", {{"Content-Range", "*/3"}}), insert).find("a body"), std::string::npos);
  detail::ExpectedAnswer del{200, 0, true};
  const Headers json = {{"Content-Range", "*/1"}, {"Content-Type", "application/json"}};
  EXPECT_NE(rejection(answer(200, "[{\"echo\":\"x\"}]", {{"Content-Type", "application/json"}}), del)
                .find("no Content-Range"),
            std::string::npos);
  EXPECT_NE(rejection(answer(200, "{\"id\":1}", json), del).find("not a JSON array"), std::string::npos);
  EXPECT_NE(rejection(answer(200, "[1]", json), del).find("not an array of objects"), std::string::npos);
  EXPECT_NE(rejection(answer(200, "[{},{}]", json), del).find("2 rows in the body for a count of 1"),
            std::string::npos);
  EXPECT_NE(rejection(answer(204, "", {{"Content-Range", "*/1"}}), del).find("got 204"), std::string::npos);
  // A hostile header is not quoted raw.
  auto m = rejection(
      answer(201, "", {{"Content-Range", "*/\x01secret-that-is-very-long-very-long-very-long-very-long-xx"}}), insert);
  EXPECT_EQ(m.find('\x01'), std::string::npos);
}

// ---- through the client ----

json openApi(const std::string& table, const std::string& column, const std::string& format) {
  return {{"definitions", {{table, {{"properties", {{column, {{"format", format}, {"type", "string"}}}}}}}}}};
}

// A DELETE answer that spells the keys as the server would: @p spell maps a key to the server's text.
HttpResponse deleted(const std::vector<std::string>& keys) {
  json rows = json::array();
  for (const auto& k : keys) rows.push_back({{"id", k}});
  return status(200, rows.dump(), {{"Content-Range", "*/" + std::to_string(keys.size())}});
}

TEST(KeyMatching, UppercaseUuidsAreMatchedByValue) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    if (req.method == "GET") return status(200, openApi("docs", "id", "uuid").dump());
    return deleted({"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"});
  });
  auto client = fakeClient(fake);
  std::vector<std::string> keys = {"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "{B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}",
                                   "C0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"};
  auto r = client.from("docs").bulkDelete(keys, {.returning = true});
  EXPECT_EQ(r.successful, 2u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{2});
  EXPECT_EQ(r.data.size(), 2u);
}

TEST(KeyMatching, UnknownTypeFallsBackToCountsOrSaysItCannotTell) {
  // The description cannot be read: the type is unknown.
  auto twoBack = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    if (req.method == "GET") return status(404, "{}");
    return deleted({"k1", "k2"});
  });
  auto client = fakeClient(twoBack);
  std::vector<std::string> two = {"K1", "K2"};
  auto r = client.from("t").bulkDelete(two);
  EXPECT_EQ(r.successful, 2u) << "as many rows back as keys unmatched: every key matched";
  EXPECT_TRUE(r.ok());
  std::vector<std::string> three = {"K1", "K2", "K3"};
  r = client.from("t").bulkDelete(three);
  EXPECT_EQ(r.successful, 0u);
  EXPECT_EQ(r.failed, 3u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].outcomeUnknown) << "some of them were deleted";
  EXPECT_NE(r.errors[0].message.find("could not be matched to the server's spelling"), std::string::npos)
      << r.errors[0].message;
  // No row back at all: the keys matched nothing, whatever the type.
  auto none = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return deleted({}); });
  auto c2 = fakeClient(none);
  r = c2.from("t").bulkDelete(three);
  EXPECT_EQ(r.failed, 3u);
  EXPECT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_TRUE(none->requests("GET").empty()) << "the description is read only when rows are spelled differently";
}

TEST(KeyMatching, GroupedPatchDataComesBackInInputOrder) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return status(200, R"([{"id":3,"v":"x"},{"id":1,"v":"x"},{"id":2,"v":"x"}])", {{"Content-Range", "0-2/3"}});
  });
  auto client = fakeClient(fake);
  std::vector<json> rows = {{{"id", 1}, {"v", "x"}}, {{"id", 2}, {"v", "x"}}, {{"id", 3}, {"v", "x"}}};
  auto r = client.from("t").bulkUpdate(rows, {.returning = true});
  ASSERT_EQ(r.data.size(), 3u);
  EXPECT_EQ(r.data[0]["id"], 1);
  EXPECT_EQ(r.data[1]["id"], 2);
  EXPECT_EQ(r.data[2]["id"], 3);
}

TEST(KeyLimits, KeyTooLongForAnyUrlFailsAlone) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    const std::string url = detail::percentDecode(req.url);
    json rows = json::array();
    for (std::string k : {"short0", "short1"}) {
      if (url.find(k) != std::string::npos) rows.push_back({{"k", k}});
    }
    return status(200, rows.dump(), {{"Content-Range", "*/" + std::to_string(rows.size())}});
  });
  auto client = fakeClient(fake);
  std::vector<std::string> keys = {"short0", std::string(20000, 'x'), "short1"};
  auto r = client.from("t").bulkDelete(keys, {.matchColumn = "k", .maxUrlBytes = 8192});
  EXPECT_EQ(r.successful, 2u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::InvalidRow);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{1});
  EXPECT_NE(r.errors[0].message.find("the key is 20009 bytes in a URL; maxUrlBytes allows"), std::string::npos)
      << r.errors[0].message;
  for (const auto& q : fake->requests()) EXPECT_LT(q.url().size(), 8192u);
  std::vector<json> updates = {{{"k", std::string(20000, 'y')}, {"v", 1}}, {{"k", "short0"}, {"v", 1}}};
  auto u = client.from("t").bulkUpdate(updates, {.matchColumn = "k", .maxUrlBytes = 8192});
  ASSERT_EQ(u.errors.size(), 1u);
  EXPECT_EQ(u.errors[0].kind, BulkErrorKind::InvalidRow);
  EXPECT_EQ(u.errors[0].indexes, std::vector<std::size_t>{0});
}

TEST(KeyLimits, NullKeysAreNeverSent) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = fakeClient(fake);
  std::vector<json> keys = {nullptr, {{"id", nullptr}}};
  auto d = client.from("t").bulkDelete(keys);
  EXPECT_EQ(d.failed, 2u);
  std::vector<json> composite = {{{"a", 1}, {"b", nullptr}}, {{"a", nullptr}, {"b", "x"}}, {{"a", 1}}};
  auto c = client.from("t").bulkDelete(composite, {.matchColumn = {"a", "b"}});
  EXPECT_EQ(c.failed, 3u);
  std::vector<json> updates = {{{"id", nullptr}, {"v", 1}}, {{"a", 1}, {"b", nullptr}, {"v", 1}}};
  auto u = client.from("t").bulkUpdate(updates);
  auto uc = client.from("t").bulkUpdate(updates, {.matchColumn = {"a", "b"}});
  EXPECT_EQ(u.failed, 2u);
  EXPECT_EQ(uc.failed, 2u);
  for (const auto* r : {&d, &c, &u, &uc}) {
    for (const auto& e : r->errors) EXPECT_EQ(e.kind, BulkErrorKind::InvalidRow);
  }
  EXPECT_EQ(fake->count(), 0u) << "no request carries a null key";
}

}  // namespace
}  // namespace pgrestify::test
