// SPDX-License-Identifier: MIT
// bulkInsert against the real PostgREST 12.0.2: batching, key sets, conflicts, failed-row
// isolation, returned rows, batch cutting by bytes. Every test checks the table itself.
#include "insert_test_support.hpp"
#include "models.hpp"
#include "test_env.hpp"

#include <pgrestify/detail/encode.hpp>

#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgrestify::test {
namespace {

class BulkInsert : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    recorder_ = std::make_shared<RecordingTransport>(counting_);
    client_ = std::make_unique<Client>(makeClient({.transport = recorder_}));
  }

  /// 1000 users "e<i>@x.io" named "n<i>".
  static std::vector<nlohmann::json> thousandUsers() {
    std::vector<nlohmann::json> rows;
    for (int i = 0; i < 1000; ++i) {
      rows.push_back({{"name", "n" + std::to_string(i)}, {"email", "e" + std::to_string(i) + "@x.io"}});
    }
    return rows;
  }

  std::shared_ptr<RecordingTransport> recorder_;
};

std::string decoded(const std::string& url) { return detail::percentDecode(url); }

TEST_F(BulkInsert, TenThousandUsersLandExactlyOnceInHundredRequests) {
  std::vector<User> users;
  for (int i = 0; i < 10000; ++i) {
    users.push_back({.name = "u" + std::to_string(i), .email = "u" + std::to_string(i) + "@x.io"});
  }
  auto r = client_->from<User>("users").bulkInsert(users, {.batchSize = 100});

  EXPECT_EQ(r.successful, 10000u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.ok());
  expectAccounted(r, users.size());
  EXPECT_EQ(r.batches, 100u);
  EXPECT_EQ(r.requests, 100u);
  EXPECT_EQ(r.retries, 0u);
  EXPECT_EQ(counting_->count("POST"), 100u);
  EXPECT_EQ(counting_->total(), 100u);  // nothing else was sent
  EXPECT_TRUE(r.data.empty());          // returning is off by default

  EXPECT_EQ(sqlCount("select count(*) from api.users"), 10000);
  EXPECT_EQ(sqlCount("select count(distinct email) from api.users"), 10000);
  // Each input row exactly once: the numbers 0..9999 each appear once.
  EXPECT_EQ(sqlCount("select sum(substring(email from '^u([0-9]+)@')::bigint) from api.users"), 49995000);
  EXPECT_EQ(sqlCount("select count(*) from api.users where name = 'u' || substring(email from '^u([0-9]+)@')"), 10000);
}

TEST_F(BulkInsert, RowsWithDifferentKeySetsGoInOneRequestAndAbsentKeysTakeDefaults) {
  std::vector<nlohmann::json> rows = {
      {{"name", "plain"}, {"email", "plain@x.io"}},
      {{"name", "admin"}, {"email", "admin@x.io"}, {"role", "admin"}, {"active", false}},
      {{"name", "nullactive"}, {"email", "nullactive@x.io"}, {"active", nullptr}},
      {{"email", "login@x.io"}, {"name", "login"}, {"last_login", "2024-01-02T03:04:05Z"}},
      {{"name", "status"}, {"email", "status@x.io"}, {"status", "vip"}, {"created_at", nullptr}},
  };
  auto r = client_->from("users").bulkInsert(rows);

  EXPECT_EQ(r.successful, 5u);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors.front().message);
  expectAccounted(r, rows.size());
  ASSERT_EQ(counting_->count("POST"), 1u);
  auto posts = recorder_->requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  auto url = decoded(posts[0].url);
  for (const char* column : {"name", "email", "role", "active", "last_login", "status", "created_at"}) {
    EXPECT_NE(url.find(column), std::string::npos) << "columns= lacks " << column << ": " << url;
  }
  EXPECT_NE(url.find("columns="), std::string::npos) << url;
  EXPECT_NE(posts[0].prefer.find("missing=default"), std::string::npos) << posts[0].prefer;
  // count=exact on every write: `successful` is what PostgreSQL reports (a trigger may discard rows).
  EXPECT_NE(posts[0].prefer.find("count=exact"), std::string::npos) << posts[0].prefer;
  EXPECT_NE(posts[0].prefer.find("return=minimal"), std::string::npos) << posts[0].prefer;

  // Absent keys: the column default.
  EXPECT_EQ(sql("select role || ',' || active || ',' || (created_at is not null) || ',' || (id is not null) "
                "from api.users where email = 'plain@x.io'"),
            "user,true,true,true");
  EXPECT_EQ(sql("select role || ',' || active from api.users where email = 'admin@x.io'"), "admin,false");
  EXPECT_EQ(sql("select role || ',' || (last_login = '2024-01-02T03:04:05Z') || ',' || active "
                "from api.users where email = 'login@x.io'"),
            "user,true,true");
  // Explicit null stays null where the column allows it (not the default).
  EXPECT_EQ(sqlCount("select count(*) from api.users where email = 'nullactive@x.io' and active is null"), 1);
  EXPECT_EQ(sqlCount("select count(*) from api.users where email = 'status@x.io' and created_at is null "
                     "and status = 'vip' and active"),
            1);
  // A key another row lacks does not become NULL for that row.
  EXPECT_EQ(sqlCount("select count(*) from api.users where active is null"), 1);
  EXPECT_EQ(sqlCount("select count(*) from api.users where created_at is null"), 1);
}

