// SPDX-License-Identifier: MIT
// Failure isolation on the real server for errors that depend on the row (issues #13.10, #22.3,
// #22.5): exceptions raised by triggers (P0001), row-level-security WITH CHECK violations, a
// value for a GENERATED ALWAYS column; and errors that do not depend on a row's values but on its
// columns (PGRST204 unknown column) or on nothing in the rows (grant-level 42501), which must not
// cost requests per row.
#include "test_env.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pgrestify::test {
namespace {

using nlohmann::json;

// PostgREST's schema cache is reloaded asynchronously (NOTIFY). Waits until its OpenAPI document
// shows each of @p tables with the table comment @p mark, set by the SQL that (re)created them,
// so the cache in use is the one made after that SQL (not an older one with same-named tables).
void waitForSchema(const Client& client, const std::string& url, const std::vector<std::string>& tables,
                   const std::string& mark) {
  for (int i = 0; i < 400; ++i) {
    HttpRequest req;
    req.url = url + "/";
    req.headers = {{"Accept", "application/openapi+json"}};
    auto res = client.send(req);
    auto doc = nlohmann::json::parse(res.body, nullptr, false);
    bool all = doc.is_object() && doc.contains("definitions") && doc["definitions"].is_object();
    for (const auto& t : tables) {
      all = all && doc["definitions"].contains(t) && doc["definitions"][t].is_object() &&
            doc["definitions"][t].value("description", std::string()) == mark;
    }
    if (all) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "PostgREST's schema cache does not show the test tables";
}

std::string freshMark() {
  return "test " + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

class Isolation : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    sql(R"(
      drop table if exists api.isolation_trig, api.isolation_cols, api.isolation_rls, api.isolation_gen,
                           api.isolation_ro;
      create table api.isolation_trig (id int primary key, name text not null);
      create or replace function api.isolation_reject() returns trigger language plpgsql as $$
      begin
        if new.id % 7 = 0 then raise exception 'row % rejected by the trigger', new.id; end if;
        return new;
      end $$;
      create trigger isolation_reject before insert on api.isolation_trig
        for each row execute function api.isolation_reject();
      create table api.isolation_cols (id int primary key, name text);
      create table api.isolation_rls (id int primary key, owner text not null, note text);
      alter table api.isolation_rls enable row level security;
      create policy isolation_own on api.isolation_rls for all to web_user
        using (true) with check (owner = current_user);
      create table api.isolation_gen (id int generated always as identity primary key, name text not null);
      create table api.isolation_ro (id int primary key, name text);
      grant select, insert, update, delete on api.isolation_trig, api.isolation_cols, api.isolation_rls,
        api.isolation_gen to anon, web_user;
      grant select on api.isolation_ro to anon, web_user;
    )");
    const std::string mark = freshMark();
    std::vector<std::string> tables = {"isolation_trig", "isolation_cols", "isolation_rls", "isolation_gen",
                                       "isolation_ro"};
    for (const auto& t : tables) sql("comment on table api." + t + " is '" + mark + "'");
    sql("notify pgrst, 'reload schema'");
    waitForSchema(*client_, server_->url, tables, mark);
  }
  void TearDown() override {
    if (!server_) return;
    sql("drop table if exists api.isolation_trig, api.isolation_cols, api.isolation_rls, api.isolation_gen, "
        "api.isolation_ro; drop function if exists api.isolation_reject(); notify pgrst, 'reload schema';");
  }

  static std::set<std::size_t> failedIndexes(const BulkResult<json>& r) {
    std::set<std::size_t> out;
    for (const auto& e : r.errors) out.insert(e.indexes.begin(), e.indexes.end());
    return out;
  }
};

TEST_F(Isolation, TriggerExceptionFailsOnlyTheRowsItIsRaisedFor) {
  std::vector<json> rows;
  std::set<std::size_t> bad;
  for (int id = 1; id <= 200; ++id) {
    rows.push_back({{"id", id}, {"name", "n" + std::to_string(id)}});
    if (id % 7 == 0) bad.insert(static_cast<std::size_t>(id - 1));
  }
  auto r = client_->from("isolation_trig").bulkInsert(rows);
  EXPECT_EQ(r.failed, bad.size());
  EXPECT_EQ(r.successful, rows.size() - bad.size());
  EXPECT_EQ(failedIndexes(r), bad);
  for (const auto& e : r.errors) {
    ASSERT_EQ(e.indexes.size(), 1u) << e.message;
    EXPECT_EQ(e.code, "P0001");
    EXPECT_EQ(e.message, "row " + std::to_string(e.indexes[0] + 1) + " rejected by the trigger")
        << "each row carries its own message";
  }
  EXPECT_EQ(sqlCount("select count(*) from api.isolation_trig"), static_cast<long long>(rows.size() - bad.size()));
  EXPECT_EQ(sqlCount("select count(*) from api.isolation_trig where id % 7 = 0"), 0);
}

TEST_F(Isolation, UnknownColumnInEveryRowTakesOneRequestPerBatch) {
  std::vector<json> rows;
  for (int id = 0; id < 20000; ++id) rows.push_back({{"id", id}, {"name", "n"}, {"bogus", 1}});
  auto r = client_->from("isolation_cols").bulkInsert(rows);
  EXPECT_EQ(r.failed, rows.size());
  EXPECT_EQ(r.successful, 0u);
  for (const auto& e : r.errors) EXPECT_EQ(e.code, "PGRST204") << e.message;
  EXPECT_LE(counting_->count("POST"), 25u) << "20 batches: the unknown column is not bisected down to single rows";
  EXPECT_EQ(sqlCount("select count(*) from api.isolation_cols"), 0);
}

TEST_F(Isolation, UnknownColumnFailsTheRowsCarryingItTogetherAndWritesTheOthers) {
  std::vector<json> rows;
  std::set<std::size_t> bad = {3, 40, 41, 97};
  for (int id = 0; id < 100; ++id) {
    json row = {{"id", id}, {"name", "n"}};
    if (bad.count(static_cast<std::size_t>(id))) row["bogus"] = "x";
    rows.push_back(row);
  }
  auto r = client_->from("isolation_cols").bulkInsert(rows);
  EXPECT_EQ(r.failed, bad.size());
  EXPECT_EQ(failedIndexes(r), bad);
  ASSERT_EQ(r.errors.size(), 1u) << "the rows carrying the column fail at once";
  EXPECT_EQ(r.errors[0].code, "PGRST204");
  EXPECT_EQ(counting_->count("POST"), 2u) << "one failed request, one resend of the other rows";
  EXPECT_EQ(sqlCount("select count(*) from api.isolation_cols"), 96);
}

TEST_F(Isolation, RowLevelSecurityWithCheckFailsOnlyTheViolatingRows) {
  auto client = makeClient({.bearerToken = server_->jwt});
  std::vector<json> rows;
  std::set<std::size_t> bad = {2, 11, 17};
  for (int id = 0; id < 20; ++id) {
    rows.push_back(
        {{"id", id}, {"owner", bad.count(static_cast<std::size_t>(id)) ? "someone_else" : "web_user"}, {"note", "n"}});
  }
  auto r = client.from("isolation_rls").bulkInsert(rows);
  EXPECT_EQ(r.failed, 3u);
  EXPECT_EQ(r.successful, 17u);
  EXPECT_EQ(failedIndexes(r), bad);
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.code, "42501");
    EXPECT_NE(e.message.find("row-level security"), std::string::npos) << e.message;
  }
  EXPECT_EQ(sqlCount("select count(*) from api.isolation_rls"), 17);
  EXPECT_EQ(sqlCount("select count(*) from api.isolation_rls where owner <> 'web_user'"), 0);
}

