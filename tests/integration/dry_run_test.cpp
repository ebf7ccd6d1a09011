// SPDX-License-Identifier: MIT
// Dry runs (Prefer: tx=rollback) against PostgREST with db-tx-end = commit-allow-override and
// against a second one with the default `commit` (fixture.sh), the validate option, maxFailures
// and idempotent deletes; what is in the tables is checked with SQL.
#include "models.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;

namespace {

class DryRunTest : public IntegrationTest {
 protected:
  // 100 sales rows (ids 1..100, amount = id) and their fingerprint.
  void seedSales() {
    sql("insert into api.sales (region, product, amount) select 'r', 'p' || g, g from generate_series(1, 100) g");
  }
  static std::string salesState() {
    return sql(
        "select count(*) || ':' || coalesce(md5(string_agg(id || '/' || region || '/' || product || '/' || "
        "amount, ',' order by id)), '-') from api.sales");
  }
  static std::set<std::size_t> failedIndexes(const BulkResult<json>& r) {
    std::set<std::size_t> out;
    for (const auto& e : r.errors) out.insert(e.indexes.begin(), e.indexes.end());
    return out;
  }
};

const std::set<std::size_t> kBad = {0, 17, 999, 1000, 4321, 8888, 9999};

std::vector<json> salesRows(std::size_t n, const std::set<std::size_t>& bad) {
  std::vector<json> rows;
  rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    rows.push_back({{"region", "eu"}, {"product", "p" + std::to_string(i)}, {"amount", bad.count(i) ? -1 : 1}});
  }
  return rows;
}

}  // namespace

TEST_F(DryRunTest, InsertOfTenThousandRowsReportsTheSevenBadOnesAndWritesNothing) {
  const auto before = salesState();
  auto r = client_->from("sales").bulkInsert(salesRows(10000, kBad), {.dryRun = true});
  EXPECT_EQ(r.successful, 10000u - 7u);  // rows that would be written
  EXPECT_EQ(r.failed, 7u);
  EXPECT_EQ(r.notProcessed, 0u);
  EXPECT_EQ(failedIndexes(r), kBad);
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.code, "23514") << e.message;
    EXPECT_FALSE(e.outcomeUnknown);
  }
  EXPECT_EQ(salesState(), before);
  EXPECT_EQ(sqlCount("select count(*) from api.sales"), 0);
}

TEST_F(DryRunTest, UpsertUpdateAndDeleteChangeNothing) {
  seedSales();
  const auto before = salesState();
  std::vector<json> upserts;
  for (int id = 95; id <= 105; ++id)
    upserts.push_back({{"id", id}, {"region", "x"}, {"product", "q"}, {"amount", id == 97 ? -5 : 7}});
  auto up = client_->from("sales").bulkUpsert(upserts, {.batchSize = 4, .dryRun = true});
  EXPECT_EQ(up.successful, 10u);
  EXPECT_EQ(failedIndexes(up), (std::set<std::size_t>{2}));

  std::vector<json> updates = {{{"id", 1}, {"amount", 50}},
                               {{"id", 2}, {"amount", -1}},
                               {{"id", 500}, {"amount", 3}},
                               {{"id", 3}, {"region", "y"}}};
  auto upd = client_->from("sales").bulkUpdate(updates, {.dryRun = true});
  EXPECT_EQ(upd.successful, 2u);
  EXPECT_EQ(failedIndexes(upd), (std::set<std::size_t>{1, 2}));

  auto del = client_->from("sales").bulkDelete(std::vector<int>{1, 2, 3, 1000, 50}, {.batchSize = 2, .dryRun = true});
  EXPECT_EQ(del.successful, 4u);
  EXPECT_EQ(failedIndexes(del), (std::set<std::size_t>{3}));
  EXPECT_EQ(salesState(), before);
  EXPECT_EQ(sqlCount("select count(*) from api.sales"), 100);
}

TEST_F(DryRunTest, RefusedBeforeAnyRowByAServerWithTheDefaultCommit) {
  if (server_->commitUrl.empty()) GTEST_SKIP() << "no db-tx-end = commit server (PGRESTIFY_TEST_COMMIT_URL)";
  seedSales();
  const auto before = salesState();
  Client commit = makeClient({.url = server_->commitUrl});
  counting_->reset();
  try {
    commit.from("sales").bulkInsert(salesRows(10000, kBad), {.dryRun = true});
    FAIL() << "the dry run was not refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("db-tx-end"), std::string::npos) << e.what();
  }
  EXPECT_THROW(commit.from("sales").bulkDelete(std::vector<int>{1, 2}, {.dryRun = true}), std::invalid_argument);
  EXPECT_THROW(commit.from("sales").bulkUpdate(std::vector<json>{{{"id", 1}, {"amount", 9}}}, {.dryRun = true}),
               std::invalid_argument);
  EXPECT_THROW(commit.from("sales").bulkUpsert(
                   std::vector<json>{{{"id", 1}, {"region", "z"}, {"product", "z"}, {"amount", 1}}}, {.dryRun = true}),
               std::invalid_argument);
  EXPECT_EQ(counting_->count("POST"), 0u);
  EXPECT_EQ(counting_->count("PATCH"), 0u);
  EXPECT_EQ(counting_->count("DELETE"), 0u);
  EXPECT_EQ(salesState(), before);
  // The same server without dryRun writes (the setting is what refused, not the server).
  auto r = commit.from("sales").bulkDelete(std::vector<int>{1});
  EXPECT_EQ(r.successful, 1u);
  EXPECT_EQ(sqlCount("select count(*) from api.sales"), 99);
}