TEST_F(BulkInsert, MissingNullSendsNullForAbsentKeys) {
  std::vector<nlohmann::json> rows = {
      {{"name", "a"}, {"email", "a@x.io"}, {"active", false}},
      {{"name", "b"}, {"email", "b@x.io"}},
  };
  auto r = client_->from("users").bulkInsert(rows, {.missing = Missing::Null});
  EXPECT_EQ(r.successful, 2u);
  EXPECT_EQ(counting_->count("POST"), 1u);
  EXPECT_EQ(recorder_->requests("POST").at(0).prefer.find("missing="), std::string::npos);
  EXPECT_EQ(sqlCount("select count(*) from api.users where email = 'b@x.io' and active is null"), 1);
  EXPECT_EQ(sqlCount("select count(*) from api.users where email = 'a@x.io' and active = false"), 1);
}

TEST_F(BulkInsert, DuplicatesOfExistingRowsFailAloneWith23505) {
  const std::vector<std::size_t> dups{0, 99, 100, 417, 500, 998, 999};
  sql("insert into api.users (name, email) select 'pre', 'pre' || g || '@x.io' from generate_series(0, 6) g");
  auto rows = thousandUsers();
  for (std::size_t i = 0; i < dups.size(); ++i) rows[dups[i]]["email"] = "pre" + std::to_string(i) + "@x.io";

  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 100, .concurrency = 4});

  EXPECT_EQ(r.successful, 993u);
  EXPECT_EQ(r.failed, 7u);
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.errors.size(), 7u);
  for (std::size_t i = 0; i < dups.size(); ++i) {
    const auto& e = r.errors[i];
    EXPECT_EQ(e.indexes, std::vector<std::size_t>{dups[i]});
    EXPECT_EQ(e.code, "23505");
    EXPECT_EQ(e.status, 409);
    EXPECT_EQ(e.kind, BulkErrorKind::Server);
    EXPECT_EQ(e.batchIndex, dups[i] / 100);
    EXPECT_NE(e.details.find("pre" + std::to_string(i) + "@x.io"), std::string::npos) << e.details;
    EXPECT_FALSE(e.outcomeUnknown);
    EXPECT_GE(e.attempts, 1);
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 1000);
  EXPECT_EQ(sqlCount("select count(*) from api.users where name = 'pre'"), 7);  // untouched
  EXPECT_EQ(sqlCount("select count(*) from api.users where email like 'e%@x.io'"), 993);
  EXPECT_EQ(sqlCount("select count(*) from api.users where name = 'n0' or name = 'n417' or name = 'n999'"), 0);
}

TEST_F(BulkInsert, DuplicatesWithinTheInputFailTheLaterRowAcrossConcurrentBatches) {
  // dup -> the earlier row it repeats; several pairs straddle batches that run concurrently.
  const std::vector<std::pair<std::size_t, std::size_t>> dups{{5, 2},     {100, 97},  {250, 3}, {499, 496},
                                                              {500, 497}, {777, 776}, {999, 0}};
  auto rows = thousandUsers();
  for (auto [dup, original] : dups) rows[dup]["email"] = rows[original]["email"];

  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 50, .conflictColumns = {"email"}, .concurrency = 4});

  EXPECT_EQ(r.successful, 993u);
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.errors.size(), 7u);
  for (std::size_t i = 0; i < dups.size(); ++i) {
    EXPECT_EQ(r.errors[i].indexes, std::vector<std::size_t>{dups[i].first});
    EXPECT_EQ(r.errors[i].code, "23505");
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 993);
  // The earlier row of each pair is the one in the table.
  for (auto [dup, original] : dups) {
    EXPECT_EQ(sql("select name from api.users where email = '" + rows[original]["email"].get<std::string>() + "'"),
              "n" + std::to_string(original));
  }
}

