// SPDX-License-Identifier: MIT
// bulkUpsert against the real PostgREST 12.0.2: updates and inserts, primary-key default,
// composite keys, repeated keys (last row wins), returned rows, misuse, unknown outcomes.
#include "insert_test_support.hpp"
#include "models.hpp"
#include "test_env.hpp"

#include <pgrestify/detail/encode.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pgrestify::test {
namespace {

class BulkUpsert : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    recorder_ = std::make_shared<RecordingTransport>(counting_);
    client_ = std::make_unique<Client>(makeClient({.transport = recorder_}));
  }

  std::shared_ptr<RecordingTransport> recorder_;
};

std::string decoded(const std::string& url) { return detail::percentDecode(url); }

TEST_F(BulkUpsert, UpdatesExistingRowsAndInsertsNewOnes) {
  sql("insert into api.users (name, email, role) select 'old', 'u' || g || '@x.io', 'admin' "
      "from generate_series(0, 4) g");
  std::vector<User> rows;
  for (int i = 0; i < 10; ++i)
    rows.push_back({.name = "new" + std::to_string(i), .email = "u" + std::to_string(i) + "@x.io"});

  auto r = client_->from<User>("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = 3});

  EXPECT_EQ(r.successful, 10u);
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_TRUE(r.errors.empty());
  expectAccounted(r, rows.size());
  EXPECT_EQ(r.requests, 4u);
  for (const auto& p : recorder_->requests("POST")) {
    EXPECT_NE(p.prefer.find("resolution=merge-duplicates"), std::string::npos) << p.prefer;
    EXPECT_NE(decoded(p.url).find("on_conflict=email"), std::string::npos) << p.url;
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 10);
  EXPECT_EQ(sqlCount("select count(*) from api.users where name = 'new' || substring(email from '^u([0-9]+)@')"), 10);
  // Columns the rows do not carry keep their values on existing rows, and take defaults on new ones.
  EXPECT_EQ(sqlCount("select count(*) from api.users where role = 'admin'"), 5);
  EXPECT_EQ(sqlCount("select count(*) from api.users where role = 'user'"), 5);
}

TEST_F(BulkUpsert, ARowDoesNotResetColumnsOnlyOtherRowsCarry) {
  sql("insert into api.users (name, email, role, active, status) values "
      "('old', 'a@x.io', 'admin', false, 'vip'), ('old', 'b@x.io', 'admin', false, 'vip')");
  std::vector<nlohmann::json> rows = {
      {{"email", "a@x.io"}, {"name", "A"}},
      {{"email", "b@x.io"}, {"name", "B"}, {"role", "guest"}, {"active", true}, {"status", nullptr}},
      {{"email", "c@x.io"}, {"name", "C"}},
  };
  auto r = client_->from("users").bulkUpsert(rows, {.conflictColumns = {"email"}});
  EXPECT_EQ(r.successful, 3u);
  EXPECT_TRUE(r.errors.empty());
  // a: only name changes (with one `columns=` for all rows, role/active/status would be reset).
  EXPECT_EQ(sql("select name || ',' || role || ',' || active || ',' || coalesce(status, 'NULL') "
                "from api.users where email = 'a@x.io'"),
            "A,admin,false,vip");
  EXPECT_EQ(sql("select name || ',' || role || ',' || active || ',' || coalesce(status, 'NULL') "
                "from api.users where email = 'b@x.io'"),
            "B,guest,true,NULL");
  EXPECT_EQ(sql("select name || ',' || role || ',' || active from api.users where email = 'c@x.io'"), "C,user,true");
}

// Struct rows whose optional members vary row by row: each column set is batched on its own (no
// row resets a column it does not carry), and the batches stay full instead of being cut at every
// change of column set.
TEST_F(BulkUpsert, VaryingOptionalMembersStillFillBatchesAndResetNothing) {
  sql("insert into api.users (name, email, role, status) select 'old', 'v' || g || '@x.io', 'admin', 'vip' "
      "from generate_series(0, 1999) g");
  std::vector<User> rows;
  for (int i = 0; i < 2000; ++i) {
    User u{.name = "new" + std::to_string(i), .email = "v" + std::to_string(i) + "@x.io"};
    if (i % 2) u.role = "guest";
    if (i % 3 == 0) u.status = "s" + std::to_string(i);
    rows.push_back(std::move(u));
  }
  auto r = client_->from<User>("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = 200});
  expectAccounted(r, rows.size());
  EXPECT_EQ(r.successful, 2000u);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors.front().message);
  // 4 column sets, at most 200 rows held back: batches of about 50 rows or more.
  EXPECT_LE(counting_->count("POST"), 60u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 2000);
  EXPECT_EQ(sqlCount("select count(*) from api.users where name = 'new' || substring(email from '^v([0-9]+)@')"), 2000);
  // role: guest where the row carried it, else the old 'admin' kept; status likewise.
  EXPECT_EQ(sqlCount("select count(*) from api.users where role = "
                     "case when substring(email from '^v([0-9]+)@')::int % 2 = 1 then 'guest' else 'admin' end"),
            2000);
  EXPECT_EQ(sqlCount("select count(*) from api.users where status = "
                     "case when substring(email from '^v([0-9]+)@')::int % 3 = 0 "
                     "then 's' || substring(email from '^v([0-9]+)@') else 'vip' end"),
            2000);
}

TEST_F(BulkUpsert, WithoutConflictColumnsUsesThePrimaryKey) {
  sql("insert into api.products (id, sku, name, price, stock) values (1, 'p1', 'old', 1, 5), (2, 'p2', 'old', 1, 6)");
  std::vector<nlohmann::json> rows = {
      {{"id", 1}, {"sku", "p1"}, {"name", "one"}, {"price", 10}},
      {{"id", 3}, {"sku", "p3"}, {"name", "three"}, {"price", 30}},
  };
  auto r = client_->from("products").bulkUpsert(rows);
  EXPECT_EQ(r.successful, 2u);
  expectAccounted(r, rows.size());
  auto posts = recorder_->requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_NE(decoded(posts[0].url).find("on_conflict=id"), std::string::npos) << posts[0].url;
  EXPECT_EQ(sql("select string_agg(id || ':' || sku || ':' || name || ':' || price || ':' || stock, ' ' order by id) "
                "from api.products"),
            "1:p1:one:10.00:5 2:p2:old:1.00:6 3:p3:three:30.00:0");
}

TEST_F(BulkUpsert, CompositePrimaryKey) {
  sql("insert into api.inventory (warehouse, sku, qty, note) values ('w1', 's1', 1, 'keep'), ('w1', 's2', 2, 'keep')");
  std::vector<Inventory> rows = {
      {.warehouse = "w1", .sku = "s1", .qty = 10},
      {.warehouse = "w2", .sku = "s1", .qty = 5},
      {.warehouse = "w1", .sku = "s3", .qty = 7},
  };
  auto r = client_->from<Inventory>("inventory").bulkUpsert(rows, {.returning = true});
  EXPECT_EQ(r.successful, 3u);
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.data.size(), 3u);
  EXPECT_EQ(r.data[0].note, std::optional<std::string>("keep"));
  EXPECT_EQ(r.data[1].qty, std::optional<int>(5));
  auto url = decoded(recorder_->requests("POST").at(0).url);
  EXPECT_NE(url.find("on_conflict="), std::string::npos) << url;
  EXPECT_NE(url.find("warehouse"), std::string::npos) << url;
  EXPECT_EQ(sql("select string_agg(warehouse || '/' || sku || '=' || qty || ':' || coalesce(note, '-'), ' ' "
                "order by warehouse, sku) from api.inventory"),
            "w1/s1=10:keep w1/s2=2:keep w1/s3=7:- w2/s1=5:-");
}

