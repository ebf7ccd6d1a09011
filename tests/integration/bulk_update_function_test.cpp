// SPDX-License-Identifier: MIT
// bulkUpdate through the server-side function (sql/pgrestify_bulk_update.sql, issue #16):
// UpdateStrategy::Function and Auto's detection, on the real server. The function is installed in
// the `other` schema (clients of these tests use Content-Profile: other), so the tests of the api
// schema, run in parallel, keep their PATCH plan; it is dropped at the end of each test.
#include "test_env.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace pgrestify::test {
namespace {

using nlohmann::json;

// The shipped SQL, installed in schema `other` (the file's documented way: replace `api.`).
std::string functionSql() {
  std::ifstream in(std::string(PGRESTIFY_SOURCE_DIR) + "/sql/pgrestify_bulk_update.sql");
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  for (std::size_t at = 0; (at = s.find("api.", at)) != std::string::npos; at += 6) s.replace(at, 4, "other.");
  return s;
}

std::string freshMark() {
  return "updfn " + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

class BulkUpdateFunction : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ClientOptions options;
    options.schema = "other";
    client_ = std::make_unique<Client>(makeClient(options));
  }
  void TearDown() override {
    if (!server_) return;
    std::string drop = "drop function if exists other.pgrestify_bulk_update(text, text[], jsonb, boolean, text);";
    for (const auto& t : tables_) drop += "drop table if exists other." + t + ";";
    drop += "drop role if exists updfn_reader; notify pgrst, 'reload schema';";
    sql(drop);
  }

  // Runs @p ddl (creating table @p quoted, whose exposed name is @p name), installs the function
  // and waits until PostgREST's description lists both.
  void create(const std::string& ddl, const std::string& quoted, const std::string& name, bool withFunction = true) {
    tables_.push_back(quoted);
    const std::string mark = freshMark();
    sql(ddl + "; comment on table other." + quoted + " is '" + mark + "';" + (withFunction ? functionSql() : "") +
        "; notify pgrst, 'reload schema';");
    for (int i = 0; i < 400; ++i) {
      HttpRequest req;
      req.url = server_->url + "/";
      req.headers = {{"Accept", "application/openapi+json"}, {"Accept-Profile", "other"}};
      auto doc = json::parse(client_->send(req).body, nullptr, false);
      if (doc.is_object() && doc.contains("paths") &&
          doc["paths"].contains("/rpc/pgrestify_bulk_update") == withFunction && doc.contains("definitions") &&
          doc["definitions"].contains(name) && doc["definitions"][name].value("description", std::string()) == mark) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "PostgREST's schema cache does not show the test table and function";
  }

  std::vector<std::string> tables_;
};

// 100,000 rows, every one with its own values: Auto finds the function and updates each row
// exactly; keys that match nothing are reported not found, by index.
TEST_F(BulkUpdateFunction, AutoUpdatesOneHundredThousandDistinctRowsExactly) {
  create(
      "create table other.updfn_big (id int primary key, v text not null, n bigint not null, "
      "at timestamptz, tags text[], doc jsonb, untouched text default 'keep');"
      "insert into other.updfn_big (id, v, n) select g, 'old', 0 from generate_series(0, 99999) g;"
      "grant select, update on other.updfn_big to anon",
      "updfn_big", "updfn_big");
  ASSERT_FALSE(HasFatalFailure());
  std::vector<json> rows;
  rows.reserve(100010);
  for (int i = 0; i < 100000; ++i) {
    rows.push_back({{"id", i},
                    {"v", "v" + std::to_string(i * 7)},
                    {"n", static_cast<long long>(i) * 3000000000LL},
                    {"at", "2026-01-01T00:00:00Z"},
                    {"tags", {"t", std::to_string(i)}},
                    {"doc", {{"i", i}, {"s", "x\"y"}}}});
    if (i % 10000 == 5000) {  // a key no row has, among the others
      rows.push_back(
          {{"id", 200000 + i}, {"v", "none"}, {"n", 1}, {"at", nullptr}, {"tags", json::array()}, {"doc", nullptr}});
    }
  }
  counting_->reset();
  auto r = client_->from("updfn_big").bulkUpdate(rows);
  EXPECT_EQ(r.successful, 100000u);
  EXPECT_EQ(r.failed, 10u);
  EXPECT_EQ(r.notProcessed, 0u);
  std::vector<std::size_t> notFound;
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.kind, BulkErrorKind::NotFound) << e.message;
    notFound.insert(notFound.end(), e.indexes.begin(), e.indexes.end());
  }
  std::sort(notFound.begin(), notFound.end());
  std::vector<std::size_t> expected;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i]["id"].get<int>() >= 200000) expected.push_back(i);
  }
  EXPECT_EQ(notFound, expected);
  EXPECT_EQ(counting_->count("PATCH"), 0u) << "Auto must use the function when it is exposed";
  EXPECT_LE(counting_->count("POST"), 120u);
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_big where v = 'v' || (id * 7) and n = id * 3000000000 "
                     "and at = '2026-01-01T00:00:00Z' and tags = array['t', id::text] "
                     "and doc = jsonb_build_object('i', id, 's', 'x\"y') and untouched = 'keep'"),
            100000);
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_big"), 100000);
}