TEST_F(BulkInsert, NotNullViolationsFailAloneWith23502) {
  const std::vector<std::size_t> bad{1, 2, 150, 333, 334, 640, 998};
  auto rows = thousandUsers();
  for (std::size_t i = 0; i < bad.size(); ++i) {
    if (i % 2) {
      rows[bad[i]]["name"] = nullptr;  // explicit null
    } else {
      rows[bad[i]].erase("name");  // absent: no default, so NULL
    }
  }
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 100});

  EXPECT_EQ(r.successful, 993u);
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.errors.size(), 7u);
  for (std::size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(r.errors[i].indexes, std::vector<std::size_t>{bad[i]});
    EXPECT_EQ(r.errors[i].code, "23502");
    EXPECT_EQ(r.errors[i].status, 400);
    EXPECT_NE(r.errors[i].message.find("name"), std::string::npos) << r.errors[i].message;
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 993);
  EXPECT_EQ(sqlCount("select count(*) from api.users where email in ('e1@x.io','e150@x.io','e998@x.io')"), 0);
}

TEST_F(BulkInsert, CheckViolationsFailAloneWith23514) {
  const std::vector<std::size_t> bad{0, 49, 50, 51, 500, 901, 999};
  auto rows = thousandUsers();
  for (auto i : bad) rows[i]["role"] = "superuser";
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 100, .concurrency = 2});

  EXPECT_EQ(r.successful, 993u);
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.errors.size(), 7u);
  for (std::size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(r.errors[i].indexes, std::vector<std::size_t>{bad[i]});
    EXPECT_EQ(r.errors[i].code, "23514");
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 993);
  EXPECT_EQ(sqlCount("select count(*) from api.users where role <> 'user'"), 0);
}

TEST_F(BulkInsert, IsolationOffReportsTheWholeBatch) {
  auto rows = thousandUsers();
  rows[150]["role"] = "superuser";
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 100, .isolateFailures = false});
  EXPECT_EQ(r.successful, 900u);
  EXPECT_EQ(r.failed, 100u);
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes.size(), 100u);
  EXPECT_EQ(r.errors[0].indexes.front(), 100u);
  EXPECT_EQ(r.errors[0].code, "23514");
  EXPECT_EQ(r.requests, 10u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 900);
}

TEST_F(BulkInsert, StopOnErrorStopsAtTheFirstFailedBatch) {
  auto rows = thousandUsers();
  rows[250]["role"] = "superuser";
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 100, .concurrency = 1, .stopOnError = true});
  EXPECT_EQ(r.successful, 200u);
  EXPECT_EQ(r.failed, 100u);
  EXPECT_EQ(r.notProcessed, 700u);
  EXPECT_FALSE(r.ok());
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes.front(), 200u);
  EXPECT_EQ(r.errors[0].indexes.back(), 299u);
  EXPECT_EQ(counting_->count("POST"), 3u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 200);
}

TEST_F(BulkInsert, IgnoreCountsInsertedAndSkippedRows) {
  sql("insert into api.users (name, email) values ('old', 'a@x.io'), ('old', 'c@x.io'), ('old', 'z@x.io')");
  std::vector<std::string> emails{"a@x.io", "b@x.io", "x@x.io", "c@x.io", "d@x.io",
                                  "e@x.io", "f@x.io", "x@x.io", "g@x.io", "h@x.io"};
  std::vector<nlohmann::json> rows;
  for (std::size_t i = 0; i < emails.size(); ++i) {
    rows.push_back({{"name", "new" + std::to_string(i)}, {"email", emails[i]}});
  }
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 3,
                                                    .returning = true,
                                                    .onConflict = OnConflict::Ignore,
                                                    .conflictColumns = {"email"},
                                                    .concurrency = 4});

  EXPECT_EQ(r.successful, 7u);  // b x d e f g h
  EXPECT_EQ(r.skipped, 3u);     // a c (in the table), the second x (repeated in the input)
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.ok());
  expectAccounted(r, rows.size());
  // Only inserted rows come back, in input order.
  std::vector<std::string> returned;
  for (const auto& row : r.data) returned.push_back(row.at("email").get<std::string>());
  EXPECT_EQ(returned, (std::vector<std::string>{"b@x.io", "x@x.io", "d@x.io", "e@x.io", "f@x.io", "g@x.io", "h@x.io"}));
  for (const auto& p : recorder_->requests("POST")) {
    EXPECT_NE(p.prefer.find("resolution=ignore-duplicates"), std::string::npos) << p.prefer;
    EXPECT_NE(decoded(p.url).find("on_conflict=email"), std::string::npos) << p.url;
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 10);
  EXPECT_EQ(sqlCount("select count(*) from api.users where name = 'old'"), 3);
  EXPECT_EQ(sql("select name from api.users where email = 'x@x.io'"), "new2");  // the first x
}

