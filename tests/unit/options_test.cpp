// SPDX-License-Identifier: MIT
// Bulk options: one resolution per call (the call's value, else the client's bulkDefaults, else
// the library's), one check per options struct (std::invalid_argument before any request), and
// the designated-initialiser order shared by the four options structs.
#include "test_util.hpp"

#include <pgrestify/detail/bulk_ops.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<FakeTransport> okFake() {
  return std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    if (req.method == "POST") return created(json::parse(req.body).size());
    return status(200, "[]", {{"Content-Range", "*/0"}, {"Content-Type", "application/json; charset=utf-8"}});
  });
}

Client clientWith(const std::shared_ptr<FakeTransport>& fake, BulkDefaults defaults) {
  return fakeClient(fake, ClientOptions{.bulkDefaults = std::move(defaults)});
}

/// Fast retries with only these fields set (test_util.hpp's fastRetry sets every field).
RetryOptions fastRetryFields(int maxAttempts) {
  return {
      .maxAttempts = maxAttempts, .initialBackoff = 1ms, .maxBackoff = 2ms, .retryBudget = 0ms, .conflictBudget = 0ms};
}

std::vector<json> keyedRows(std::size_t n) {
  std::vector<json> rows;
  for (std::size_t i = 0; i < n; ++i) rows.push_back({{"id", i + 1}, {"status", "x"}});
  return rows;
}

std::size_t maxInFlight(const FakeTransport& fake) {
  std::size_t most = 0;
  for (const auto& r : fake.requests()) most = std::max(most, r.inFlightAtStart);
  return most;
}

}  // namespace

// Every shared field in the same order in the four structs: this compiles only if it is so.
TEST(OptionsOrder, SharedFieldsNameTheSameWayInEveryStruct) {
  auto all = [](auto o) { return o.batchSize.value_or(0) + o.concurrency.value_or(0); };
  EXPECT_EQ(all(BulkInsertOptions{.batchSize = 10,
                                  .returning = true,
                                  .maxBatchBytes = 5,
                                  .concurrency = 2,
                                  .isolateFailures = false,
                                  .stopOnError = true,
                                  .retry = {.maxAttempts = 1},
                                  .select = "id"}),
            12u);
  EXPECT_EQ(all(BulkUpsertOptions{.conflictColumns = {"email"},
                                  .batchSize = 10,
                                  .returning = true,
                                  .maxBatchBytes = 5,
                                  .concurrency = 2,
                                  .isolateFailures = false,
                                  .stopOnError = true,
                                  .retry = {.maxAttempts = 1},
                                  .select = "id"}),
            12u);
  EXPECT_EQ(all(BulkUpdateOptions{.matchColumn = "id",
                                  .batchSize = 10,
                                  .returning = true,
                                  .maxBatchBytes = 5,
                                  .concurrency = 2,
                                  .isolateFailures = false,
                                  .stopOnError = true,
                                  .retry = {.maxAttempts = 1},
                                  .select = "id"}),
            12u);
  EXPECT_EQ(all(BulkDeleteOptions{.matchColumn = "id",
                                  .batchSize = 10,
                                  .returning = true,
                                  .concurrency = 2,
                                  .isolateFailures = false,
                                  .stopOnError = true,
                                  .retry = {.maxAttempts = 1},
                                  .select = "id"}),
            12u);
  // The fields added after 0.1, at the end, in the same order in every struct.
  const auto deadline = std::chrono::steady_clock::now() + 1h;
  RowValidator none;
  EXPECT_EQ(
      all(BulkInsertOptions{
          .batchSize = 1, .deadline = deadline, .timeout = 5s, .dryRun = false, .validate = none, .maxFailures = 3}),
      1u);
  EXPECT_EQ(
      all(BulkUpsertOptions{
          .batchSize = 1, .deadline = deadline, .timeout = 5s, .dryRun = false, .validate = none, .maxFailures = 3}),
      1u);
  EXPECT_EQ(
      all(BulkUpdateOptions{
          .batchSize = 1, .deadline = deadline, .timeout = 5s, .dryRun = false, .validate = none, .maxFailures = 3}),
      1u);
  EXPECT_EQ(all(BulkDeleteOptions{.batchSize = 1,
                                  .deadline = deadline,
                                  .timeout = 5s,
                                  .dryRun = false,
                                  .validate = none,
                                  .maxFailures = 3,
                                  .notFoundOk = true}),
            1u);
  // The reference docs' orders.
  EXPECT_EQ(all(BulkInsertOptions{
                .batchSize = 100, .returning = true, .onConflict = OnConflict::Ignore, .conflictColumns = {"email"}}),
            100u);
  EXPECT_EQ(all(BulkUpsertOptions{.conflictColumns = {"email"}, .batchSize = 50, .returning = true}), 50u);
  EXPECT_EQ(all(BulkUpdateOptions{.matchColumn = "id", .batchSize = 50, .returning = true}), 50u);
}