// Composite keys; rows with different columns go in different calls; returning gives whole rows.
TEST_F(BulkUpdateFunction, CompositeKeysAndColumnSets) {
  create(
      "create table other.updfn_comp (wh text, sku int, qty int not null, note text, primary key (wh, sku));"
      "insert into other.updfn_comp select w, s, 0, 'n' from unnest(array['a','b']) w, generate_series(1, 5) s;"
      "grant select, update on other.updfn_comp to anon",
      "updfn_comp", "updfn_comp");
  ASSERT_FALSE(HasFatalFailure());
  std::vector<json> rows = {{{"wh", "a"}, {"sku", 1}, {"qty", 11}},
                            {{"wh", "b"}, {"sku", 1}, {"qty", 21}, {"note", "x"}},
                            {{"wh", "a"}, {"sku", 9}, {"qty", 99}},
                            {{"wh", "b"}, {"sku", 2}, {"qty", 22}},
                            {{"wh", "a"}, {"sku", 1}, {"qty", 12}}};  // the same key again: applied after
  auto r =
      client_->from("updfn_comp")
          .bulkUpdate(rows, {.matchColumn = {"wh", "sku"}, .returning = true, .strategy = UpdateStrategy::Function});
  EXPECT_EQ(r.successful, 4u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{2});
  EXPECT_EQ(r.data.size(), 4u);
  for (const auto& d : r.data) EXPECT_TRUE(d.contains("note")) << d.dump();
  EXPECT_EQ(sql("select string_agg(wh || sku || ':' || qty || ':' || note, ',' order by wh, sku) from "
                "other.updfn_comp where qty <> 0"),
            "a1:12:n,b1:21:x,b2:22:n");
}