TEST_F(BulkInsert, IgnoreWithoutConflictColumnsUsesThePrimaryKey) {
  sql("insert into api.products (id, sku, name, price) values (1, 'p1', 'old', 1)");
  std::vector<nlohmann::json> rows = {
      {{"id", 1}, {"sku", "p1-new"}, {"name", "new"}, {"price", 2}},
      {{"id", 2}, {"sku", "p2"}, {"name", "two"}, {"price", 2}},
      {{"id", 3}, {"sku", "p3"}, {"name", "three"}, {"price", 3}},
  };
  auto r = client_->from("products").bulkInsert(rows, {.onConflict = OnConflict::Ignore});
  EXPECT_EQ(r.successful, 2u);
  EXPECT_EQ(r.skipped, 1u);
  expectAccounted(r, rows.size());
  auto posts = recorder_->requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_NE(decoded(posts[0].url).find("on_conflict=id"), std::string::npos) << posts[0].url;
  EXPECT_EQ(sql("select sku || ',' || name from api.products where id = 1"), "p1,old");
  EXPECT_EQ(sqlCount("select count(*) from api.products"), 3);
}

TEST_F(BulkInsert, UpdateOnConflictChangesExistingRowsAndInsertsNewOnes) {
  sql("insert into api.users (name, email, role) values ('old', 'a@x.io', 'admin'), ('old', 'b@x.io', 'guest')");
  std::vector<nlohmann::json> rows = {
      {{"name", "A"}, {"email", "a@x.io"}},
      {{"name", "C"}, {"email", "c@x.io"}},
      {{"name", "B"}, {"email", "b@x.io"}},
  };
  auto r = client_->from("users").bulkInsert(rows, {.onConflict = OnConflict::Update, .conflictColumns = {"email"}});
  EXPECT_EQ(r.successful, 3u);
  EXPECT_EQ(r.skipped, 0u);
  expectAccounted(r, rows.size());
  EXPECT_NE(recorder_->requests("POST").at(0).prefer.find("resolution=merge-duplicates"), std::string::npos);
  EXPECT_EQ(sql("select string_agg(email || '=' || name || '/' || role, ' ' order by email) from api.users"),
            "a@x.io=A/admin b@x.io=B/guest c@x.io=C/user");
}

TEST_F(BulkInsert, ReturningGivesServerFilledRowsInInputOrder) {
  std::vector<User> users;
  for (int i = 0; i < 50; ++i)
    users.push_back({.name = "r" + std::to_string(i), .email = "r" + std::to_string(i) + "@x.io"});
  auto r = client_->from<User>("users").bulkInsert(users, {.batchSize = 7, .returning = true, .concurrency = 4});
  EXPECT_EQ(r.successful, 50u);
  ASSERT_EQ(r.data.size(), 50u);
  std::set<long long> ids;
  for (std::size_t i = 0; i < r.data.size(); ++i) {
    const User& u = r.data[i];
    EXPECT_EQ(u.email, users[i].email);
    ASSERT_TRUE(u.id.has_value());
    ASSERT_TRUE(u.created_at.has_value());
    EXPECT_FALSE(u.created_at->empty());
    EXPECT_EQ(u.role, std::optional<std::string>("user"));
    EXPECT_EQ(sql("select email from api.users where id = " + std::to_string(*u.id)), u.email);
    ids.insert(*u.id);
  }
  EXPECT_EQ(ids.size(), 50u);
  for (const auto& p : recorder_->requests("POST")) {
    EXPECT_NE(p.prefer.find("return=representation"), std::string::npos) << p.prefer;
  }
}