TEST(OptionsResolution, LibraryDefaultsWhenNothingIsSet) {
  auto s = detail::validate(BulkInsertOptions{});
  EXPECT_EQ(s.engine.batchSize, kDefaultBatchSize);
  EXPECT_EQ(s.engine.concurrency, kDefaultConcurrency);
  EXPECT_FALSE(s.engine.concurrencySet);
  EXPECT_TRUE(s.engine.isolateFailures);
  EXPECT_EQ(s.maxBatchBytes, kDefaultMaxBatchBytes);
  EXPECT_EQ(s.engine.retry.maxAttempts, RetryPolicy{}.maxAttempts);
  EXPECT_EQ(s.engine.retry.retryBudget, RetryPolicy{}.retryBudget);
  auto d = detail::validate(BulkDeleteOptions{});
  EXPECT_EQ(d.maxUrlBytes, kDefaultMaxUrlBytes);
}

TEST(OptionsResolution, CallValueThenClientDefaultThenLibrary) {
  const BulkDefaults client{.batchSize = 7,
                            .maxBatchBytes = 700,
                            .maxUrlBytes = 900,
                            .concurrency = 3,
                            .isolateFailures = false,
                            .retry = {.maxAttempts = 2, .retryBudget = 5s}};
  auto s = detail::validate(BulkUpdateOptions{}, client);
  EXPECT_EQ(s.engine.batchSize, 7u);
  EXPECT_EQ(s.maxBatchBytes, 700u);
  EXPECT_EQ(s.maxUrlBytes, 900u);
  EXPECT_EQ(s.engine.concurrency, 3u);
  EXPECT_TRUE(s.engine.concurrencySet);  // chosen by the client: an explicit choice
  EXPECT_FALSE(s.engine.isolateFailures);
  EXPECT_EQ(s.engine.retry.maxAttempts, 2);
  EXPECT_EQ(s.engine.retry.retryBudget, 5s);
  EXPECT_EQ(s.engine.retry.maxBackoff, RetryPolicy{}.maxBackoff);  // neither set it

  auto c = detail::validate(BulkUpdateOptions{.batchSize = 70,
                                              .maxUrlBytes = 90,
                                              .maxBatchBytes = 70000,
                                              .concurrency = 1,
                                              .isolateFailures = true,
                                              .retry = {.maxAttempts = 4}},
                            client);
  EXPECT_EQ(c.engine.batchSize, 70u);
  EXPECT_EQ(c.maxUrlBytes, 90u);
  EXPECT_EQ(c.maxBatchBytes, 70000u);
  EXPECT_EQ(c.engine.concurrency, 1u);
  EXPECT_TRUE(c.engine.concurrencySet);
  EXPECT_TRUE(c.engine.isolateFailures);
  EXPECT_EQ(c.engine.retry.maxAttempts, 4);   // the call's field
  EXPECT_EQ(c.engine.retry.retryBudget, 5s);  // the client's field
  // A whole RetryPolicy given to a call sets every field.
  RetryPolicy whole;
  whole.maxAttempts = 9;
  auto w = detail::validate(BulkInsertOptions{.retry = whole}, client);
  EXPECT_EQ(w.engine.retry.maxAttempts, 9);
  EXPECT_EQ(w.engine.retry.retryBudget, RetryPolicy{}.retryBudget);
  // Only an explicit concurrency counts as set.
  EXPECT_TRUE(detail::validate(BulkDeleteOptions{.concurrency = kDefaultConcurrency}).engine.concurrencySet);
  EXPECT_FALSE(detail::validate(BulkDeleteOptions{.batchSize = 3}, BulkDefaults{.batchSize = 2}).engine.concurrencySet);
}