// Table and column names with quotes, spaces, `;`, a dot and unicode neither break nor inject.
TEST_F(BulkUpdateFunction, HostileNamesNeitherBreakNorInject) {
  const std::string table = "updfn t\"x; drop table other.updfn_canary;--.ü";
  const std::string quoted = "\"updfn t\"\"x; drop table other.updfn_canary;--.ü\"";
  create(
      "create table other.updfn_canary (i int); insert into other.updfn_canary values (1);"
      "grant select on other.updfn_canary to anon;"
      "create table other." +
          quoted +
          " (\"k;ey\" int primary key, \"va\"\"l ue\" text, \"ü)--\" int);"
          "insert into other." +
          quoted +
          " select g, 'old', 0 from generate_series(1, 20) g;"
          "grant select, update on other." +
          quoted + " to anon",
      quoted, table);
  tables_.push_back("updfn_canary");
  ASSERT_FALSE(HasFatalFailure());
  std::vector<json> rows;
  for (int i = 1; i <= 20; ++i) {
    rows.push_back(
        {{"k;ey", i}, {"va\"l ue", "new'); drop table other.updfn_canary;--" + std::to_string(i)}, {"ü)--", i * 2}});
  }
  auto r = client_->from(table).bulkUpdate(rows, {.matchColumn = "k;ey"});
  EXPECT_EQ(r.successful, 20u);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(counting_->count("PATCH"), 0u);
  EXPECT_EQ(sqlCount("select count(*) from other." + quoted +
                     " where \"va\"\"l ue\" = 'new''); drop table other.updfn_canary;--' || \"k;ey\" "
                     "and \"ü)--\" = \"k;ey\" * 2"),
            20);
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_canary"), 1);
  // A column the table does not have fails the rows (42703), it is never ignored.
  auto bad = client_->from(table).bulkUpdate(std::vector<json>{{{"k;ey", 1}, {"nope\"; --", 1}}},
                                             {.matchColumn = "k;ey", .strategy = UpdateStrategy::Function});
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].code, "42703") << bad.errors[0].message;
}

// Values get their column's type exactly as the table declares it (typmods, an enum, a domain in a
// schema the role cannot look names up in); a value the type refuses fails only its row; columns
// the rows do not carry keep their values. Rows of one call must all carry the same keys: a row
// with a key missing (which would set that column to NULL), an extra key or a non-object fails the
// whole call with 22023 and changes nothing.
TEST_F(BulkUpdateFunction, ColumnTypesAndRowShapesAreTheTables) {
  sql("drop table if exists other.updfn_types; drop type if exists other.updfn_mood;"
      "drop schema if exists updfn_priv cascade; create schema updfn_priv;"
      "create domain updfn_priv.short as varchar(4) check (value <> 'bad');");
  create(
      "create type other.updfn_mood as enum ('sad', 'ok', 'happy');"
      "create table other.updfn_types (id int primary key, v varchar(3), n numeric(5,2), m other.updfn_mood, "
      "d updfn_priv.short, untouched text default 'keep');"
      "insert into other.updfn_types (id, v, n, m, d) select g, 'old', 0, 'sad', 'x' from generate_series(1, 40) g;"
      "grant select, update on other.updfn_types to anon",
      "updfn_types", "updfn_types");
  ASSERT_FALSE(HasFatalFailure());
  std::vector<json> rows;
  for (int i = 1; i <= 40; ++i) {
    rows.push_back({{"id", i},
                    {"v", i == 7 ? "long" : "v" + std::to_string(i % 10)},
                    {"n", i + 0.005},
                    {"m", i % 2 ? "ok" : "happy"},
                    {"d", i == 30 ? "bad" : "d" + std::to_string(i)}});
  }
  auto r = client_->from("updfn_types").bulkUpdate(rows, {.strategy = UpdateStrategy::Function});
  EXPECT_EQ(r.successful, 38u);
  EXPECT_EQ(r.failed, 2u);
  std::vector<std::string> codes;
  std::vector<std::size_t> failed;
  for (const auto& e : r.errors) {
    codes.push_back(e.code);
    failed.insert(failed.end(), e.indexes.begin(), e.indexes.end());
  }
  std::sort(codes.begin(), codes.end());
  std::sort(failed.begin(), failed.end());
  EXPECT_EQ(codes, (std::vector<std::string>{"22001", "23514"}));  // varchar(3), the domain's check
  EXPECT_EQ(failed, (std::vector<std::size_t>{6, 29}));
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_types where v = 'v' || (id % 10) and n = id + 0.01 "
                     "and m = case when id % 2 = 1 then 'ok' else 'happy' end::other.updfn_mood "
                     "and d = 'd' || id and untouched = 'keep'"),
            38);
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_types where id in (7, 30) and v = 'old' and d = 'x'"), 2);

  const std::string before = sql("select md5(string_agg(t::text, ',' order by id)) from other.updfn_types t");
  auto call = [&](const std::string& rowsJson) {
    HttpRequest req;
    req.method = "POST";
    req.url = server_->url + "/rpc/pgrestify_bulk_update";
    req.headers = {{"Content-Type", "application/json"}, {"Content-Profile", "other"}};
    req.body = R"({"target_table":"updfn_types","key_columns":["id"],"rows":)" + rowsJson + "}";
    return client_->send(req);
  };
  for (const std::string bad :
       {R"([{"id":1,"v":"a","n":1},{"id":2,"v":"b"}])", R"([{"id":1,"v":"a"},{"id":2,"v":"b","n":2}])",
        R"([{"id":1,"v":"a"},{"id":2,"n":2}])", R"([{"id":1,"v":"a"},["id","v"]])", R"([{"id":1,"v":"a"},"id"])",
        R"([{"id":1,"v":"a"},null])"}) {
    auto answer = call(bad);
    EXPECT_EQ(answer.status, 400) << bad << " " << answer.body;
    EXPECT_EQ(json::parse(answer.body, nullptr, false).value("code", std::string()), "22023") << bad << answer.body;
  }
  auto good = call(R"([{"v":"z1","id":1},{"id":2,"v":null}])");  // key order and null values are fine
  EXPECT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(sql("select string_agg(id || ':' || coalesce(v, 'NULL'), ',' order by id) from other.updfn_types "
                "where id <= 2"),
            "1:z1,2:NULL");
  sql("update other.updfn_types set v = 'v' || (id % 10) where id <= 2");
  EXPECT_EQ(sql("select md5(string_agg(t::text, ',' order by id)) from other.updfn_types t"), before);
  sql("drop table if exists other.updfn_types; drop type if exists other.updfn_mood;"
      "drop schema if exists updfn_priv cascade;");
}

