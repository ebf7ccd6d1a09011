// SPDX-License-Identifier: MIT
// The repository layer (include/pgrestify/repository.hpp) against the real PostgREST: every
// method, what it returns, what it throws and what the exception carries.
#include "models.hpp"
#include "test_env.hpp"

#include <stop_token>
#include <string>
#include <vector>

namespace pgrestify::test {
namespace {

class Repo : public IntegrationTest {
 protected:
  static std::vector<User> makeUsers(int n, const std::string& prefix = "u") {
    std::vector<User> users;
    for (int i = 0; i < n; ++i) {
      users.push_back({.name = prefix + std::to_string(i), .email = prefix + std::to_string(i) + "@x.io"});
    }
    return users;
  }
  /// Inserts n users with ids 1..n (tables are reset before each test) directly in SQL.
  static void seed(int n) {
    sql("insert into api.users (name, email, role, active) select 'n' || g, 'e' || g || '@x.io', "
        "case when g % 3 = 0 then 'admin' else 'user' end, g % 2 = 0 from generate_series(1, " +
        std::to_string(n) + ") g");
  }
  Repository<User> users() const { return client_->getRepository<User>("users"); }
};

// A row type whose `name` cannot hold the server's text: the rows are written, then do not convert.
struct NameAsNumber {
  std::optional<long long> id;
  long long name = 0;
};
PGRESTIFY_ROW(NameAsNumber, id, name)

// ---- bulkInsert / insertMany ----

TEST_F(Repo, ReturnedRowThatDoesNotConvertThrowsTheDocumentedErrorAndSaysTheRowsWereWritten) {
  auto repo = client_->getRepository<NameAsNumber>("users");
  std::vector<nlohmann::json> rows = {{{"name", "n0"}, {"email", "a@x.io"}}, {{"name", "n1"}, {"email", "b@x.io"}}};
  try {
    repo.bulkInsert(rows);
    FAIL() << "expected BulkOperationErrorOf<NameAsNumber>";
  } catch (const BulkOperationErrorOf<NameAsNumber>& e) {
    EXPECT_TRUE(e.result().ok());
    EXPECT_EQ(e.result().successful, 2u);
    EXPECT_EQ(e.result().data.size(), 2u);  // the returned rows, as JSON
    EXPECT_TRUE(e.rows().empty());
    ASSERT_EQ(e.result().warnings.size(), 2u);
    EXPECT_NE(e.result().warnings[0].find("returned row 0 does not convert"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("no row failed (2 written, 0 skipped)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 2);
}

TEST_F(Repo, BulkInsertReturnsInsertedRowsWithServerColumns) {
  auto repo = users();
  auto rows = makeUsers(250);
  auto inserted = repo.bulkInsert(rows, {.batchSize = 100});
  ASSERT_EQ(inserted.size(), 250u);
  EXPECT_EQ(counting_->count("POST"), 3u);  // batched by the engine
  for (std::size_t i = 0; i < inserted.size(); ++i) {
    EXPECT_EQ(inserted[i].email, rows[i].email);
    ASSERT_TRUE(inserted[i].id.has_value());
    EXPECT_EQ(inserted[i].role.value_or(""), "user");  // column default, returned by the server
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 250);
}

TEST_F(Repo, BulkInsertReturnsRowsEvenWhenReturningIsFalse) {
  // Documented: a repository always returns the affected rows; `returning` is ignored.
  auto inserted = users().bulkInsert(makeUsers(3), {.returning = false});
  ASSERT_EQ(inserted.size(), 3u);
  EXPECT_TRUE(inserted[2].id.has_value());
}

TEST_F(Repo, BulkInsertSelectNarrowsReturnedColumns) {
  auto inserted = users().bulkInsert(makeUsers(2), {.select = "id,email"});
  ASSERT_EQ(inserted.size(), 2u);
  EXPECT_TRUE(inserted[0].id.has_value());
  EXPECT_EQ(inserted[0].email, "u0@x.io");
  EXPECT_TRUE(inserted[0].name.empty());
  EXPECT_FALSE(inserted[0].role.has_value());
}

TEST_F(Repo, BulkInsertFailureThrowsWithFailedIndexesAndPartialRows) {
  sql("insert into api.users (name, email) values ('old', 'u3@x.io')");
  auto rows = makeUsers(10);
  rows[2].email = "u0@x.io";  // duplicate inside one batch: the later row fails
  rows[5].role = "nobody";    // check constraint
  try {
    users().bulkInsert(rows, {.batchSize = 4});
    FAIL() << "no exception";
  } catch (const BulkOperationErrorOf<User>& e) {
    EXPECT_EQ(e.operation(), "bulkInsert");
    EXPECT_EQ(e.table(), "users");
    EXPECT_EQ(e.failedIndexes(), (std::vector<std::size_t>{2, 3, 5}));
    ASSERT_EQ(e.errors().size(), 3u);
    EXPECT_EQ(e.errors()[0].code, "23505");
    EXPECT_EQ(e.errors()[0].status, 409);
    EXPECT_EQ(e.errors()[1].code, "23505");
    EXPECT_EQ(e.errors()[2].code, "23514");
    EXPECT_EQ(e.errors()[2].status, 400);
    // As a pgrestify::Error: the first failure.
    EXPECT_EQ(e.status(), 409);
    EXPECT_EQ(e.code(), "23505");
    EXPECT_NE(std::string(e.what()).find("3 of 10 rows failed"), std::string::npos) << e.what();
    EXPECT_EQ(e.result().successful, 7u);
    EXPECT_EQ(e.result().failed, 3u);
    ASSERT_EQ(e.rows().size(), 7u);
    ASSERT_EQ(e.result().data.size(), 7u);
    for (const auto& u : e.rows()) {
      EXPECT_TRUE(u.id.has_value());
      EXPECT_NE(u.name, "u2");
      EXPECT_NE(u.name, "u3");
      EXPECT_NE(u.name, "u5");
    }
  }
  // The good rows are written.
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 8);
  EXPECT_EQ(sqlCount("select count(*) from api.users where name = 'u5'"), 0);
}

TEST_F(Repo, BulkOperationErrorIsCatchableGenericallyAndAsError) {
  sql("insert into api.users (name, email) values ('old', 'u0@x.io')");
  bool caughtBase = false;
  try {
    users().bulkInsert(makeUsers(2));
  } catch (const BulkOperationError& e) {  // any row type
    caughtBase = true;
    EXPECT_EQ(e.failedIndexes(), std::vector<std::size_t>{0});
    ASSERT_EQ(e.result().data.size(), 1u);
    EXPECT_EQ(e.result().data[0]["email"], "u1@x.io");
  }
  EXPECT_TRUE(caughtBase);
  sql("delete from api.users where email = 'u1@x.io'");
  bool caughtError = false;
  try {
    client_->getRepository("users").bulkInsert(std::vector<nlohmann::json>{{{"name", "a"}, {"email", "u0@x.io"}}});
  } catch (const Error& e) {
    caughtError = true;
    EXPECT_EQ(e.status(), 409);
    EXPECT_EQ(e.code(), "23505");
    EXPECT_NE(e.details().find("u0@x.io"), std::string::npos) << e.details();
  }
  EXPECT_TRUE(caughtError);
}

TEST_F(Repo, InsertManyIgnoreReturnsOnlyInsertedRowsAndDoesNotThrowForSkipped) {
  sql("insert into api.users (name, email) values ('old', 'u1@x.io')");
  auto created = users().insertMany(makeUsers(4), {.onConflict = OnConflict::Ignore, .conflictColumns = {"email"}});
  ASSERT_EQ(created.size(), 3u);
  for (const auto& u : created) EXPECT_NE(u.email, "u1@x.io");
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 4);
  EXPECT_EQ(sql("select name from api.users where email = 'u1@x.io'"), "old");
}

TEST_F(Repo, InsertManyErrorNamesTheOperation) {
  sql("insert into api.users (name, email) values ('old', 'u1@x.io')");
  try {
    users().insertMany(makeUsers(3));
    FAIL() << "no exception";
  } catch (const BulkOperationError& e) {
    EXPECT_EQ(e.operation(), "insertMany");
    EXPECT_EQ(e.failedIndexes(), std::vector<std::size_t>{1});
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 3);
}

TEST_F(Repo, CancelledBulkInsertThrowsWithNotProcessedRows) {
  std::stop_source stop;
  stop.request_stop();
  try {
    users().bulkInsert(makeUsers(5), {.stopToken = stop.get_token()});
    FAIL() << "no exception";
  } catch (const BulkOperationError& e) {
    EXPECT_TRUE(e.failedIndexes().empty());
    EXPECT_EQ(e.result().notProcessed, 5u);
    EXPECT_TRUE(e.result().cancelled);
    EXPECT_EQ(e.status(), 0);
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 0);
}

TEST_F(Repo, TransportFailureThrowsBulkOperationErrorWithTransportKind) {
  auto down = createClient({.url = "http://127.0.0.1:1"});
  try {
    down.getRepository<User>("users").bulkInsert(makeUsers(2), {.retry = {.maxAttempts = 1}});
    FAIL() << "no exception";
  } catch (const BulkOperationError& e) {
    EXPECT_TRUE(e.isTransport());
    EXPECT_EQ(e.transportKind(), TransportErrorKind::Connect);
    EXPECT_EQ(e.failedIndexes(), (std::vector<std::size_t>{0, 1}));
    ASSERT_FALSE(e.errors().empty());
    EXPECT_EQ(e.errors()[0].kind, BulkErrorKind::Transport);
  }
}

TEST_F(Repo, InvalidOptionsThrowInvalidArgumentBeforeAnyRequest) {
  EXPECT_THROW(users().bulkInsert(makeUsers(2), {.batchSize = 0}), std::invalid_argument);
  EXPECT_THROW(
      client_->getRepository<nlohmann::json>("events").bulkUpsert(std::vector<nlohmann::json>{{{"kind", "k"}}}),
      std::invalid_argument);  // no primary key and no conflictColumns
  // Only the OpenAPI read that looks up the primary key; nothing written.
  EXPECT_EQ(counting_->count("POST"), 0u);
  EXPECT_EQ(counting_->total(), counting_->count("GET"));
}

// ---- bulkUpsert ----

TEST_F(Repo, BulkUpsertReturnsInsertedAndUpdatedRows) {
  sql("insert into api.users (name, email) values ('old', 'existing@x.io')");
  std::vector<nlohmann::json> rows{{{"email", "existing@x.io"}, {"name", "Updated"}},
                                   {{"email", "new@x.io"}, {"name", "New"}, {"role", "admin"}}};
  auto upserted = users().bulkUpsert(rows, {.conflictColumns = {"email"}});
  ASSERT_EQ(upserted.size(), 2u);
  EXPECT_EQ(upserted[0].name, "Updated");
  EXPECT_EQ(upserted[0].id.value_or(0), 1);
  EXPECT_EQ(upserted[1].role.value_or(""), "admin");
  EXPECT_EQ(sql("select name from api.users where email = 'existing@x.io'"), "Updated");
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 2);
}

TEST_F(Repo, BulkUpsertFailureThrows) {
  std::vector<nlohmann::json> rows{{{"email", "a@x.io"}, {"name", "A"}},
                                   {{"email", "b@x.io"}, {"name", "B"}, {"role", "nobody"}}};
  try {
    users().bulkUpsert(rows, {.conflictColumns = {"email"}});
    FAIL() << "no exception";
  } catch (const BulkOperationErrorOf<User>& e) {
    EXPECT_EQ(e.operation(), "bulkUpsert");
    EXPECT_EQ(e.failedIndexes(), std::vector<std::size_t>{1});
    EXPECT_EQ(e.code(), "23514");
    ASSERT_EQ(e.rows().size(), 1u);
    EXPECT_EQ(e.rows()[0].email, "a@x.io");
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 1);
}

// ---- bulkUpdate ----

TEST_F(Repo, BulkUpdateReturnsUpdatedRows) {
  seed(3);
  std::vector<nlohmann::json> updates{{{"id", 1}, {"name", "John Updated"}, {"active", true}},
                                      {{"id", 2}, {"name", "Jane Updated"}, {"active", false}},
                                      {{"id", 3}, {"role", "admin"}}};
  auto updated = users().bulkUpdate(updates, {.matchColumn = "id", .batchSize = 50});
  ASSERT_EQ(updated.size(), 3u);
  EXPECT_EQ(sql("select string_agg(name || ':' || active || ':' || role, ',' order by id) from api.users"),
            "John Updated:true:user,Jane Updated:false:user,n3:false:admin");
}

TEST_F(Repo, BulkUpdateMissingKeyThrowsNotFoundAndUpdatesTheRest) {
  seed(2);
  std::vector<nlohmann::json> updates{
      {{"id", 1}, {"name", "a"}}, {{"id", 99}, {"name", "b"}}, {{"id", 2}, {"name", "c"}}};
  try {
    users().bulkUpdate(updates);
    FAIL() << "no exception";
  } catch (const BulkOperationErrorOf<User>& e) {
    EXPECT_EQ(e.operation(), "bulkUpdate");
    EXPECT_EQ(e.failedIndexes(), std::vector<std::size_t>{1});
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors()[0].kind, BulkErrorKind::NotFound);
    EXPECT_EQ(e.result().successful, 2u);
    EXPECT_EQ(e.rows().size(), 2u);
  }
  EXPECT_EQ(sql("select string_agg(name, ',' order by id) from api.users"), "a,c");
}

TEST_F(Repo, BulkUpdateServerErrorThrowsWithCode) {
  seed(2);
  std::vector<nlohmann::json> updates{{{"id", 1}, {"role", "nobody"}}, {{"id", 2}, {"name", "ok"}}};
  try {
    users().bulkUpdate(updates);
    FAIL() << "no exception";
  } catch (const BulkOperationError& e) {
    EXPECT_EQ(e.failedIndexes(), std::vector<std::size_t>{0});
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "23514");
  }
  EXPECT_EQ(sql("select string_agg(role || ':' || name, ',' order by id) from api.users"), "user:n1,user:ok");
}

// ---- bulkDelete ----

TEST_F(Repo, BulkDeleteReturnsDeletedRows) {
  seed(6);
  std::vector<long long> ids{1, 2, 3, 4, 5};
  auto deleted = users().bulkDelete(ids, {.matchColumn = "id", .batchSize = 2});
  ASSERT_EQ(deleted.size(), 5u);
  EXPECT_EQ(counting_->count("DELETE"), 3u);
  EXPECT_EQ(deleted[4].email, "e5@x.io");
  EXPECT_EQ(sql("select string_agg(id::text, ',') from api.users"), "6");
}

TEST_F(Repo, BulkDeleteMissingKeyThrowsNotFoundAndDeletesTheRest) {
  seed(3);
  std::vector<long long> ids{1, 42, 3};
  try {
    users().bulkDelete(ids);
    FAIL() << "no exception";
  } catch (const BulkOperationErrorOf<User>& e) {
    EXPECT_EQ(e.operation(), "bulkDelete");
    EXPECT_EQ(e.failedIndexes(), std::vector<std::size_t>{1});
    EXPECT_EQ(e.errors()[0].kind, BulkErrorKind::NotFound);
    ASSERT_EQ(e.rows().size(), 2u);
  }
  EXPECT_EQ(sql("select string_agg(id::text, ',') from api.users"), "2");
}

TEST_F(Repo, BulkDeleteOnCompositeKey) {
  sql("insert into api.inventory values ('w1', 'a', 1), ('w1', 'b', 2), ('w2', 'a', 3)");
  std::vector<nlohmann::json> keys{{{"warehouse", "w1"}, {"sku", "b"}}, {{"warehouse", "w2"}, {"sku", "a"}}};
  auto deleted = client_->getRepository<Inventory>("inventory").bulkDelete(keys, {.matchColumn = {"warehouse", "sku"}});
  ASSERT_EQ(deleted.size(), 2u);
  EXPECT_EQ(sql("select warehouse || sku from api.inventory"), "w1a");
}

// ---- find / findOne / count ----

TEST_F(Repo, FindWithEqualityAndOperators) {
  seed(10);  // even ids active; ids divisible by 3 admin
  auto repo = users();
  EXPECT_EQ(repo.find().size(), 10u);
  EXPECT_EQ(repo.find({{"active", false}}).size(), 5u);
  EXPECT_EQ(repo.find({{"active", false}, {"role", "admin"}}).size(), 2u);  // 3, 9
  std::vector<long long> ids{2, 4, 7};
  EXPECT_EQ(repo.find({{"id", in(ids)}}).size(), 3u);
  EXPECT_EQ(repo.find({{"id", gt(7)}}).size(), 3u);
  EXPECT_EQ(repo.find({{"id", lt(3)}}).size(), 2u);
  EXPECT_EQ(repo.find({{"id", gte(3)}, {"id", lte(5)}}).size(), 3u);
  EXPECT_EQ(repo.find({{"role", notOf(eq("admin"))}}).size(), 7u);
  EXPECT_EQ(repo.find({{"last_login", is(nullptr)}}).size(), 10u);
  EXPECT_EQ(repo.find({{"email", like("e1*")}}).size(), 2u);  // e1, e10
  EXPECT_TRUE(repo.find({{"id", in(std::vector<long long>{})}}).empty());
}

TEST_F(Repo, FindOneReturnsTheRowOrNullopt) {
  seed(3);
  auto u = users().findOne({{"id", 2}});
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->email, "e2@x.io");
  EXPECT_EQ(u->active, std::optional<bool>(true));
  EXPECT_FALSE(users().findOne({{"id", 99}}).has_value());
  EXPECT_FALSE(users().findOne({{"email", "nobody@x.io"}}).has_value());
}