TEST_F(BulkInsert, ReturningWorksWithJsonRowsAndSelect) {
  std::vector<nlohmann::json> rows;
  for (int i = 0; i < 20; ++i)
    rows.push_back({{"name", "j" + std::to_string(i)}, {"email", "j" + std::to_string(i) + "@x.io"}});
  rows[9]["role"] = "superuser";  // isolated; the other rows still come back in order
  auto r =
      client_->from("users").bulkInsert(rows, {.batchSize = 6, .returning = true, .select = "id,email,created_at"});
  EXPECT_EQ(r.successful, 19u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{9});
  ASSERT_EQ(r.data.size(), 19u);
  std::size_t k = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i == 9) continue;
    const auto& row = r.data[k++];
    EXPECT_EQ(row.at("email"), rows[i]["email"]);
    EXPECT_TRUE(row.at("id").is_number_integer());
    EXPECT_TRUE(row.at("created_at").is_string());
    EXPECT_FALSE(row.contains("name"));  // select honoured
  }
}

TEST_F(BulkInsert, MaxBatchBytesCutsBatches) {
  // 100 rows of one serialized size s; a body of n rows is `[` + n rows + (n - 1) commas + `]`.
  std::vector<nlohmann::json> rows;
  for (int i = 100; i < 200; ++i) {
    rows.push_back({{"name", "b" + std::to_string(i)}, {"email", "bytes" + std::to_string(i) + "@x.io"}});
  }
  const std::size_t s = rows[0].dump().size();
  for (const auto& row : rows) ASSERT_EQ(row.dump().size(), s);
  // 5 rows need 5s + 6 bytes: one byte less leaves room for 4 rows per request.
  const std::size_t maxBytes = 5 * s + 5;
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 1000, .maxBatchBytes = maxBytes});
  EXPECT_EQ(r.successful, 100u);
  EXPECT_EQ(r.requests, 25u);
  EXPECT_EQ(counting_->count("POST"), 25u);
  for (const auto& p : recorder_->requests("POST")) {
    EXPECT_LE(p.bodyBytes, maxBytes);
    EXPECT_EQ(p.bodyBytes, 4 * s + 5);
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 100);

  // Exactly 5s + 6 bytes: 5 rows per request.
  sql("delete from api.users");
  counting_->reset();
  auto r5 = client_->from("users").bulkInsert(rows, {.batchSize = 1000, .maxBatchBytes = maxBytes + 1});
  EXPECT_EQ(r5.successful, 100u);
  EXPECT_EQ(counting_->count("POST"), 20u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 100);
}

TEST_F(BulkInsert, ARowLargerThanMaxBatchBytesIsSentAlone) {
  std::vector<nlohmann::json> rows;
  for (int i = 0; i < 7; ++i)
    rows.push_back({{"name", "s" + std::to_string(i)}, {"email", "s" + std::to_string(i) + "@x.io"}});
  rows[3]["name"] = std::string(5000, 'L');
  const std::size_t bigBody = rows[3].dump().size() + 2;
  auto r = client_->from("users").bulkInsert(rows, {.maxBatchBytes = 500});
  EXPECT_EQ(r.successful, 7u);
  EXPECT_TRUE(r.errors.empty());
  auto posts = recorder_->requests("POST");
  EXPECT_EQ(posts.size(), 3u);  // rows 0-2, row 3 alone, rows 4-6
  std::size_t over = 0;
  for (const auto& p : posts) {
    if (p.bodyBytes > 500) {
      ++over;
      EXPECT_EQ(p.bodyBytes, bigBody);
    }
  }
  EXPECT_EQ(over, 1u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 7);
  EXPECT_EQ(sqlCount("select count(*) from api.users where length(name) = 5000 and email = 's3@x.io'"), 1);
}

TEST_F(BulkInsert, ForeignKeyViolationIsIsolatedToItsRow) {
  sql("insert into api.users (id, name, email) values (1, 'a', 'a@x.io'), (2, 'b', 'b@x.io')");
  std::vector<nlohmann::json> rows;
  for (int i = 0; i < 20; ++i) rows.push_back({{"user_id", 1 + i % 2}, {"title", "t" + std::to_string(i)}});
  rows[4]["user_id"] = 999999;
  rows[13]["user_id"] = 888888;
  auto r = client_->from("posts").bulkInsert(rows, {.batchSize = 10});
  EXPECT_EQ(r.successful, 18u);
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{4});
  EXPECT_EQ(r.errors[1].indexes, std::vector<std::size_t>{13});
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.code, "23503");
    EXPECT_EQ(e.status, 409);
    EXPECT_NE(e.details.find("is not present"), std::string::npos) << e.details;
  }
  EXPECT_EQ(sqlCount("select count(*) from api.posts"), 18);
  EXPECT_EQ(sqlCount("select count(*) from api.posts where title in ('t4', 't13')"), 0);
}