TEST_F(BulkUpsert, RepeatedKeysLastRowWinsAcrossConcurrentBatches) {
  std::vector<Inventory> rows;
  for (int i = 0; i < 200; ++i) {
    rows.push_back({.warehouse = "w" + std::to_string(i % 3), .sku = "s" + std::to_string(i % 20), .qty = i});
  }
  auto r = client_->from<Inventory>("inventory").bulkUpsert(rows, {.batchSize = 7, .concurrency = 4});
  EXPECT_EQ(r.successful, 200u);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors.front().code + " " + r.errors.front().message);
  expectAccounted(r, rows.size());
  // Keys repeat every 60 rows (lcm of 3 and 20): the last occurrence of each key is 140..199.
  EXPECT_EQ(sqlCount("select count(*) from api.inventory"), 60);
  EXPECT_EQ(sqlCount("select count(*) from api.inventory where qty >= 140"), 60);
  for (int i = 140; i < 200; ++i) {
    EXPECT_EQ(sqlCount("select qty from api.inventory where warehouse = 'w" + std::to_string(i % 3) + "' and sku = 's" +
                       std::to_string(i % 20) + "'"),
              i);
  }
}

TEST_F(BulkUpsert, RepeatedEmailsLastRowWinsAndNoRowFailsWith21000) {
  std::vector<nlohmann::json> rows;
  for (int i = 0; i < 300; ++i) {
    rows.push_back({{"email", "r" + std::to_string(i % 10) + "@x.io"}, {"name", "v" + std::to_string(i)}});
  }
  auto r = client_->from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = 25, .concurrency = 4});
  EXPECT_EQ(r.successful, 300u);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors.front().code + " " + r.errors.front().message);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 10);
  EXPECT_EQ(sql("select string_agg(name, ',' order by email) from api.users"),
            "v290,v291,v292,v293,v294,v295,v296,v297,v298,v299");
}

