// SPDX-License-Identifier: MIT
// The direct row writer (PGRESTIFY_ROW structs written straight to request bodies) against the
// nlohmann path it replaces: the same JSON, the same columns, the same keys, the same verdicts on
// rows that cannot be sent; and what bulkInsert puts on the wire for such rows.
#include "test_util.hpp"

#include <pgrestify/pgrestify.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;

namespace rowtest {

enum class Level { Low, High };
NLOHMANN_JSON_SERIALIZE_ENUM(Level, {{Level::Low, "low"}, {Level::High, "high"}})

struct Inner {
  int x = 0;
  std::string label;
};
PGRESTIFY_ROW(Inner, x, label)

struct Wide {
  std::optional<long long> id;
  std::string name;
  bool active = false;
  int small = 0;
  unsigned long long big = 0;
  std::int64_t negative = 0;
  double ratio = 0;
  float single = 0;
  std::optional<std::string> note;
  std::optional<double> score;
  Level level = Level::Low;
  std::vector<int> tags;
  std::map<std::string, int> attrs;
  Inner inner;
  json extra;
  std::optional<Inner> maybeInner;
};
PGRESTIFY_ROW(Wide, id, name, active, small, big, negative, ratio, single, note, score, level, tags, attrs, inner,
              extra, maybeInner)

struct Key2 {
  std::string tenant;
  long long id = 0;
  std::optional<std::string> value;
};
PGRESTIFY_ROW(Key2, tenant, id, value)

}  // namespace rowtest