TEST_F(Repo, CountMatchesTheCriteria) {
  seed(10);
  EXPECT_EQ(users().count(), 10u);
  EXPECT_EQ(users().count({{"role", "admin"}}), 3u);
  EXPECT_EQ(users().count({{"role", "guest"}}), 0u);
}

TEST_F(Repo, ReadsThrowErrorForServerFailures) {
  try {
    users().find({{"no_such_column", 1}});
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "42703");
  }
  try {
    client_->getRepository("no_such_table").count();
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 404);
  }
}

TEST_F(Repo, CountThenWriteOnTheSameClient) {
  // Regression: PostgREST 12.0.2 closes the connection after answering count()'s HEAD request; a
  // write sent next on that kept-alive connection must not fail with a reset.
  auto repo = users();
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(repo.count(), static_cast<std::size_t>(i));
    EXPECT_NO_THROW(repo.save(User{.name = "n", .email = std::to_string(i) + "@x.io"})) << "iteration " << i;
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 10);
}

// ---- save ----

TEST_F(Repo, SaveInsertsWhenTheKeyIsAbsent) {
  auto saved = users().save(User{.name = "Ann", .email = "ann@x.io"});
  ASSERT_TRUE(saved.id.has_value());
  EXPECT_EQ(saved.role.value_or(""), "user");
  EXPECT_EQ(counting_->count("POST"), 1u);
  EXPECT_EQ(sql("select id || ':' || name from api.users"), std::to_string(*saved.id) + ":Ann");
  // A null key in a JSON row also means "insert".
  auto j = client_->getRepository("users").save(nlohmann::json{{"id", nullptr}, {"name", "Bo"}, {"email", "bo@x.io"}});
  EXPECT_TRUE(j["id"].is_number());
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 2);
}