TEST_F(BulkUpsert, IgnoreDuplicatesKeepsExistingRows) {
  sql("insert into api.tags (key, label) values ('a', 'old'), ('b', 'old')");
  std::vector<nlohmann::json> rows = {{{"key", "a"}, {"label", "new"}},
                                      {{"key", "c"}, {"label", "new"}},
                                      {{"key", "c"}, {"label", "newer"}},
                                      {{"key", "d"}, {"label", "new"}}};
  auto r = client_->from("tags").bulkUpsert(rows, {.ignoreDuplicates = true});
  EXPECT_EQ(r.successful, 2u);
  EXPECT_EQ(r.skipped, 2u);
  expectAccounted(r, rows.size());
  for (const auto& p : recorder_->requests("POST")) {
    EXPECT_NE(p.prefer.find("resolution=ignore-duplicates"), std::string::npos) << p.prefer;
  }
  EXPECT_EQ(sql("select string_agg(key || '=' || label, ' ' order by key) from api.tags"), "a=old b=old c=new d=new");
}

TEST_F(BulkUpsert, ReturningGivesEveryRowWithServerFilledColumns) {
  sql("insert into api.users (name, email) values ('old', 'b@x.io')");
  std::vector<User> rows = {
      {.name = "A", .email = "a@x.io"}, {.name = "B", .email = "b@x.io"}, {.name = "C", .email = "c@x.io"}};
  const auto oldId = sqlCount("select id from api.users where email = 'b@x.io'");
  auto r =
      client_->from<User>("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = 2, .returning = true});
  EXPECT_EQ(r.successful, 3u);
  ASSERT_EQ(r.data.size(), 3u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(r.data[i].email, rows[i].email);
    EXPECT_EQ(r.data[i].name, rows[i].name);
    ASSERT_TRUE(r.data[i].id.has_value());
    EXPECT_TRUE(r.data[i].created_at.has_value());
  }
  EXPECT_EQ(*r.data[1].id, oldId);  // updated in place, not re-inserted
}

TEST_F(BulkUpsert, FailedRowsAreIsolated) {
  std::vector<nlohmann::json> rows;
  for (int i = 0; i < 40; ++i) rows.push_back({{"warehouse", "w"}, {"sku", "s" + std::to_string(i)}, {"qty", i}});
  rows[7]["qty"] = -1;    // CHECK (qty >= 0)
  rows[31]["qty"] = "x";  // not an integer
  auto r = client_->from("inventory").bulkUpsert(rows, {.batchSize = 10});
  EXPECT_EQ(r.successful, 38u);
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{7});
  EXPECT_EQ(r.errors[0].code, "23514");
  EXPECT_EQ(r.errors[1].indexes, std::vector<std::size_t>{31});
  EXPECT_EQ(r.errors[1].code, "22P02");
  EXPECT_EQ(sqlCount("select count(*) from api.inventory"), 38);
}

TEST_F(BulkUpsert, TableWithoutPrimaryKeyThrowsBeforeAnyWrite) {
  std::vector<nlohmann::json> rows = {{{"kind", "k"}}};
  EXPECT_THROW(client_->from("events").bulkUpsert(rows), std::invalid_argument);
  EXPECT_THROW(client_->from("events").bulkUpsert(rows, {.ignoreDuplicates = true}), std::invalid_argument);
  EXPECT_EQ(counting_->count("POST"), 0u);
  EXPECT_EQ(sqlCount("select count(*) from api.events"), 0);
}

TEST_F(BulkUpsert, InvalidOptionsThrowBeforeAnyRequest) {
  std::vector<nlohmann::json> rows = {{{"key", "a"}}};
  EXPECT_THROW(client_->from("tags").bulkUpsert(rows, {.conflictColumns = {"key"}, .batchSize = 0}),
               std::invalid_argument);
  EXPECT_THROW(client_->from("tags").bulkUpsert(rows, {.batchSize = 0}), std::invalid_argument);
  EXPECT_THROW(client_->from("tags").bulkUpsert(rows, {.conflictColumns = {"key"}, .maxBatchBytes = 0}),
               std::invalid_argument);
  EXPECT_EQ(counting_->total(), 0u);
  EXPECT_EQ(sqlCount("select count(*) from api.tags"), 0);
}

TEST_F(BulkUpsert, EmptyInputSendsNoWrite) {
  std::vector<Inventory> none;
  auto r = client_->from<Inventory>("inventory").bulkUpsert(none, {.conflictColumns = {"warehouse", "sku"}});
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.requests, 0u);
  EXPECT_EQ(counting_->total(), 0u);
  // Without conflict columns the primary key is read from the schema (one GET, cached per client).
  auto r2 = client_->from<Inventory>("inventory").bulkUpsert(none);
  EXPECT_EQ(r2.count, 0u);
  EXPECT_EQ(r2.requests, 0u);
  EXPECT_EQ(counting_->count("POST"), 0u);
}