TEST_F(BulkInsert, UnknownColumnFailsOnlyTheRowsCarryingIt) {
  std::vector<nlohmann::json> rows;
  for (int i = 0; i < 30; ++i)
    rows.push_back({{"name", "k" + std::to_string(i)}, {"email", "k" + std::to_string(i) + "@x.io"}});
  rows[3]["bogus"] = 1;
  rows[17]["bogus"] = "x";
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 10});
  EXPECT_EQ(r.successful, 28u);
  expectAccounted(r, rows.size());
  EXPECT_EQ(errorIndexes(r.errors), (std::vector<std::size_t>{3, 17}));
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.indexes.size(), 1u);
    EXPECT_EQ(e.code, "PGRST204");
    EXPECT_NE(e.message.find("bogus"), std::string::npos) << e.message;
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 28);
  EXPECT_EQ(sqlCount("select count(*) from api.users where email in ('k3@x.io', 'k17@x.io')"), 0);
}

TEST_F(BulkInsert, RowsThatCannotBeSentAreReportedWithoutARequest) {
  std::vector<nlohmann::json> rows = {
      {{"name", "ok"}, {"email", "ok@x.io"}},
      nlohmann::json(5),
      {{"name", "nan"}, {"email", "nan@x.io"}, {"status", std::nan("")}},
      {{"name", "ok2"}, {"email", "ok2@x.io"}},
  };
  auto r = client_->from("users").bulkInsert(rows);
  EXPECT_EQ(r.successful, 2u);
  EXPECT_EQ(r.failed, 2u);
  expectAccounted(r, rows.size());
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{1});
  EXPECT_EQ(r.errors[1].indexes, std::vector<std::size_t>{2});
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.kind, BulkErrorKind::InvalidRow);
    EXPECT_EQ(e.status, 0);
  }
  EXPECT_EQ(counting_->count("POST"), 1u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 2);
}

TEST_F(BulkInsert, EmptyInputSendsNoRequest) {
  std::vector<User> none;
  auto r = client_->from<User>("users").bulkInsert(none, {.returning = true});
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.batches, 0u);
  EXPECT_EQ(r.requests, 0u);
  EXPECT_TRUE(r.ok());
  auto r2 = client_->from("users").bulkInsert(std::vector<nlohmann::json>{},
                                              {.onConflict = OnConflict::Ignore, .conflictColumns = {"email"}});
  EXPECT_EQ(r2.count, 0u);
  EXPECT_EQ(counting_->total(), 0u);
}

TEST_F(BulkInsert, MisuseThrowsBeforeAnyRequest) {
  std::vector<nlohmann::json> rows = {{{"name", "a"}, {"email", "a@x.io"}}};
  EXPECT_THROW(client_->from("users").bulkInsert(rows, {.batchSize = 0}), std::invalid_argument);
  EXPECT_THROW(client_->from("users").bulkInsert(rows, {.maxBatchBytes = 0}), std::invalid_argument);
  EXPECT_THROW(client_->from("users").bulkInsert(rows, {.concurrency = 0}), std::invalid_argument);
  EXPECT_THROW(client_->from("users").bulkInsert(rows, {.conflictColumns = {"bad\ncol"}}), std::invalid_argument);
  EXPECT_EQ(counting_->total(), 0u);
  // A table without primary key: Ignore/Update need conflict columns. Only the schema is read.
  std::vector<nlohmann::json> events = {{{"kind", "k"}}};
  EXPECT_THROW(client_->from("events").bulkInsert(events, {.onConflict = OnConflict::Ignore}), std::invalid_argument);
  EXPECT_THROW(client_->from("events").bulkInsert(events, {.onConflict = OnConflict::Update}), std::invalid_argument);
  EXPECT_EQ(counting_->count("POST"), 0u);
  EXPECT_EQ(sqlCount("select count(*) from api.events"), 0);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 0);
}

}  // namespace
}  // namespace pgrestify::test
