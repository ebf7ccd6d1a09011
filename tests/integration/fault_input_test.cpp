// SPDX-License-Identifier: MIT
// Bad input (issue 9): rows that cannot be serialized, hostile identifiers and values (no
// parameter or header injection, checked on the real server and on the exact URL sent),
// credentials kept out of error messages, TLS verification on by default.
#include "../fuzz/postgrest_grammar.hpp"
#include "fault_support.hpp"

#include <pgrestify/detail/encode.hpp>

#include <cmath>
#include <iostream>
#include <limits>
#include <set>

namespace pgrestify::test {
namespace {

using namespace fault;  // NOLINT(google-build-using-namespace)

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Rows that cannot be serialized
// ---------------------------------------------------------------------------------------------

class FaultBadInput : public IntegrationTest {};

TEST_F(FaultBadInput, UnserializableRowsFailAloneAndTheOthersAreWritten) {
  constexpr std::size_t n = 1000;
  std::vector<json> rows;
  for (std::size_t i = 0; i < n; ++i) rows.push_back({{"kind", rowKey(i)}, {"payload", {{"i", i}}}});
  const std::map<std::size_t, std::string> bad = {{10, "NaN"},    {20, "infinite"}, {30, "UTF-8"},
                                                  {40, "object"}, {50, "object"},   {60, "object"},
                                                  {70, "object"}, {80, "UTF-8"},    {999, "NaN"}};
  rows[10]["payload"]["v"] = std::numeric_limits<double>::quiet_NaN();
  rows[20]["payload"] = {{"nested", {1.0, -std::numeric_limits<double>::infinity()}}};
  rows[30]["kind"] = std::string("row30\xff\xfe@x");
  rows[40] = json::array({1, 2});
  rows[50] = 42;
  rows[60] = "a string";
  rows[70] = nullptr;
  rows[80] = {{"kind", rowKey(80)}, {std::string("bad\xc3\x28key"), 1}};
  rows[999]["payload"] = std::nan("");

  BulkResult<json> r;
  ASSERT_NO_THROW(r = client_->from("events").bulkInsert(rows, {.batchSize = 100}));
  EXPECT_EQ(r.failed, bad.size());
  EXPECT_EQ(r.successful, n - bad.size());
  ASSERT_EQ(r.errors.size(), bad.size());
  std::size_t k = 0;
  for (const auto& [index, word] : bad) {
    const auto& e = r.errors[k++];
    EXPECT_EQ(e.kind, BulkErrorKind::InvalidRow);
    EXPECT_EQ(e.indexes, std::vector<std::size_t>{index});
    EXPECT_NE(e.message.find(word), std::string::npos) << "row " << index << ": " << e.message;
  }
  auto counts = presence("events", "kind", n);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(counts[i], bad.count(i) ? 0 : 1) << "row " << i;
  }
  checkInvariant(r, counts);
}

TEST_F(FaultBadInput, UnserializableRowsInUpsertUpdateAndDeleteDoNotThrow) {
  std::vector<json> rows = {
      {{"key", "a"}, {"label", "x"}}, {{"key", "b"}, {"label", std::string("\xff")}}, {{"key", "c"}, {"label", "z"}}};
  BulkResult<json> r;
  ASSERT_NO_THROW(r = client_->from("tags").bulkUpsert(rows));
  EXPECT_EQ(r.successful, 2u);
  ASSERT_EQ(r.failed, 1u);
  EXPECT_EQ(r.errors.front().indexes, std::vector<std::size_t>{1});
  EXPECT_EQ(sql("select string_agg(key, ',' order by key) from api.tags"), "a,c");

  std::vector<json> updates = {
      {{"key", "a"}, {"label", "y"}}, {{"key", "c"}, {"label", std::nan("")}}, json::array({1})};
  ASSERT_NO_THROW(r = client_->from("tags").bulkUpdate(updates, {.matchColumn = "key"}));
  EXPECT_EQ(r.successful, 1u);
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(sql("select string_agg(key || '=' || label, ',' order by key) from api.tags"), "a=y,c=z");

  std::vector<json> keys = {"a", std::string("\xff\xfe"), json::object()};
  ASSERT_NO_THROW(r = client_->from("tags").bulkDelete(keys, {.matchColumn = "key"}));
  for (const auto& e : r.errors) {
    std::cout << "delete error rows " << e.indexes.front() << "+" << e.indexes.size() - 1 << ": " << e.status << " "
              << e.code << " " << e.message << "\n";
  }
  EXPECT_EQ(r.successful, 1u);
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(sql("select string_agg(key, ',' order by key) from api.tags"), "c");
}

// ---------------------------------------------------------------------------------------------
// Hostile identifiers and values
// ---------------------------------------------------------------------------------------------

const std::vector<std::string>& hostileValues() {
  static const std::vector<std::string> values = {"plain",
                                                  "it's",
                                                  "a,b",
                                                  "a&b=c",
                                                  "x#frag",
                                                  "100%",
                                                  "%41%3D",
                                                  "cr\rlf\nend",
                                                  "\"quoted\"",
                                                  "back\\slash",
                                                  "(paren)",
                                                  "a.eq.b",
                                                  "*star*",
                                                  " spaced ",
                                                  "+plus+",
                                                  "ünïcødé😀",
                                                  "semi;colon",
                                                  "or=(id.eq.1)",
                                                  "?q=1",
                                                  "null",
                                                  "NULL",
                                                  "in.(1,2)",
                                                  "{a,b}",
                                                  "[1]",
                                                  "tab\there",
                                                  "",
                                                  "'; drop table api.tags; --"};
  return values;
}

TEST_F(FaultBadInput, HostileFilterValuesOnTheRealServerMatchExactlyTheirRow) {
  const auto& values = hostileValues();
  std::vector<json> rows;
  for (std::size_t i = 0; i < values.size(); ++i)
    rows.push_back({{"key", values[i]}, {"label", "v" + std::to_string(i)}});
  rows.push_back({{"key", "bystander"}, {"label", "keep"}});
  auto r = client_->from("tags").bulkInsert(rows, {.batchSize = 7});
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().message);
  ASSERT_EQ(sqlCount("select count(*) from api.tags"), static_cast<long long>(values.size() + 1));

