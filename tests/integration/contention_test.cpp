// SPDX-License-Identifier: MIT
// Two writers on the same keys at the same time (issue #20): two Clients on two threads upsert,
// update and delete the same 20,000 keys in opposite orders with default options. Rows of a
// batch are sent in key order, so the writers lock rows in one order and cannot deadlock each
// other; a conflict that still happens (40P01/40001) is retried, never reported as a row failure.
#include "test_env.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pgrestify::test {
namespace {

constexpr int kKeys = 20000;

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

std::string keyOf(int i) {
  std::string k = std::to_string(i);
  return "k" + std::string(6 - k.size(), '0') + k;
}

class Contention : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string mark = freshMark();
    sql("drop table if exists api.contention_kv;"
        "create table api.contention_kv (k text primary key, v text not null, w text not null default '');"
        "comment on table api.contention_kv is '" +
        mark +
        "';"
        "grant select, insert, update, delete on api.contention_kv to anon, web_user;"
        "notify pgrst, 'reload schema';");
    waitForSchema(*client_, server_->url, {"contention_kv"}, mark);
  }
  void TearDown() override {
    if (server_) sql("drop table if exists api.contention_kv; notify pgrst, 'reload schema';");
  }

  enum class Order { Ascending, Descending, Shuffled };

  // Every key once, in @p order (Shuffled: a fixed permutation, as a second file of the same rows).
  static std::vector<int> keyOrder(Order order) {
    std::vector<int> ids(kKeys);
    for (int n = 0; n < kKeys; ++n) ids[static_cast<std::size_t>(n)] = n;
    if (order == Order::Descending) std::reverse(ids.begin(), ids.end());
    if (order == Order::Shuffled) std::shuffle(ids.begin(), ids.end(), std::mt19937(20));
    return ids;
  }

  // Rows of writer @p tag for every key.
  static std::vector<nlohmann::json> rowsOf(const std::string& tag, Order order) {
    std::vector<nlohmann::json> rows;
    rows.reserve(kKeys);
    for (int i : keyOrder(order)) rows.push_back({{"k", keyOf(i)}, {"v", tag + ":" + keyOf(i)}, {"w", tag}});
    return rows;
  }

  // Runs @p a and @p b on two threads, released at the same moment.
  template <class A, class B>
  static void together(A&& a, B&& b) {
    std::atomic<int> ready{0};
    auto wrap = [&](auto& f) {
      return [&] {
        ready.fetch_add(1);
        while (ready.load() < 2) std::this_thread::yield();
        f();
      };
    };
    std::thread ta(wrap(a)), tb(wrap(b));
    ta.join();
    tb.join();
  }

  static std::string summary(const BulkResult<nlohmann::json>& r) {
    std::string s = "successful=" + std::to_string(r.successful) + " failed=" + std::to_string(r.failed) +
                    " requests=" + std::to_string(r.requests) + " retries=" + std::to_string(r.retries);
    if (!r.errors.empty()) s += " first error: " + r.errors.front().code + " " + r.errors.front().message;
    return s;
  }
};

TEST_F(Contention, TwoUpsertersOnTheSameKeysInOppositeOrdersBothSucceed) {
  auto clientA = makeClient();
  auto clientB = makeClient();
  BulkResult<nlohmann::json> ra, rb;
  // The first round inserts (both writers race for new keys), the next ones update: in opposite
  // orders, then one in key order and one shuffled (the two files of the same rows).
  const std::pair<Order, Order> rounds[] = {{Order::Ascending, Order::Descending},
                                            {Order::Ascending, Order::Descending},
                                            {Order::Ascending, Order::Shuffled}};
  for (int round = 0; round < 3; ++round) {
    auto rowsA = rowsOf("A", rounds[round].first);
    auto rowsB = rowsOf("B", rounds[round].second);
    together([&] { ra = clientA.from("contention_kv").bulkUpsert(rowsA); },
             [&] { rb = clientB.from("contention_kv").bulkUpsert(rowsB); });
    EXPECT_EQ(ra.failed, 0u) << "round " << round << ": " << summary(ra);
    EXPECT_EQ(rb.failed, 0u) << "round " << round << ": " << summary(rb);
    EXPECT_EQ(ra.successful, static_cast<std::size_t>(kKeys));
    EXPECT_EQ(rb.successful, static_cast<std::size_t>(kKeys));
    EXPECT_EQ(sqlCount("select count(*) from api.contention_kv"), kKeys);
    EXPECT_EQ(sqlCount("select count(distinct k) from api.contention_kv"), kKeys);
    EXPECT_EQ(sqlCount("select count(*) from api.contention_kv where v = w || ':' || k and w in ('A', 'B')"), kKeys)
        << "every key holds one of the two writers' values";
  }
}

TEST_F(Contention, TwoGroupedUpdatersAndDeletersOnTheSameKeysInDifferentOrders) {
  sql("insert into api.contention_kv (k, v) select 'k' || lpad(g::text, 6, '0'), 'old' from generate_series(0, " +
      std::to_string(kKeys - 1) + ") g");
  // Identical new values per writer: Auto groups them into `PATCH ?k=in.(...)` batches.
  auto updates = [](const std::string& tag, Order order) {
    std::vector<nlohmann::json> rows;
    for (int i : keyOrder(order)) rows.push_back({{"k", keyOf(i)}, {"v", tag}, {"w", tag}});
    return rows;
  };
  auto clientA = makeClient();
  auto clientB = makeClient();
  auto rowsA = updates("A", Order::Ascending);
  auto rowsB = updates("B", Order::Shuffled);
  BulkResult<nlohmann::json> ra, rb;
  together([&] { ra = clientA.from("contention_kv").bulkUpdate(rowsA, {.matchColumn = "k"}); },
           [&] { rb = clientB.from("contention_kv").bulkUpdate(rowsB, {.matchColumn = "k"}); });
  EXPECT_EQ(ra.failed, 0u) << summary(ra);
  EXPECT_EQ(rb.failed, 0u) << summary(rb);
  EXPECT_EQ(ra.successful, static_cast<std::size_t>(kKeys));
  EXPECT_EQ(rb.successful, static_cast<std::size_t>(kKeys));
  EXPECT_EQ(sqlCount("select count(*) from api.contention_kv where v = w and w in ('A', 'B')"), kKeys);
  EXPECT_EQ(sqlCount("select count(distinct k) from api.contention_kv"), kKeys);

  // Both delete every key: each key is deleted by exactly one of them, the other finds it gone.
  std::vector<nlohmann::json> keysA, keysB;
  for (int i : keyOrder(Order::Descending)) keysA.push_back(keyOf(i));
  for (int i : keyOrder(Order::Shuffled)) keysB.push_back(keyOf(i));
  together([&] { ra = clientA.from("contention_kv").bulkDelete(keysA, {.matchColumn = "k"}); },
           [&] { rb = clientB.from("contention_kv").bulkDelete(keysB, {.matchColumn = "k"}); });
  EXPECT_EQ(ra.successful + rb.successful, static_cast<std::size_t>(kKeys)) << summary(ra) << " / " << summary(rb);
  for (const auto* r : {&ra, &rb}) {
    for (const auto& e : r->errors) {
      EXPECT_EQ(e.kind, BulkErrorKind::NotFound) << e.code << " " << e.message;
    }
  }
  EXPECT_EQ(sqlCount("select count(*) from api.contention_kv"), 0);
}

}  // namespace
}  // namespace pgrestify::test