// The per-call fields added after 0.1 are resolved and checked by the same validate: `timeout`
// (unset: ClientOptions::timeout, the transport's) and `maxFailures` reach the engine; a negative
// timeout is refused for every operation.
TEST(OptionsResolution, TimeoutAndMaxFailuresReachTheEngine) {
  auto unset = detail::validate(BulkInsertOptions{});
  EXPECT_FALSE(unset.engine.requestTimeout.has_value());
  EXPECT_EQ(unset.engine.maxFailures, 0u);
  EXPECT_EQ(detail::validate(BulkInsertOptions{.timeout = 5s, .maxFailures = 7}).engine.requestTimeout, 5s);
  EXPECT_EQ(detail::validate(BulkUpsertOptions{.timeout = 0ms}).engine.requestTimeout, 0ms);  // 0 = none
  EXPECT_EQ(detail::validate(BulkUpdateOptions{.maxFailures = 2}).engine.maxFailures, 2u);
  EXPECT_EQ(detail::validate(BulkDeleteOptions{.timeout = 3s, .maxFailures = 1}).engine.requestTimeout, 3s);
  EXPECT_EQ(detail::validate(BulkDeleteOptions{.timeout = 3s, .maxFailures = 1}).engine.maxFailures, 1u);
  EXPECT_THROW(detail::validate(BulkInsertOptions{.timeout = -1ms}), std::invalid_argument);
  EXPECT_THROW(detail::validate(BulkUpsertOptions{.timeout = -1ms}), std::invalid_argument);
  EXPECT_THROW(detail::validate(BulkUpdateOptions{.timeout = -1ms}), std::invalid_argument);
  EXPECT_THROW(detail::validate(BulkDeleteOptions{.timeout = -1ms}), std::invalid_argument);
}

// Invalid options are refused before anything is sent, the dry run's probe of the server
// included, and whatever the client's defaults.
TEST(ClientDefaults, InvalidCallOptionsThrowBeforeTheDryRunProbe) {
  auto fake = okFake();
  auto client = clientWith(fake, {.batchSize = 10, .concurrency = 2});
  auto t = client.from("users");
  auto rows = userRows(3);
  auto keyed = keyedRows(3);
  std::vector<long long> ids = {1, 2};
  EXPECT_THROW(t.bulkInsert(rows, {.batchSize = 0, .dryRun = true}), std::invalid_argument);
  EXPECT_THROW(t.bulkUpsert(rows, {.conflictColumns = {"email"}, .timeout = -1ms, .dryRun = true}),
               std::invalid_argument);
  EXPECT_THROW(t.bulkUpdate(keyed, {.maxUrlBytes = 0, .dryRun = true}), std::invalid_argument);
  EXPECT_THROW(t.bulkDelete(ids, {.concurrency = 0, .dryRun = true}), std::invalid_argument);
  EXPECT_THROW(t.bulkDelete(ids, {.timeout = -5s, .notFoundOk = true}), std::invalid_argument);
  EXPECT_EQ(fake->count(), 0u);
}

// The call's timeout is set on each of its requests; unset, the requests carry none (the
// transport's, i.e. ClientOptions::timeout for the built-in one), whatever the bulk defaults.
TEST(ClientDefaults, CallTimeoutIsSetOnEveryRequest) {
  auto fake = okFake();
  auto client = clientWith(fake, {.batchSize = 2});
  auto rows = userRows(3);
  client.from("users").bulkInsert(rows);
  client.from("users").bulkInsert(rows, {.timeout = 1500ms});
  ASSERT_EQ(fake->count(), 4u);
  EXPECT_FALSE(fake->requests()[0].request.timeout.has_value());
  EXPECT_FALSE(fake->requests()[1].request.timeout.has_value());
  EXPECT_EQ(fake->requests()[2].request.timeout, 1500ms);
  EXPECT_EQ(fake->requests()[3].request.timeout, 1500ms);
}

TEST(ClientDefaults, BatchSizeAppliesToEveryOperationAndACallOverridesIt) {
  auto fake = okFake();
  auto client = clientWith(fake, {.batchSize = 2});
  auto t = client.from("users");
  auto rows = userRows(5);
  auto keyed = keyedRows(5);
  std::vector<long long> ids = {1, 2, 3, 4, 5};
  auto sent = [&](auto call) {
    const std::size_t before = fake->count();
    call();
    return fake->count() - before;
  };
  EXPECT_EQ(sent([&] { t.bulkInsert(rows); }), 3u);
  EXPECT_EQ(sent([&] { t.bulkUpsert(rows, {.conflictColumns = {"email"}}); }), 3u);
  EXPECT_EQ(sent([&] { t.bulkUpdate(keyed); }), 3u);  // one grouped PATCH per 2 keys
  EXPECT_EQ(sent([&] { t.bulkDelete(ids); }), 3u);
  EXPECT_EQ(sent([&] { t.bulkInsert(rows, {.batchSize = 5}); }), 1u);
  EXPECT_EQ(sent([&] { t.bulkUpsert(rows, {.conflictColumns = {"email"}, .batchSize = 5}); }), 1u);
  EXPECT_EQ(sent([&] { t.bulkUpdate(keyed, {.batchSize = 5}); }), 1u);
  EXPECT_EQ(sent([&] { t.bulkDelete(ids, {.batchSize = 5}); }), 1u);
}