// A role without UPDATE on the table gets 42501 for its rows, and nothing changes.
TEST_F(BulkUpdateFunction, RoleWithoutUpdateGets42501) {
  create(
      "create table other.updfn_ro (id int primary key, v text);"
      "insert into other.updfn_ro select g, 'old' from generate_series(1, 30) g;"
      "grant select on other.updfn_ro to anon",
      "updfn_ro", "updfn_ro");
  ASSERT_FALSE(HasFatalFailure());
  std::vector<json> rows;
  for (int i = 1; i <= 30; ++i) rows.push_back({{"id", i}, {"v", "new" + std::to_string(i)}});
  auto r = client_->from("updfn_ro").bulkUpdate(rows, {.strategy = UpdateStrategy::Function});
  EXPECT_EQ(r.successful, 0u);
  EXPECT_EQ(r.failed, 30u);
  ASSERT_FALSE(r.errors.empty());
  for (const auto& e : r.errors) EXPECT_EQ(e.code, "42501") << e.message;
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_ro where v = 'old'"), 30);
}

// Rows a row-level-security policy hides from the role are reported not found and unchanged.
TEST_F(BulkUpdateFunction, RowLevelSecurityHidesRowsAsNotFound) {
  create(
      "create table other.updfn_rls (id int primary key, v text);"
      "insert into other.updfn_rls select g, 'old' from generate_series(1, 40) g;"
      "grant select, update on other.updfn_rls to anon;"
      "alter table other.updfn_rls enable row level security;"
      "create policy updfn_even on other.updfn_rls to anon using (id % 2 = 0)",
      "updfn_rls", "updfn_rls");
  ASSERT_FALSE(HasFatalFailure());
  std::vector<json> rows;
  for (int i = 1; i <= 40; ++i) rows.push_back({{"id", i}, {"v", "new" + std::to_string(i)}});
  auto r = client_->from("updfn_rls").bulkUpdate(rows);
  EXPECT_EQ(r.successful, 20u);
  std::vector<std::size_t> notFound;
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.kind, BulkErrorKind::NotFound);
    notFound.insert(notFound.end(), e.indexes.begin(), e.indexes.end());
  }
  std::sort(notFound.begin(), notFound.end());
  std::vector<std::size_t> odd;
  for (std::size_t i = 0; i < 40; i += 2) odd.push_back(i);  // ids 1, 3, ... are at indexes 0, 2, ...
  EXPECT_EQ(notFound, odd);
  EXPECT_EQ(counting_->count("PATCH"), 0u);
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_rls where id % 2 = 1 and v = 'old'"), 20);
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_rls where id % 2 = 0 and v = 'new' || id"), 20);
}