/// Makes every INSERT statement on @p table sleep once, for @p seconds, the first time only (a
/// marker row is consumed); removed again when the guard goes.
class SlowFirstInsert {
 public:
  SlowFirstInsert(std::string table, double seconds) : table_(std::move(table)) {
    sql("create table if not exists public.pgrestify_slow_marker (n int)");
    sql("truncate public.pgrestify_slow_marker; insert into public.pgrestify_slow_marker values (1)");
    // A concurrent second statement waits for the first one's row lock, then finds no marker.
    sql("create or replace function public.pgrestify_slow_once() returns trigger language plpgsql "
        "security definer as $$ declare n int; begin "
        "delete from public.pgrestify_slow_marker; get diagnostics n = row_count; "
        "if n > 0 then perform pg_sleep(" +
        std::to_string(seconds) + "); end if; return null; end $$");
    sql("drop trigger if exists pgrestify_slow on api." + table_ +
        "; create trigger pgrestify_slow before insert on api." + table_ +
        " for each statement execute function public.pgrestify_slow_once()");
  }
  ~SlowFirstInsert() {
    try {
      sql("drop trigger if exists pgrestify_slow on api." + table_);
    } catch (...) {
    }
  }
  SlowFirstInsert(const SlowFirstInsert&) = delete;
  SlowFirstInsert& operator=(const SlowFirstInsert&) = delete;

 private:
  std::string table_;
};

TEST_F(BulkUpsert, UnknownOutcomeOfAnIdempotentUpsertIsRetried) {
  SlowFirstInsert slow("tags", 1.5);
  auto counting = std::make_shared<CountingTransport>(makeCurlTransport({.timeout = std::chrono::milliseconds(700)}));
  auto client = makeClient({.transport = counting});
  std::vector<nlohmann::json> rows;
  for (int i = 0; i < 20; ++i) rows.push_back({{"key", "k" + std::to_string(i)}, {"label", "l"}});
  auto r = client.from("tags").bulkUpsert(
      rows, {.conflictColumns = {"key"}, .retry = {.maxAttempts = 6, .initialBackoff = std::chrono::milliseconds(50)}});
  EXPECT_EQ(r.successful, 20u);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors.front().message);
  EXPECT_GE(r.retries, 1u);
  EXPECT_GE(counting->count("POST"), 2u);
  EXPECT_EQ(sqlCount("select count(*) from api.tags"), 20);
}

TEST_F(BulkUpsert, UnknownOutcomeOfAPlainInsertIsReportedNotRetried) {
  SlowFirstInsert slow("tags", 1.5);
  auto counting = std::make_shared<CountingTransport>(makeCurlTransport({.timeout = std::chrono::milliseconds(700)}));
  auto client = makeClient({.transport = counting});
  std::vector<nlohmann::json> rows;
  for (int i = 0; i < 20; ++i) rows.push_back({{"key", "k" + std::to_string(i)}, {"label", "l"}});
  auto r = client.from("tags").bulkInsert(rows);
  EXPECT_EQ(r.successful, 0u);
  EXPECT_EQ(r.failed, 20u);
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::Transport);
  EXPECT_EQ(r.errors[0].indexes.size(), 20u);
  EXPECT_EQ(counting->count("POST"), 1u);
  // Why it is "unknown": PostgREST committed after the client gave up.
  for (int i = 0; i < 50 && sqlCount("select count(*) from api.tags") < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(sqlCount("select count(*) from api.tags"), 20);
}

TEST_F(BulkUpsert, UnknownOutcomeIsNotRetriedWhenRowsLackTheConflictKey) {
  // Ignore on the primary key `id`, but the rows carry no id: a second send would insert them again.
  sql("insert into api.users (id, name, email) values (1, 'a', 'a@x.io')");
  SlowFirstInsert slow("posts", 1.5);
  auto counting = std::make_shared<CountingTransport>(makeCurlTransport({.timeout = std::chrono::milliseconds(700)}));
  auto client = makeClient({.transport = counting});
  std::vector<nlohmann::json> rows;
  for (int i = 0; i < 10; ++i) rows.push_back({{"user_id", 1}, {"title", "t" + std::to_string(i)}});
  auto r = client.from("posts").bulkInsert(rows, {.onConflict = OnConflict::Ignore});
  EXPECT_EQ(r.failed, 10u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
  EXPECT_EQ(counting->count("POST"), 1u);
  for (int i = 0; i < 50 && sqlCount("select count(*) from api.posts") < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(sqlCount("select count(*) from api.posts"), 10);  // not 20
}

}  // namespace
}  // namespace pgrestify::test