  for (std::size_t i = 0; i < values.size(); ++i) {
    auto found = client_->from("tags").eq("key", values[i]).find();
    ASSERT_EQ(found.size(), 1u) << "eq on '" << values[i] << "'";
    EXPECT_EQ(found[0]["key"], values[i]);
    EXPECT_EQ(found[0]["label"], "v" + std::to_string(i));
    auto listed = client_->from("tags").in("key", std::vector<std::string>{values[i], "nope"}).find();
    ASSERT_EQ(listed.size(), 1u) << "in on '" << values[i] << "'";
    EXPECT_EQ(listed[0]["key"], values[i]);
  }
  auto all = client_->from("tags").in("key", values).find();
  EXPECT_EQ(all.size(), values.size());

  // Bulk update and delete by hostile keys touch exactly those rows.
  std::vector<json> updates;
  for (const auto& v : values) updates.push_back({{"key", v}, {"label", "updated"}});
  auto u = client_->from("tags").bulkUpdate(updates, {.matchColumn = "key"});
  EXPECT_TRUE(u.ok()) << (u.errors.empty() ? "" : u.errors.front().message);
  EXPECT_EQ(sqlCount("select count(*) from api.tags where label = 'updated'"), static_cast<long long>(values.size()));
  auto d = client_->from("tags").bulkDelete(values, {.matchColumn = "key", .batchSize = 5});
  EXPECT_TRUE(d.ok()) << (d.errors.empty() ? "" : d.errors.front().message);
  EXPECT_EQ(d.successful, values.size());
  EXPECT_EQ(sql("select string_agg(key || '=' || label, ',') from api.tags"), "bystander=keep");
}