TEST_F(DryRunTest, ValidateRefusesRowsBeforeSendingThem) {
  std::vector<json> rows = salesRows(1000, {});
  for (std::size_t i : {3u, 500u, 999u}) rows[i]["region"] = "nowhere";
  auto check = [](const json& row) -> std::optional<std::string> {
    if (row.value("region", "") == "nowhere") return "unknown region";
    return std::nullopt;
  };
  auto r = client_->from("sales").bulkInsert(rows, {.validate = check});
  EXPECT_EQ(r.successful, 997u);
  EXPECT_EQ(r.failed, 3u);
  EXPECT_EQ(failedIndexes(r), (std::set<std::size_t>{3, 500, 999}));
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.kind, BulkErrorKind::InvalidRow);
    EXPECT_EQ(e.message, "unknown region");
  }
  EXPECT_EQ(sqlCount("select count(*) from api.sales"), 997);
  EXPECT_EQ(sqlCount("select count(*) from api.sales where region = 'nowhere'"), 0);

  // update and delete: the row (or key) as given.
  auto upd =
      client_->from("sales").bulkUpdate(std::vector<json>{{{"id", 1}, {"amount", 5}}, {{"id", 2}, {"amount", 1000000}}},
                                        {.validate = [](const json& row) -> std::optional<std::string> {
                                          if (row.at("amount").get<double>() > 1000) return "too large";
                                          return std::nullopt;
                                        }});
  EXPECT_EQ(upd.successful, 1u);
  EXPECT_EQ(failedIndexes(upd), (std::set<std::size_t>{1}));
  EXPECT_EQ(sql("select amount from api.sales where id = 2"), "1.00");
  EXPECT_EQ(sql("select amount from api.sales where id = 1"), "5.00");
  auto del = client_->from("sales").bulkDelete(std::vector<int>{10, 11, 12},
                                               {.validate = [](const json& key) -> std::optional<std::string> {
                                                 if (key.get<int>() == 11) return "keep 11";
                                                 return std::nullopt;
                                               }});
  EXPECT_EQ(del.successful, 2u);
  ASSERT_EQ(del.errors.size(), 1u);
  EXPECT_EQ(del.errors[0].indexes, std::vector<std::size_t>{1});
  EXPECT_EQ(del.errors[0].message, "keep 11");
  EXPECT_EQ(sqlCount("select count(*) from api.sales where id in (10, 11, 12)"), 1);
}

TEST_F(DryRunTest, MaxFailuresStopsStartingBatches) {
  // One bad row in each batch of 100 from the second on; one request at a time.
  std::set<std::size_t> bad;
  for (std::size_t i = 150; i < 10000; i += 100) bad.insert(i);
  auto r =
      client_->from("sales").bulkInsert(salesRows(10000, bad), {.batchSize = 100, .concurrency = 1, .maxFailures = 2});
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(failedIndexes(r), (std::set<std::size_t>{150, 250}));
  EXPECT_EQ(r.successful, 298u);
  EXPECT_EQ(r.notProcessed, 10000u - 300u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(sqlCount("select count(*) from api.sales"), 298);
  EXPECT_EQ(sqlCount("select count(*) from api.sales where product in ('p299', 'p300')"), 1);

  // Not-found keys count as failures too (delete and update).
  seedSales();
  auto del = client_->from("sales").bulkDelete(std::vector<int>{100000, 100001, 100002, 100003},
                                               {.batchSize = 1, .concurrency = 1, .maxFailures = 2});
  EXPECT_EQ(del.failed, 2u);
  EXPECT_EQ(del.notProcessed, 2u);
}

TEST_F(DryRunTest, IdempotentDeleteCountsMissingKeysAsDone) {
  seedSales();
  std::vector<int> keys = {1, 2, 3, 1000, 1001};
  auto r = client_->from("sales").bulkDelete(keys, {.notFoundOk = true});
  EXPECT_EQ(r.successful, 5u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(sqlCount("select count(*) from api.sales"), 97);
  // Again: every key is gone, the call still succeeds.
  r = client_->from("sales").bulkDelete(keys, {.notFoundOk = true});
  EXPECT_EQ(r.successful, 5u);
  EXPECT_TRUE(r.ok());
  // Without the option they are NotFound failures.
  r = client_->from("sales").bulkDelete(keys);
  EXPECT_EQ(r.failed, 5u);

  // The repository honours it: no throw, the deleted rows returned.
  auto repo = client_->getRepository("sales");
  auto deleted = repo.bulkDelete(std::vector<int>{4, 5, 2000}, {.notFoundOk = true});
  EXPECT_EQ(deleted.size(), 2u);
  EXPECT_EQ(sqlCount("select count(*) from api.sales"), 95);
  EXPECT_THROW(repo.bulkDelete(std::vector<int>{6, 3000}), BulkOperationErrorOf<json>);
  EXPECT_EQ(sqlCount("select count(*) from api.sales where id = 6"), 0);  // the key that matched is still deleted
}
