// SPDX-License-Identifier: MIT
// Issue 22 points 2 and 4: a bulk result says what the database did. Rows a trigger discards or
// redirects are not counted as written (`successful` is what PostgreSQL reports); writing with
// `returning` on a table whose SELECT policy hides the new rows fails and says why, and the
// repository can write without reading back.
#include "schema_change.hpp"
#include "test_env.hpp"

#include <string>
#include <vector>

namespace pgrestify::test {
namespace {

using json = nlohmann::json;

bool mentions(const std::vector<std::string>& warnings, const std::string& what) {
  for (const auto& w : warnings) {
    if (w.find(what) != std::string::npos) return true;
  }
  return false;
}

class Triggers : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (!server_) return;
    auto client = makeClient();
    ASSERT_TRUE(createAndExpose(
        "drop table if exists api.rs_discard, public.rs_child, api.rs_parent cascade;"
        "create table api.rs_discard (id int primary key, v text);"
        "create or replace function public.rs_discard_tenth() returns trigger language plpgsql as $$"
        "  begin if new.id % 10 = 0 then return null; end if; return new; end $$;"
        "create trigger rs_discard before insert on api.rs_discard for each row execute function "
        "public.rs_discard_tenth();"
        // inheritance partitioning: even ids go to the child table, the trigger returns NULL
        "create table api.rs_parent (id int primary key, v text);"
        "create table public.rs_child () inherits (api.rs_parent);"
        "create or replace function public.rs_redirect() returns trigger language plpgsql as $$"
        "  begin if new.id % 2 = 0 then insert into public.rs_child values (new.*); return null; end if;"
        "  return new; end $$;"
        "create trigger rs_redirect before insert on api.rs_parent for each row execute function public.rs_redirect();"
        "grant all on api.rs_discard, api.rs_parent, public.rs_child to anon, web_user;",
        "rs_parent", client));
  }
  void TearDown() override {
    if (server_) sql("drop table if exists api.rs_discard, public.rs_child, api.rs_parent cascade");
  }
  static std::vector<json> rows(int n, int from = 0) {
    std::vector<json> out;
    for (int i = from; i < from + n; ++i) out.push_back({{"id", i}, {"v", "r" + std::to_string(i)}});
    return out;
  }
};

TEST_F(Triggers, DiscardedRowsAreNotCountedWrittenInErrorMode) {
  auto client = makeClient();
  auto input = rows(2500);
  auto r = client.from("rs_discard").bulkInsert(input, {.batchSize = 500});
  EXPECT_EQ(sqlCount("select count(*) from api.rs_discard"), 2250);
  EXPECT_EQ(r.successful, 2250u) << "a row counted successful is in the table";
  EXPECT_EQ(r.skipped, 250u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(mentions(r.warnings, "250 row(s) were accepted without an error but PostgreSQL did not report them"));
  EXPECT_TRUE(mentions(r.warnings, "trigger"));
  // With returning, `data` holds exactly the rows written.
  sql("truncate api.rs_discard");
  auto back = client.from("rs_discard").bulkInsert(input, {.batchSize = 500, .returning = true});
  EXPECT_EQ(back.successful, 2250u);
  EXPECT_EQ(back.data.size(), 2250u);
}

TEST_F(Triggers, DiscardedRowsInIgnoreAndUpsertModes) {
  auto client = makeClient();
  sql("insert into api.rs_discard values (1, 'old'), (2, 'old')");  // 2 real duplicates
  auto input = rows(2500);
  auto r = client.from("rs_discard").bulkInsert(input, {.batchSize = 500, .onConflict = OnConflict::Ignore});
  EXPECT_EQ(sqlCount("select count(*) from api.rs_discard"), 2250);
  EXPECT_EQ(r.successful + 2, 2250u) << "successful == rows this call put in the table";
  EXPECT_EQ(r.skipped, 252u) << "250 discarded + 2 duplicates: they cannot be told apart";
  EXPECT_TRUE(mentions(r.warnings, "cannot be told apart"));
  // Upsert (merge-duplicates): updated rows count, discarded ones do not.
  sql("truncate api.rs_discard");
  auto u = client.from("rs_discard").bulkUpsert(input, {.batchSize = 500});
  EXPECT_EQ(sqlCount("select count(*) from api.rs_discard"), 2250);
  EXPECT_EQ(u.successful, 2250u);
  EXPECT_EQ(u.skipped, 250u);
}

TEST_F(Triggers, RedirectedRowsAreCountedAsPostgresqlReportsThem) {
  auto client = makeClient();
  auto input = rows(100);
  auto r = client.from("rs_parent").bulkInsert(input, {.batchSize = 30});
  // PostgreSQL reports only the rows stored in the table named by the INSERT (as its own COPY does).
  EXPECT_EQ(sqlCount("select count(*) from only api.rs_parent"), 50);
  EXPECT_EQ(sqlCount("select count(*) from public.rs_child"), 50);
  EXPECT_EQ(r.successful, 50u);
  EXPECT_EQ(r.skipped, 50u) << "redirected rows were accepted but not reported as written";
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(mentions(r.warnings, "redirected"));
}

// ---- row-level security and RETURNING ----

class RowSecurity : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (!server_) return;
    auto client = makeClient({.bearerToken = server_->jwt});
    ASSERT_TRUE(
        createAndExpose("drop table if exists api.rs_notes cascade;"
                        "create table api.rs_notes (id int primary key, owner text not null, body text);"
                        "alter table api.rs_notes enable row level security;"
                        "grant select, insert, update, delete on api.rs_notes to web_user;"
                        "create policy rs_notes_write on api.rs_notes for insert to web_user with check (true);"
                        "create policy rs_notes_read on api.rs_notes for select to web_user "
                        "  using (owner = 'me');",
                        "rs_notes", client));
  }
  void TearDown() override {
    if (server_) sql("drop table if exists api.rs_notes cascade");
  }
  static std::vector<json> notes() {
    std::vector<json> out;
    for (int i = 0; i < 10; ++i) {
      out.push_back({{"id", i}, {"owner", i % 3 == 1 ? "other" : "me"}, {"body", "b"}});  // 1,4,7: hidden
    }
    return out;
  }
};