TEST_F(FaultBadInput, EmptyStringKeyAloneIsDeleted) {
  // PostgREST 12 reads `in.("")` as an empty list: a batch holding only the key '' must still match it.
  client_->from("tags").bulkInsert(
      std::vector<json>{{{"key", ""}, {"label", "empty"}}, {{"key", "x"}, {"label", "x"}}});
  auto d = client_->from("tags").bulkDelete(std::vector<std::string>{""}, {.matchColumn = "key"});
  EXPECT_EQ(d.successful, 1u) << (d.errors.empty() ? "" : d.errors.front().message);
  EXPECT_EQ(d.failed, 0u);
  EXPECT_EQ(sql("select string_agg(key, ',') from api.tags"), "x");
}

TEST_F(FaultBadInput, HostileColumnAndTableNamesCannotReachOtherData) {
  client_->from("tags").bulkInsert(std::vector<json>{{{"key", "k"}, {"label", "l"}}, {{"key", "k2"}, {"label", "l2"}}});
  // Column names carrying a second filter: sent raw, `key=eq.k&label=eq.l` would select exactly
  // row k. Encoded, PostgREST sees one odd column name (an error, or a parameter it ignores).
  for (const auto& [column, value] : std::vector<std::pair<std::string, std::string>>{
           {"key=eq.k&label", "l"}, {"label=eq.l&key", "k"}, {"key", "k&label=eq.l"}}) {
    try {
      auto rows = client_->from("tags").filter(column, Condition::raw("eq", value)).find();
      EXPECT_FALSE(rows.size() == 1 && rows[0]["key"] == "k") << column << " = " << value << " was injected";
    } catch (const Error& e) {
      EXPECT_GE(e.status(), 400) << e.what();
    }
  }
  // A table name carrying a query string or another path is one (unknown) path segment.
  for (const std::string table : {"tags?select=key", "tags#x", "tags/../secrets", "secrets?key=eq.k", "tags&a=b"}) {
    try {
      auto rows = client_->from(table).find();
      ADD_FAILURE() << "table '" << table << "' read " << rows.size() << " rows";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), 404) << table << ": " << e.what();
    }
  }
}

/// Splits `a=b&c=d` into decoded pairs; fails when a part has no '=' at all.
std::vector<std::pair<std::string, std::string>> decodeQuery(const std::string& query) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    auto amp = query.find('&', start);
    std::string part = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    auto eq = part.find('=');
    EXPECT_NE(eq, std::string::npos) << part;
    EXPECT_EQ(part.find('=', eq + 1), std::string::npos) << "a raw '=' in the value: " << part;
    out.emplace_back(detail::percentDecode(part.substr(0, eq)), detail::percentDecode(part.substr(eq + 1)));
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return out;
}

/// The URL's path (after the base URL) and its decoded query parameters.
std::pair<std::string, std::vector<std::pair<std::string, std::string>>> splitUrl(const std::string& url,
                                                                                  const std::string& base) {
  EXPECT_EQ(url.rfind(base, 0), 0u) << url;
  std::string rest = url.substr(base.size());
  EXPECT_EQ(rest.find('#'), std::string::npos) << "a raw '#' in " << url;
  for (char c : rest) {
    EXPECT_FALSE(static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
        << "raw control/space/non-ASCII byte in " << url;
  }
  auto q = rest.find('?');
  std::string path = rest.substr(0, q);
  EXPECT_EQ(path.find('?'), std::string::npos);
  return {path, q == std::string::npos ? decltype(decodeQuery("")){} : decodeQuery(rest.substr(q + 1))};
}

// parseInList: the reference parser of PostgREST 12's `in.(...)` grammar, shared with the fuzz
// targets (tests/fuzz/postgrest_grammar.hpp).
using fuzz::parseInList;

TEST(FaultBadInputUrl, HostileNamesAndValuesGiveExactlyTheIntendedParameters) {
  auto rec = std::make_shared<RecordingFake>();
  Client client({.url = "http://db.example:3000/", .transport = rec});
  const std::string base = "http://db.example:3000/";
  const auto& values = hostileValues();
  auto column = [](std::size_t i) { return "c" + std::to_string(i) + ",&=#% '()+;?/\xe2\x82\xac"; };
  auto q = client.from("ta ble&x=1#?/.");
  for (std::size_t i = 0; i < values.size(); ++i) q.eq(column(i), values[i]);
  q.in("id", values);
  q.find();
  auto reqs = rec->requests();
  ASSERT_EQ(reqs.size(), 1u);
  auto [path, params] = splitUrl(reqs[0].url, base);
  EXPECT_EQ(detail::percentDecode(path), "ta ble&x=1#?/.");
  EXPECT_EQ(path.find('/'), std::string::npos) << "the table is a single path segment";
  ASSERT_EQ(params.size(), values.size() + 1);
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(params[i].first, column(i));
    EXPECT_EQ(params[i].second, "eq." + values[i]);
  }
  EXPECT_EQ(params.back().first, "id");
  ASSERT_EQ(params.back().second.rfind("in.", 0), 0u);
  auto list = parseInList(std::string_view(params.back().second).substr(3));
  ASSERT_TRUE(list.has_value()) << params.back().second;
  EXPECT_EQ(*list, values);
}