namespace {

using rowtest::Wide;

struct Written {
  std::string text;
  std::string invalid;
  std::string signature;
  std::string key;
};

template <class T>
Written write(const T& row, const std::vector<std::string>& keys) {
  detail::RowWriter w(keys);
  Written out;
  detail::writeRow(w, out.text, row);
  out.invalid = w.invalid();
  out.signature = w.signature();
  out.key = w.key();
  return out;
}

/// A PGRESTIFY_ROW struct through the generated writer.
template <class T>
Written direct(const T& row, const std::vector<std::string>& keys = {}) {
  static_assert(detail::DirectRow<T>);
  return write(row, keys);
}

/// The same row through nlohmann (the path of json rows and user to_json).
Written viaJson(const json& row, const std::vector<std::string>& keys = {}) {
  static_assert(!detail::DirectRow<json>);
  return write(row, keys);
}

std::set<std::string> columnsOf(const std::string& signature) {
  std::set<std::string> out;
  std::size_t start = 0;
  while (start < signature.size()) {
    auto end = signature.find('\0', start);
    out.insert(signature.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Wide sample() {
  Wide w;
  w.id = 42;
  w.name = "plain ascii";
  w.active = true;
  w.small = -7;
  w.big = std::numeric_limits<unsigned long long>::max();
  w.negative = std::numeric_limits<std::int64_t>::min();
  w.ratio = 0.1;
  w.single = 1.1f;
  w.note = "line\nbreak \"quoted\" back\\slash tab\t ctl\x01 del\x7f é ✓ 𝄞";
  w.level = rowtest::Level::High;
  w.tags = {1, 2, 3};
  w.attrs = {{"a", 1}, {"b", 2}};
  w.inner = {5, "in\"ner"};
  w.extra = {{"k", {1, "two", nullptr}}};
  return w;
}

}  // namespace

TEST(RowWriter, SameJsonAsToJson) {
  const Wide w = sample();
  auto d = direct(w);
  ASSERT_EQ(d.invalid, "");
  const json expected = w;  // the nlohmann path: to_json
  EXPECT_EQ(json::parse(d.text), expected) << d.text;
  EXPECT_EQ(columnsOf(d.signature), columnsOf(viaJson(expected).signature));
  // Declaration order, empty optionals left out.
  using namespace std::string_literals;
  EXPECT_EQ(d.signature,
            "id\0name\0active\0small\0big\0negative\0ratio\0single\0note\0level\0tags\0attrs\0inner\0extra\0"s);
  EXPECT_EQ(d.text.find("score"), std::string::npos);
  EXPECT_EQ(d.text.find("maybeInner"), std::string::npos);
}

TEST(RowWriter, DoublesLookLikeNlohmanns) {
  for (double v :
       {0.0, -0.0, 1.0, -3.0, 0.1, 1e21, 1e-7, 123456789012.0, 2.5e300, 5e-324, std::numeric_limits<double>::max()}) {
    Wide w;
    w.ratio = v;
    auto d = direct(w);
    ASSERT_EQ(d.invalid, "");
    const auto parsed = json::parse(d.text);
    EXPECT_EQ(parsed["ratio"].get<double>(), v) << d.text;
    EXPECT_TRUE(parsed["ratio"].is_number_float()) << "a double must stay a JSON float: " << d.text;
  }
}

TEST(RowWriter, NonFiniteNumbersMakeTheRowInvalidLikeTheJsonPath) {
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
    Wide a;
    a.ratio = bad;
    Wide b;
    b.score = bad;
    Wide c;
    c.tags = {1};
    c.extra = {{"deep", {bad}}};
    for (const auto& w : {a, b, c}) {
      auto d = direct(w);
      EXPECT_EQ(d.invalid, detail::kNonFiniteMessage);
      EXPECT_EQ(viaJson(json(w)).invalid, d.invalid);
    }
  }
}

TEST(RowWriter, InvalidUtf8MakesTheRowInvalidLikeTheJsonPath) {
  for (std::string bad : {std::string("\xff"), std::string("ok\xc3"), std::string("\xed\xa0\x80")}) {
    Wide a;
    a.name = bad;
    Wide b;
    b.note = "x" + bad;
    Wide c;
    c.inner.label = bad;
    for (const auto& w : {a, b, c}) {
      auto d = direct(w);
      EXPECT_EQ(d.invalid, detail::kBadUtf8Message);
    }
    json j = {{"name", bad}};
    EXPECT_EQ(viaJson(j).invalid, detail::kBadUtf8Message);
  }
}

TEST(RowWriter, KeysMatchTheJsonPath) {
  const std::vector<std::string> keys = {"tenant", "id"};
  rowtest::Key2 k{"acme", 7, std::nullopt};
  auto d = direct(k, keys);
  EXPECT_EQ(d.key, viaJson(json(k), keys).key);
  EXPECT_EQ(d.key, std::string("\x1f"
                               "acme"
                               "\x1f"
                               "7"));
  // '' is a key too; an escaped string's key is its characters, not its JSON text.
  rowtest::Key2 e{"", 0, "v"};
  EXPECT_EQ(direct(e, keys).key, viaJson(json(e), keys).key);
  rowtest::Key2 q{"a\"b\n", 1, std::nullopt};
  EXPECT_EQ(direct(q, keys).key, viaJson(json(q), keys).key);
  // An absent optional key column: no key (the row cannot conflict).
  const std::vector<std::string> valueKey = {"value"};
  EXPECT_EQ(direct(k, valueKey).key, "");
  EXPECT_EQ(viaJson(json(k), valueKey).key, "");
  EXPECT_EQ(direct(e, valueKey).key, viaJson(json(e), valueKey).key);
  // A key column a json field holds as null: no key, like keyOf.
  Wide w;
  w.extra = nullptr;
  EXPECT_EQ(direct(w, {"extra"}).key, "");
  EXPECT_EQ(viaJson(json(w), {"extra"}).key, "");
  w.id = 9;
  EXPECT_EQ(direct(w, {"id"}).key, viaJson(json(w), {"id"}).key);
}

TEST(RowWriter, WriterIsReusedAcrossRows) {
  const std::vector<std::string> keys = {"id"};
  detail::RowWriter w(keys);
  std::string out;
  Wide bad;
  bad.ratio = std::nan("");
  bad.id = 1;
  detail::writeRow(w, out, bad);
  EXPECT_FALSE(w.invalid().empty());
  Wide good;  // no id: no key
  detail::writeRow(w, out, good);
  EXPECT_EQ(w.invalid(), "");
  EXPECT_EQ(w.key(), "");
  EXPECT_EQ(json::parse(out), json(good));
  detail::writeRow(w, out, json{{"id", 3}});
  EXPECT_EQ(w.key(),
            "\x1f"
            "3");
  detail::writeRow(w, out, good);
  EXPECT_EQ(w.key(), "");
}

// On the wire: a struct's rows go out in declaration order, and mixed key sets (empty optionals)
// still get columns= as the union and missing=default.
TEST(RowWriter, BulkInsertSendsStructRowsDirectly) {
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto client = fakeClient(fake);
  std::vector<rowtest::Key2> rows = {{"t", 1, "a"}, {"t", 2, std::nullopt}, {"u", 3, "c"}};
  auto r = client.from<rowtest::Key2>("kv").bulkInsert(rows, {.batchSize = 2});
  EXPECT_EQ(r.successful, 3u);
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].body(), R"([{"tenant":"t","id":1,"value":"a"},{"tenant":"t","id":2}])");
  EXPECT_EQ(reqs[0].param("columns").value_or(""), "tenant,id,value");
  EXPECT_NE(reqs[0].header("Prefer").value_or("").find("missing=default"), std::string::npos);
  EXPECT_EQ(reqs[1].body(), R"([{"tenant":"u","id":3,"value":"c"}])");
  EXPECT_EQ(reqs[1].header("Prefer").value_or("").find("missing=default"), std::string::npos);
}