TEST_F(RowSecurity, ReturningRowsTheSelectPolicyHidesFailsAndSaysWhy) {
  auto client = makeClient({.bearerToken = server_->jwt});
  auto input = notes();
  auto r = client.from("rs_notes").bulkInsert(input, {.returning = true});
  EXPECT_EQ(r.successful, static_cast<std::size_t>(sqlCount("select count(*) from api.rs_notes")));
  EXPECT_EQ(sqlCount("select count(*) from api.rs_notes where owner = 'other'"), 0);
  EXPECT_GE(r.failed, 3u);
  std::vector<std::size_t> failed;
  for (const auto& e : r.errors) {
    failed.insert(failed.end(), e.indexes.begin(), e.indexes.end());
    EXPECT_EQ(e.code, "42501");
    EXPECT_NE(e.hint.find("SELECT policies"), std::string::npos) << e.hint;
    EXPECT_NE(e.hint.find("returning = false"), std::string::npos) << e.hint;
  }
  for (std::size_t hidden : {1u, 4u, 7u}) {
    EXPECT_NE(std::find(failed.begin(), failed.end(), hidden), failed.end()) << hidden;
  }
}

TEST_F(RowSecurity, WritingWithoutReadingBack) {
  auto client = makeClient({.bearerToken = server_->jwt});
  auto input = notes();
  // The query builder without returning writes every row.
  auto r = client.from("rs_notes").bulkInsert(input);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(r.successful, 10u);
  EXPECT_EQ(sqlCount("select count(*) from api.rs_notes"), 10);
  sql("truncate api.rs_notes");

  // The repository reads rows back: it cannot write the hidden rows and says why.
  auto repo = client.getRepository("rs_notes");
  try {
    repo.bulkInsert(input);
    FAIL() << "no exception";
  } catch (const BulkOperationError& e) {
    EXPECT_NE(e.hint().find("withoutReadBack()"), std::string::npos) << e.hint();
  }
  sql("truncate api.rs_notes");

  // withoutReadBack(): every row written, nothing read back, nothing thrown.
  auto writer = repo.withoutReadBack();
  EXPECT_FALSE(writer.readsBack());
  EXPECT_TRUE(repo.readsBack());
  EXPECT_TRUE(writer.bulkInsert(input).empty());
  EXPECT_EQ(sqlCount("select count(*) from api.rs_notes"), 10);
  sql("truncate api.rs_notes");
  EXPECT_TRUE(writer.insertMany(input).empty());
  EXPECT_EQ(sqlCount("select count(*) from api.rs_notes"), 10);
  // A failure still throws.
  EXPECT_THROW(writer.bulkInsert(input), BulkOperationError);
  EXPECT_EQ(sqlCount("select count(*) from api.rs_notes"), 10);
}

}  // namespace
}  // namespace pgrestify::test