TEST(ClientDefaults, ConcurrencyAppliesAndACallOverridesIt) {
  auto fake = okFake();
  auto client = clientWith(fake, {.concurrency = 1});
  auto rows = userRows(20);
  client.from("users").bulkInsert(rows, {.batchSize = 2});
  EXPECT_EQ(fake->count(), 10u);
  EXPECT_EQ(maxInFlight(*fake), 1u);

  auto fake2 = okFake();
  auto client2 = clientWith(fake2, {.concurrency = 1});
  client2.from("users").bulkInsert(rows, {.batchSize = 2, .concurrency = 4});
  EXPECT_GT(maxInFlight(*fake2), 1u);
  EXPECT_LE(maxInFlight(*fake2), 4u);
}

TEST(ClientDefaults, RetryPolicyAppliesFieldByFieldAndACallOverridesIt) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return status(503); });
  auto client = clientWith(fake, {.retry = fastRetryFields(2)});
  auto rows = userRows(1);
  auto r = client.from("users").bulkInsert(rows);
  EXPECT_EQ(r.failed, 1u);
  EXPECT_EQ(fake->count(), 2u);  // the client's maxAttempts, and its retryBudget 0
  // The call sets maxAttempts only: the backoff and the budgets stay the client's (a 30 s
  // retryBudget from the library default would keep retrying the 503 far beyond 3 attempts).
  auto r2 = client.from("users").bulkInsert(rows, {.retry = {.maxAttempts = 3}});
  EXPECT_EQ(r2.failed, 1u);
  EXPECT_EQ(fake->count(), 2u + 3u);
  ASSERT_EQ(r2.errors.size(), 1u);
  EXPECT_EQ(r2.errors[0].attempts, 3);
}

TEST(ClientDefaults, IsolationAndBodyCapApplyAndACallOverridesThem) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    auto body = json::parse(req.body);
    for (const auto& row : body) {
      if (row.value("name", "") == "bad") return pgError(400, "23514", "check violation");
    }
    return created(body.size());
  });
  auto client = clientWith(fake, {.maxBatchBytes = 1u << 20, .isolateFailures = false});
  auto rows = userRows(4);
  rows[2]["name"] = "bad";
  auto r = client.from("users").bulkInsert(rows);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, (std::vector<std::size_t>{0, 1, 2, 3}));  // not isolated
  auto r2 = client.from("users").bulkInsert(rows, {.isolateFailures = true});
  ASSERT_EQ(r2.errors.size(), 1u);
  EXPECT_EQ(r2.errors[0].indexes, (std::vector<std::size_t>{2}));
  EXPECT_EQ(r2.successful, 3u);

  auto small = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto capped = clientWith(small, {.maxBatchBytes = 60});  // about one row per body
  auto rows4 = userRows(4);
  capped.from("users").bulkInsert(rows4);
  EXPECT_EQ(small->count(), 4u);
  capped.from("users").bulkInsert(rows4, {.maxBatchBytes = 1u << 20});
  EXPECT_EQ(small->count(), 5u);
}

TEST(ClientDefaults, InvalidDefaultsThrowWhenTheClientIsCreated) {
  auto fake = okFake();
  EXPECT_THROW(clientWith(fake, {.batchSize = 0}), std::invalid_argument);
  EXPECT_THROW(clientWith(fake, {.maxBatchBytes = 0}), std::invalid_argument);
  EXPECT_THROW(clientWith(fake, {.maxUrlBytes = 0}), std::invalid_argument);
  EXPECT_THROW(clientWith(fake, {.concurrency = 0}), std::invalid_argument);
  EXPECT_THROW(clientWith(fake, {.retry = {.maxAttempts = 0}}), std::invalid_argument);
  EXPECT_THROW(clientWith(fake, {.retry = {.multiplier = 0.5}}), std::invalid_argument);
  EXPECT_THROW(clientWith(fake, {.retry = {.retryBudget = -1ms}}), std::invalid_argument);
  EXPECT_NO_THROW(clientWith(fake, {.batchSize = 1, .concurrency = 1, .retry = {.maxAttempts = 1}}));
  EXPECT_EQ(fake->count(), 0u);
}