TEST(FaultBadInputUrl, BulkRequestsCarryHostileColumnsAndKeysVerbatim) {
  auto rec = std::make_shared<RecordingFake>(HttpResponse{.status = 201, .headers = {{"Content-Range", "*/2"}}});
  Client client({.url = "http://db.example:3000", .transport = rec});
  const std::string weird = "we,ird&col=umn#%\xc3\xbc";
  std::vector<json> rows = {{{"id", 1}, {weird, "v1"}}, {{"id", 2}, {weird, "v2"}}};
  client.from("t").bulkUpsert(rows, {.conflictColumns = {weird}});
  auto reqs = rec->requests();
  ASSERT_EQ(reqs.size(), 1u);
  auto [path, params] = splitUrl(reqs[0].url, "http://db.example:3000/");
  EXPECT_EQ(path, "t");
  std::map<std::string, std::string> byKey(params.begin(), params.end());
  EXPECT_EQ(params.size(), byKey.size()) << "no parameter appears twice";
  EXPECT_EQ(byKey["columns"], "id,\"" + weird + "\"");
  EXPECT_EQ(byKey["on_conflict"], "\"" + weird + "\"");
  EXPECT_EQ(json::parse(reqs[0].body), json(rows));

  // Deleting by hostile keys: one `key=in.(...)` parameter whose elements are the keys exactly.
  rec->setAnswer(HttpResponse{.status = 200, .headers = {{"Content-Range", "*/0"}}, .body = "[]"});
  const auto& values = hostileValues();
  client.from("t").bulkDelete(values, {.matchColumn = "key", .returning = true});
  reqs = rec->requests();
  ASSERT_GE(reqs.size(), 2u);
  std::vector<std::string> seen;
  for (std::size_t k = 1; k < reqs.size(); ++k) {
    auto [p, ps] = splitUrl(reqs[k].url, "http://db.example:3000/");
    EXPECT_EQ(reqs[k].method, "DELETE");
    std::size_t inParams = 0;
    for (const auto& [key, value] : ps) {
      if (key != "key") continue;
      ++inParams;
      ASSERT_EQ(value.rfind("in.", 0), 0u) << value;
      auto list = parseInList(std::string_view(value).substr(3));
      ASSERT_TRUE(list.has_value()) << value;
      seen.insert(seen.end(), list->begin(), list->end());
    }
    EXPECT_EQ(inParams, 1u);
  }
  std::multiset<std::string> expected(values.begin(), values.end()), got(seen.begin(), seen.end());
  EXPECT_EQ(got, expected);
}