TEST_F(Repo, SaveUpdatesByPrimaryKeyWhenSet) {
  seed(2);
  auto repo = users();
  auto u = repo.findOne({{"id", 2}});
  ASSERT_TRUE(u);
  u->name = "Renamed";
  u->role = "admin";
  auto saved = repo.save(*u);
  EXPECT_EQ(saved.id, u->id);
  EXPECT_EQ(saved.name, "Renamed");
  EXPECT_EQ(counting_->count("PATCH"), 1u);
  EXPECT_EQ(counting_->count("POST"), 0u);
  EXPECT_EQ(sql("select string_agg(name || ':' || role, ',' order by id) from api.users"), "n1:user,Renamed:admin");
}

TEST_F(Repo, SaveWithUnknownKeyThrowsNotFoundAndInsertsNothing) {
  seed(1);
  try {
    users().save(User{.id = 77, .name = "x", .email = "x@x.io"});
    FAIL() << "no exception";
  } catch (const NotFoundError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_NE(std::string(e.what()).find("id=77"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 1);
}

TEST_F(Repo, SaveOnCompositeKeyUpdatesTheRow) {
  sql("insert into api.inventory values ('w1', 'a', 1, null)");
  auto repo = client_->getRepository<Inventory>("inventory");
  auto saved = repo.save(Inventory{.warehouse = "w1", .sku = "a", .qty = 5});
  EXPECT_EQ(saved.qty, std::optional<int>(5));
  EXPECT_EQ(sql("select qty from api.inventory"), "5");
  EXPECT_THROW(repo.save(Inventory{.warehouse = "w9", .sku = "a", .qty = 5}), NotFoundError);
  // Only the key: nothing to change, the row is read back (or not found).
  EXPECT_EQ(repo.save(Inventory{.warehouse = "w1", .sku = "a"}).qty, std::optional<int>(5));
  EXPECT_THROW(repo.save(Inventory{.warehouse = "w1", .sku = "zz"}), NotFoundError);
}

TEST_F(Repo, SaveFailuresThrowError) {
  sql("insert into api.users (name, email) values ('a', 'a@x.io')");
  try {
    users().save(User{.name = "dup", .email = "a@x.io"});
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 409);
    EXPECT_EQ(e.code(), "23505");
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 1);
}

TEST_F(Repo, SaveMisuseThrowsInvalidArgumentBeforeAnyRequest) {
  counting_->reset();
  EXPECT_THROW(client_->getRepository("users").save(nlohmann::json::array()), std::invalid_argument);
  EXPECT_EQ(counting_->total(), 0u);
  // events has no primary key (detected from the OpenAPI document: one GET, no write).
  EXPECT_THROW(client_->getRepository("events").save(nlohmann::json{{"kind", "k"}}), std::invalid_argument);
  EXPECT_EQ(counting_->count("POST") + counting_->count("PATCH"), 0u);
  EXPECT_EQ(sqlCount("select count(*) from api.events"), 0);
}

// ---- update / remove ----

TEST_F(Repo, UpdateReturnsChangedRows) {
  seed(4);
  auto changed = users().update({{"id", 3}}, nlohmann::json{{"name", "three"}});
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].name, "three");
  auto many = users().update({{"id", in(std::vector<long long>{1, 2})}}, nlohmann::json{{"status", "x"}});
  EXPECT_EQ(many.size(), 2u);
  EXPECT_TRUE(users().update({{"id", 99}}, nlohmann::json{{"name", "none"}}).empty());
  EXPECT_EQ(sql("select string_agg(name || ':' || coalesce(status, '-'), ',' order by id) from api.users"),
            "n1:x,n2:x,three:-,n4:-");
}