TEST(ClientDefaults, AnInvalidCallValueThrowsWhateverTheDefaults) {
  auto fake = okFake();
  auto client = clientWith(fake, {.batchSize = 10, .maxBatchBytes = 1000, .maxUrlBytes = 1000, .concurrency = 2});
  auto t = client.from("users");
  auto rows = userRows(3);
  std::vector<long long> ids = {1, 2};
  EXPECT_THROW(t.bulkInsert(rows, {.batchSize = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkInsert(rows, {.maxBatchBytes = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkUpsert(rows, {.conflictColumns = {"email"}, .concurrency = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkUpdate(rows, {.matchColumn = "email", .maxUrlBytes = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkDelete(ids, {.maxUrlBytes = 0}), std::invalid_argument);
  EXPECT_THROW(t.bulkDelete(ids, {.retry = {.maxAttempts = 0}}), std::invalid_argument);
  EXPECT_THROW(t.bulkInsert(rows, {.onConflict = OnConflict::Ignore, .conflictColumns = {""}}), std::invalid_argument);
  EXPECT_THROW(t.bulkDelete(ids, {.matchColumn = std::vector<std::string>{}}), std::invalid_argument);
  EXPECT_THROW(t.bulkUpdate(rows, {.matchColumn = "posts.id"}), std::invalid_argument);
  EXPECT_EQ(fake->count(), 0u);
}

// bulkUpdate's Upsert strategy sends exactly what bulkUpsert on the match columns sends.
TEST(SharedRequests, UpdateUpsertStrategyIsBulkUpsertsRequest) {
  std::vector<json> rows = {{{"id", 1}, {"status", "x"}}, {{"id", 2}, {"status", "y"}}};
  for (bool returning : {false, true}) {
    auto a = okFake();
    auto b = okFake();
    fakeClient(a)
        .from("users")
        .header("X-Trace", "1")
        .bulkUpdate(rows, {.returning = returning, .strategy = UpdateStrategy::Upsert, .select = "id,status"});
    fakeClient(b)
        .from("users")
        .header("X-Trace", "1")
        .bulkUpsert(rows, {.conflictColumns = "id", .returning = returning, .select = "id,status"});
    ASSERT_EQ(a->count(), 1u);
    ASSERT_EQ(b->count(), 1u);
    const auto qa = a->requests().at(0);
    const auto qb = b->requests().at(0);
    EXPECT_EQ(qa.method(), qb.method());
    EXPECT_EQ(qa.url(), qb.url());
    EXPECT_EQ(qa.body(), qb.body());
    EXPECT_EQ(qa.request.headers, qb.request.headers);
  }
}

// BulkError is an ErrorInfo: the server's fields and the transport failure, one copy.
TEST(BulkErrorFields, AreTheErrorInfoOfTheFailure) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) {
    return pgError(409, "23505", "duplicate key", "Key (email)=(e0@x.io) already exists.");
  });
  auto client = fakeClient(fake);
  auto rows = userRows(1);
  auto r = client.from("users").bulkInsert(rows);
  ASSERT_EQ(r.errors.size(), 1u);
  const BulkError& e = r.errors[0];
  const ErrorInfo& info = e;
  EXPECT_EQ(info.status, 409);
  EXPECT_EQ(e.code, "23505");
  EXPECT_EQ(e.message, "duplicate key");
  EXPECT_EQ(e.details, "Key (email)=(e0@x.io) already exists.");
  EXPECT_TRUE(e.isHttp());

  auto down = std::make_shared<FakeTransport>(
      [](const HttpRequest&, int) { return transportFailure(TransportErrorKind::Timeout, true); });
  auto r2 = fakeClient(down).from("users").bulkInsert(rows, {.retry = {.maxAttempts = 1}});
  ASSERT_EQ(r2.errors.size(), 1u);
  EXPECT_EQ(r2.errors[0].kind, BulkErrorKind::Transport);
  EXPECT_EQ(r2.errors[0].transport, TransportErrorKind::Timeout);
  EXPECT_TRUE(r2.errors[0].bodySent);
  EXPECT_FALSE(r2.errors[0].isHttp());
  EXPECT_TRUE(r2.errors[0].outcomeUnknown);
}