TEST(FaultBadInputUrl, HeaderValuesWithCrLfAreRejectedBeforeAnyRequest) {
  auto rec = std::make_shared<RecordingFake>();
  const std::vector<std::string> bads = {"v\r\nX-Injected: 1", "v\nX: 1", "v\rX", std::string("v\0x", 3)};
  for (const auto& bad : bads) {
    EXPECT_THROW(Client({.url = "http://h:1", .headers = {{"X-A", bad}}, .transport = rec}), std::invalid_argument);
    EXPECT_THROW(Client({.url = "http://h:1", .bearerToken = bad, .transport = rec}), std::invalid_argument);
    EXPECT_THROW(Client({.url = "http://h:1", .schema = bad, .transport = rec}), std::invalid_argument);
    EXPECT_THROW(Client({.url = "http://h:1", .userAgent = bad, .transport = rec}), std::invalid_argument);
    Client ok({.url = "http://h:1", .transport = rec});
    EXPECT_THROW(ok.from("t").header("X-A", bad).find(), std::invalid_argument);
    EXPECT_THROW(ok.from("t").header(bad, "v").find(), std::invalid_argument);
    EXPECT_THROW(ok.from("t").header("X-A", bad).bulkInsert(std::vector<json>{{{"a", 1}}}), std::invalid_argument);
  }
  EXPECT_THROW(Client({.url = "http://h:1/x\r\nHost: evil", .transport = rec}), std::invalid_argument);
  EXPECT_TRUE(rec->requests().empty());
}

// ---------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------

TEST(FaultCredentials, TokenNeverAppearsInExceptionsEvenWhenTheServerEchoesIt) {
  const std::string token = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.SIGNATURE-abc123";
  HttpResponse echo;
  echo.status = 401;
  echo.headers = {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Bearer error=\"" + token + "\""}};
  echo.body = json{
      {"code", "PGRST301"},
      {"message", "JWSError (CompactDecodeError Invalid token " + token + ")"},
      {"details", "Authorization: Bearer " + token},
      {"hint",
       token}}.dump();
  auto rec = std::make_shared<RecordingFake>(echo);
  Client client({.url = "http://h:1", .bearerToken = token, .transport = rec});
  try {
    client.from("users").find();
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_EQ(std::string(e.what()).find(token), std::string::npos) << e.what();
    EXPECT_EQ(e.message().find(token), std::string::npos) << e.message();
    EXPECT_EQ(e.details().find(token), std::string::npos) << e.details();
    EXPECT_EQ(e.hint().find(token), std::string::npos) << e.hint();
  }
  auto r = client.from("users").bulkInsert(std::vector<json>{{{"name", "a"}}});
  ASSERT_EQ(r.errors.size(), 1u);
  const auto& e = r.errors.front();
  EXPECT_EQ(e.message.find(token), std::string::npos) << e.message;
  EXPECT_EQ(e.details.find(token), std::string::npos) << e.details;
  EXPECT_EQ(e.hint.find(token), std::string::npos) << e.hint;
  // The request itself does carry it, in the Authorization header only.
  auto reqs = rec->requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(findHeader(reqs[0].headers, "Authorization").value_or(""), "Bearer " + token);
  EXPECT_EQ(reqs[0].url.find(token), std::string::npos);
}

class FaultCredentialsLive : public IntegrationTest {};

TEST_F(FaultCredentialsLive, RejectedTokenIsNotInTheErrorMessage) {
  const std::string token = server_->jwt.substr(0, server_->jwt.size() - 4) + "AAAA";  // bad signature
  auto client = makeClient({.bearerToken = token});
  try {
    client.from("users").find();
    ADD_FAILURE() << "a token with a bad signature was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 401) << e.what();
    EXPECT_EQ(std::string(e.what()).find(token), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find(token.substr(token.size() - 20)), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// TLS peer verification is on unless turned off
// ---------------------------------------------------------------------------------------------

TEST(FaultTls, VerificationIsOnByDefault) {
  EXPECT_TRUE(CurlTransportOptions{}.verifyTls);
  EXPECT_TRUE(ClientOptions{}.verifyTls);
  EXPECT_TRUE(CurlTransportOptions{}.caInfo.empty());
}

}  // namespace
}  // namespace pgrestify::test