TEST_F(Repo, UpdateWithEmptyCriteriaThrowsInvalidArgument) {
  seed(2);
  counting_->reset();
  EXPECT_THROW(users().update({}, nlohmann::json{{"name", "all"}}), std::invalid_argument);
  EXPECT_EQ(counting_->total(), 0u);
  EXPECT_EQ(sqlCount("select count(*) from api.users where name = 'all'"), 0);
}

TEST_F(Repo, UpdateServerErrorThrowsError) {
  seed(2);
  try {
    users().update({{"id", 1}}, nlohmann::json{{"role", "nobody"}});
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "23514");
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users where role = 'user'"), 2);
}

TEST_F(Repo, RemoveReturnsRemovedRows) {
  seed(5);
  std::vector<long long> ids{2, 4, 42};
  auto removed = users().remove({{"id", in(ids)}});
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_TRUE(users().remove({{"id", 42}}).empty());
  EXPECT_EQ(sql("select string_agg(id::text, ',' order by id) from api.users"), "1,3,5");
}

TEST_F(Repo, RemoveWithEmptyCriteriaThrowsInvalidArgument) {
  seed(2);
  counting_->reset();
  EXPECT_THROW(users().remove({}), std::invalid_argument);
  EXPECT_EQ(counting_->total(), 0u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 2);
}