TEST_F(Isolation, GrantLevelPermissionErrorFailsTheBatchWithoutSplitting) {
  auto client = makeClient({.bearerToken = server_->jwt});
  std::vector<json> rows;
  for (int id = 0; id < 50; ++id) rows.push_back({{"id", id}, {"name", "n"}});
  auto r = client.from("isolation_ro").bulkInsert(rows);
  EXPECT_EQ(r.failed, 50u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].code, "42501");
  EXPECT_NE(r.errors[0].message.find("permission denied"), std::string::npos) << r.errors[0].message;
  EXPECT_EQ(counting_->count("POST"), 1u);
  EXPECT_EQ(sqlCount("select count(*) from api.isolation_ro"), 0);
}

TEST_F(Isolation, ValueForAGeneratedAlwaysColumnFailsOnlyTheRowCarryingIt) {
  std::vector<json> rows;
  for (int i = 0; i < 1000; ++i) rows.push_back({{"name", "n" + std::to_string(i)}});
  rows[613]["id"] = 5;
  auto r = client_->from("isolation_gen").bulkInsert(rows);
  EXPECT_EQ(r.successful, 999u);
  EXPECT_EQ(r.failed, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{613});
  EXPECT_EQ(r.errors[0].code, "428C9");
  EXPECT_NE(r.errors[0].message.find("\"id\""), std::string::npos) << r.errors[0].message;
  EXPECT_LE(counting_->count("POST"), 2u);
  EXPECT_EQ(sqlCount("select count(*) from api.isolation_gen"), 999);
  EXPECT_EQ(sqlCount("select count(*) from api.isolation_gen where name = 'n613'"), 0);
}

}  // namespace
}  // namespace pgrestify::test