// A check violation fails only the violating rows (the engine bisects on 23514 through the function).
TEST_F(BulkUpdateFunction, CheckViolationFailsOnlyViolatingRows) {
  create(
      "create table other.updfn_chk (id int primary key, qty int not null check (qty >= 0));"
      "insert into other.updfn_chk select g, 1 from generate_series(1, 1000) g;"
      "grant select, update on other.updfn_chk to anon",
      "updfn_chk", "updfn_chk");
  ASSERT_FALSE(HasFatalFailure());
  std::vector<json> rows;
  std::vector<std::size_t> bad = {3, 400, 401, 999};
  for (int i = 1; i <= 1000; ++i) {
    const auto index = static_cast<std::size_t>(i - 1);
    const bool violates = std::find(bad.begin(), bad.end(), index) != bad.end();
    rows.push_back({{"id", i}, {"qty", violates ? -i : i * 10}});
  }
  auto r = client_->from("updfn_chk").bulkUpdate(rows, {.strategy = UpdateStrategy::Function});
  EXPECT_EQ(r.successful, 996u);
  EXPECT_EQ(r.failed, 4u);
  std::vector<std::size_t> failed;
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.code, "23514") << e.message;
    failed.insert(failed.end(), e.indexes.begin(), e.indexes.end());
  }
  std::sort(failed.begin(), failed.end());
  EXPECT_EQ(failed, bad);
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_chk where qty = id * 10"), 996);
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_chk where qty = 1"), 4);
}

// Without the function, Auto keeps its PATCH plan (one PATCH per distinct row); an explicit
// Function strategy fails the rows with PostgREST's error and changes nothing.
TEST_F(BulkUpdateFunction, WithoutTheFunctionAutoPatches) {
  create(
      "create table other.updfn_none (id int primary key, v text);"
      "insert into other.updfn_none select g, 'old' from generate_series(1, 10) g;"
      "grant select, update on other.updfn_none to anon",
      "updfn_none", "updfn_none", /*withFunction=*/false);
  ASSERT_FALSE(HasFatalFailure());
  std::vector<json> rows;
  for (int i = 1; i <= 10; ++i) rows.push_back({{"id", i}, {"v", "new" + std::to_string(i)}});
  auto f = client_->from("updfn_none").bulkUpdate(rows, {.strategy = UpdateStrategy::Function});
  EXPECT_EQ(f.failed, 10u);
  ASSERT_FALSE(f.errors.empty());
  EXPECT_EQ(f.errors[0].status, 404) << f.errors[0].message;
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_none where v = 'old'"), 10);
  counting_->reset();
  auto r = client_->from("updfn_none").bulkUpdate(rows);
  EXPECT_EQ(r.successful, 10u);
  EXPECT_EQ(counting_->count("PATCH"), 10u);
  EXPECT_EQ(counting_->count("POST"), 0u);
  EXPECT_EQ(sqlCount("select count(*) from other.updfn_none where v = 'new' || id"), 10);
}

// Function strategy refuses a `select` it cannot honour before any request.
TEST_F(BulkUpdateFunction, FunctionRefusesSelectBeforeSending) {
  counting_->reset();
  std::vector<json> rows = {{{"id", 1}, {"v", "x"}}};
  EXPECT_THROW(
      client_->from("t").bulkUpdate(rows, {.returning = true, .strategy = UpdateStrategy::Function, .select = "id"}),
      std::invalid_argument);
  EXPECT_EQ(counting_->total(), 0u);
}

}  // namespace
}  // namespace pgrestify::test