// A row that cannot be serialized is a failed row with its index; the others are written.
TEST(RowWriter, BulkInsertReportsUnserializableStructRows) {
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto client = fakeClient(fake);
  std::vector<Wide> rows(5);
  rows[1].ratio = std::numeric_limits<double>::infinity();
  rows[3].name = "\xc0\xaf";
  auto r = client.from<Wide>("wide").bulkInsert(rows);
  expectAccounted(r, rows.size());
  EXPECT_EQ(r.successful, 3u);
  EXPECT_EQ(r.failed, 2u);
  std::vector<std::size_t> failed;
  for (const auto& e : r.errors) failed.insert(failed.end(), e.indexes.begin(), e.indexes.end());
  EXPECT_EQ(failed, (std::vector<std::size_t>{1, 3}));
  std::size_t sent = 0;
  for (const auto& q : fake->requests()) sent += json::parse(q.body()).size();
  EXPECT_EQ(sent, 3u);
}

// ---- exact numbers and raw JSON (issue #13 point 2) ----

namespace rowtest {
struct Exact {
  long long id = 0;
  RawJson amount;    // a numeric column: the digits as written
  RawJson doc;       // a jsonb column: the JSON value
  std::string text;  // a std::string holding JSON is a string
};
PGRESTIFY_ROW(Exact, id, amount, doc, text)
}  // namespace rowtest

TEST(RawJson, KeepsTheTextAsWritten) {
  const std::string body =
      R"({ "n" : 12345678901234567890.123456789 , "t":[ 1e-400, -0.0, 1E400, 123456789012345678901234567890 ],
              "s" : "a \" b\u00e9 \n" , "o":{"x" : null}, "e": {} })";
  RawJson r("\n " + body + " \r\n");
  EXPECT_EQ(r.text(), body);  // only the whitespace around the value is dropped
  ASSERT_EQ(r.members().size(), 5u);
  EXPECT_EQ(r.members()[0].name, "n");
  EXPECT_EQ(r.valueText(r.members()[0]), "12345678901234567890.123456789");
  EXPECT_EQ(r.valueText(r.members()[1]), "[ 1e-400, -0.0, 1E400, 123456789012345678901234567890 ]");
  EXPECT_EQ(r.valueText(r.members()[2]), R"("a \" b\u00e9 \n")");
  EXPECT_EQ(r.valueText(r.members()[3]), R"({"x" : null})");
  EXPECT_EQ(r.members()[4].name, "e");
  EXPECT_EQ(r.valueText(r.members()[4]), "{}");
  EXPECT_EQ(RawJson::scalarText(r.valueText(r.members()[2])), "a \" b\xc3\xa9 \n");
  EXPECT_EQ(RawJson::compact(r.text()),
            R"({"n":12345678901234567890.123456789,"t":[1e-400,-0.0,1E400,123456789012345678901234567890],)"
            R"("s":"a \" b\u00e9 \n","o":{"x":null},"e":{}})");
  EXPECT_TRUE(r.isObject());
  EXPECT_EQ(RawJson(" 42 ").text(), "42");
  EXPECT_EQ(RawJson("\xEF\xBB\xBF{\"a\":1}").text(), "{\"a\":1}");  // a leading BOM is dropped
  EXPECT_FALSE(RawJson::parse("[1,\xEF\xBB\xBF 2]"));
  EXPECT_EQ(RawJson(R"({"a":1})").valueText(RawJson(R"({"a":1})").members()[0]), "1");
  EXPECT_TRUE(RawJson().isNull());
}