// ---- repositories themselves ----

TEST_F(Repo, InvalidTableNameThrowsInvalidArgument) {
  EXPECT_THROW(client_->getRepository<User>(""), std::invalid_argument);
}

class UserRepository : public CustomRepositoryBase<User> {
 public:
  using CustomRepositoryBase::CustomRepositoryBase;
  std::vector<User> createActive(std::vector<User> rows) const {
    for (auto& r : rows) r.active = true;
    return insertMany(rows);
  }
  long long softDelete(const std::vector<long long>& ids) const {
    return rpc("soft_delete_users", {{"ids", ids}}).get<long long>();
  }
};

TEST_F(Repo, CustomRepositoryUsesBaseMethodsAndRpc) {
  auto repo = client_->getCustomRepository<UserRepository>("users");
  auto created = repo.createActive(makeUsers(3));
  ASSERT_EQ(created.size(), 3u);
  EXPECT_EQ(repo.softDelete({*created[0].id, *created[2].id, 999}), 2);
  EXPECT_EQ(sqlCount("select count(*) from api.users where deleted_at is not null and active = false"), 2);
  EXPECT_EQ(repo.count({{"active", true}}), 1u);
  EXPECT_EQ(repo.table(), "users");
}

TEST_F(Repo, JsonRepositoryWorksWithoutARowType) {
  auto repo = client_->getRepository("tags");
  auto rows = repo.bulkInsert(std::vector<nlohmann::json>{{{"key", "a b"}, {"label", "x"}}, {{"key", "c,d"}}});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["key"], "c,d");
  auto saved = repo.save(nlohmann::json{{"key", "c,d"}, {"label", "y"}});
  EXPECT_EQ(saved["label"], "y");
  EXPECT_EQ(sql("select label from api.tags where key = 'c,d'"), "y");
}

}  // namespace
}  // namespace pgrestify::test