TEST(RawJson, RejectsWhatIsNotOneValidJsonValue) {
  for (const char* bad :
       {"", "{", "{\"a\":1} x", "[1,]", "nan", "{'a':1}", "\"\xc0\xaf\"", "01", "1.", "\"\\ud800\""}) {
    std::string error;
    EXPECT_FALSE(RawJson::parse(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
    EXPECT_EQ(error.find("[json.exception"), std::string::npos) << error;
    EXPECT_THROW(RawJson{std::string_view(bad)}, std::invalid_argument) << bad;
  }
}

TEST(RawJson, RejectsANulByteWhereverItIs) {
  // nlohmann's parser takes a NUL byte for the end of the input: "21\0junk" would pass as 21 and
  // the junk would be sent (found by fuzz.run.csv_reader; corpus file crash-nul-in-json-field).
  using namespace std::string_literals;
  for (const std::string& bad : {"21\0\0``"s, "{\"a\":1}\0"s, "\"a\0b\""s, "[1,\0 2]"s}) {
    std::string error;
    EXPECT_FALSE(RawJson::parse(bad, &error)) << bad.size();
    EXPECT_FALSE(error.empty());
    EXPECT_THROW(RawJson{std::string_view(bad)}, std::invalid_argument);
  }
}

TEST(RawJson, ConvertsToNlohmannOnlyWhenExact) {
  EXPECT_EQ(json(RawJson(R"({"a":[1,2.5,"x"]})")), json::parse(R"({"a":[1,2.5,"x"]})"));
  for (const char* lossy :
       {"12345678901234567890.123456789", "1e-400", "0.10", "123456789012345678901234567890", "[1e400]"}) {
    EXPECT_THROW((void)json(RawJson(lossy)), std::invalid_argument) << lossy;
  }
}

TEST(RowWriter, RawJsonRowsAreWrittenVerbatimWithTheirColumnsAndKey) {
  auto w = write(RawJson(R"({"k": 12345678901234567890.5, "v":"x", "j":{"a":-0.0}})"), {"k"});
  EXPECT_EQ(w.invalid, "");
  EXPECT_EQ(w.text, R"({"k": 12345678901234567890.5, "v":"x", "j":{"a":-0.0}})");
  EXPECT_EQ(w.signature, std::string("k\0v\0j\0", 6));
  EXPECT_EQ(w.key, std::string(1, detail::kKeySeparator) + "12345678901234567890.5");
  // A string key is its characters, like keyOf() of a json row; a null or absent key is no key.
  EXPECT_EQ(write(RawJson(R"({"k":"a\"b"})"), {"k"}).key, viaJson(json{{"k", "a\"b"}}, {"k"}).key);
  EXPECT_EQ(write(RawJson(R"({"k":null})"), {"k"}).key, "");
  EXPECT_EQ(write(RawJson(R"({"v":1})"), {"k"}).key, "");
  EXPECT_EQ(write(RawJson("[1]"), {}).invalid, "a row must be a JSON object");
  EXPECT_NE(write(RawJson(R"({"a":1,"a":2})"), {}).invalid.find("'a' more than once"), std::string::npos);
}

TEST(RowWriter, RawJsonMembersAreJsonValuesAndStringsStayStrings) {
  rowtest::Exact row{7, RawJson("12345678901234567890.123456789"), RawJson(R"({"a": 1e-400})"), R"({"a":1})"};
  auto w = direct(row, {"amount"});
  EXPECT_EQ(w.invalid, "");
  EXPECT_EQ(w.text, R"({"id":7,"amount":12345678901234567890.123456789,"doc":{"a": 1e-400},"text":"{\"a\":1}"})");
  EXPECT_EQ(w.key, std::string(1, detail::kKeySeparator) + "12345678901234567890.123456789");
}

// The library never changes the digits of a number it is given: integers at the limits of their
// types and doubles are written so that they read back as the same value.
TEST(RowWriter, NumbersKeepTheirValueOnBothPaths) {
  const double doubles[] = {0.1, 1e-300, 5e-324, 1.7976931348623157e308, -0.0, 123456789.123456789, 1e22, 1e23};
  for (double d : doubles) {
    rowtest::Wide row;
    row.ratio = d;
    for (const auto& text : {direct(row).text, viaJson(json(row)).text}) {
      const auto back = json::parse(text).at("ratio").get<double>();
      EXPECT_EQ(std::memcmp(&back, &d, sizeof d), 0) << text;  // bit for bit (the sign of -0.0 too)
    }
  }
  rowtest::Wide row;
  row.big = std::numeric_limits<unsigned long long>::max();
  row.negative = std::numeric_limits<std::int64_t>::min();
  EXPECT_NE(direct(row).text.find("\"big\":18446744073709551615,"), std::string::npos);
  EXPECT_NE(direct(row).text.find("\"negative\":-9223372036854775808,"), std::string::npos);
  EXPECT_NE(viaJson(json(row)).text.find("\"big\":18446744073709551615,"), std::string::npos);
}

TEST(RowWriter, BulkInsertSendsRawJsonRowsVerbatim) {
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto client = fakeClient(fake);
  std::vector<RawJson> rows = {RawJson(R"({"id":1,"n":12345678901234567890.123456789})"), RawJson("[1]"),
                               RawJson(R"({"id":2, "n":1e-400, "j":{"x":-0.0}})")};
  auto r = client.from("exact").bulkInsert(rows);
  EXPECT_EQ(r.successful, 2u);
  EXPECT_EQ(r.failed, 1u);
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].body(), R"([{"id":1,"n":12345678901234567890.123456789},{"id":2, "n":1e-400, "j":{"x":-0.0}}])");
  EXPECT_EQ(reqs[0].param("columns").value_or(""), "id,n,j");
}
