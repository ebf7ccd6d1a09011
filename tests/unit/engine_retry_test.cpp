// SPDX-License-Identifier: MIT
// When the engine retries a request, end to end through the public bulk calls and a fake transport.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {}  // namespace

// ---------------------------------------------------------------- retries end to end

struct RetryCase {
  const char* label;
  HttpResponse first;
};

TEST(EngineRetry, NotExecutedFailuresAreRetriedForEveryWrite) {
  const std::vector<RetryCase> cases = {
      {"connect", transportFailure(TransportErrorKind::Connect, false)},
      {"reset before body", transportFailure(TransportErrorKind::Reset, false)},
      {"timeout before body", transportFailure(TransportErrorKind::Timeout, false)},
      {"503 PGRST000", pgError(503, "PGRST000")},
      {"503 PGRST001", pgError(503, "PGRST001")},
      {"503 PGRST002", pgError(503, "PGRST002")},
      {"503 08001", pgError(503, "08001")},
      {"503 53300", pgError(503, "53300")},
      {"504 PGRST003", pgError(504, "PGRST003")},
      {"429", status(429)},
      {"500 40001", pgError(500, "40001")},
      {"500 40P01", pgError(500, "40P01")},
  };
  for (const auto& c : cases) {
    auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int attempt) {
      return attempt == 1 ? c.first : created(json::parse(req.body).size());
    });
    auto client = fakeClient(fake);
    auto rows = userRows(4);
    // A plain insert is not idempotent, and still retried: these failures were not executed.
    auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
    SCOPED_TRACE(c.label);
    expectAccounted(r, 4);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.successful, 4u);
    EXPECT_EQ(r.requests, 2u);
    EXPECT_EQ(r.retries, 1u);
    EXPECT_EQ(fake->count(), 2u);
  }
}

TEST(EngineRetry, FinalFailuresAreNotRetried) {
  const std::vector<RetryCase> cases = {
      {"400 23502", pgError(400, "23502")},       {"409 23505", pgError(409, "23505")},
      {"500 XX000", pgError(500, "XX000")},       {"401 42501", pgError(401, "42501")},
      {"403 42501", pgError(403, "42501")},       {"404 {}", status(404, "{}")},
      {"400 PGRST100", pgError(400, "PGRST100")}, {"400 plain", status(400, "Bad Request")},
  };
  for (const auto& c : cases) {
    auto fake = std::make_shared<FakeTransport>([&](const HttpRequest&, int) { return c.first; });
    auto client = fakeClient(fake);
    auto rows = userRows(1);
    auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
    SCOPED_TRACE(c.label);
    expectAccounted(r, 1);
    EXPECT_EQ(fake->count(), 1u);
    EXPECT_EQ(r.retries, 0u);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].kind, BulkErrorKind::Server);
    EXPECT_EQ(r.errors[0].status, c.first.status);
    EXPECT_EQ(r.errors[0].attempts, 1);
    EXPECT_FALSE(r.errors[0].outcomeUnknown);
    EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{0});
  }
}

TEST(EngineRetry, TooLargeOrTooSlowIsSplit) {
  for (const auto& big : {status(413, "Payload Too Large"), pgError(500, "57014")}) {
    auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
      auto n = json::parse(req.body).size();
      return n > 2 ? big : created(n);
    });
    auto client = fakeClient(fake);
    auto rows = userRows(8);
    auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
    SCOPED_TRACE(big.status);
    expectAccounted(r, 8);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.requests, 1u + 2u + 4u);  // 8 -> 4,4 -> 2,2,2,2
  }
  // A single row that is still too large fails.
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return status(413); });
  auto client = fakeClient(fake);
  auto rows = userRows(2);
  auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
  expectAccounted(r, 2);
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(r.requests, 3u);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].status, 413);
}

TEST(EngineRetry, UnknownOutcomeIsNotRetriedForAPlainInsert) {
  for (auto kind : {TransportErrorKind::Timeout, TransportErrorKind::Reset}) {
    auto fake = std::make_shared<FakeTransport>([&](const HttpRequest&, int) { return transportFailure(kind, true); });
    auto client = fakeClient(fake);
    auto rows = userRows(3);
    auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
    SCOPED_TRACE(toString(kind));
    expectAccounted(r, 3);
    EXPECT_EQ(fake->count(), 1u);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].kind, BulkErrorKind::Transport);
    EXPECT_EQ(r.errors[0].transport, kind);
    EXPECT_TRUE(r.errors[0].outcomeUnknown);
    EXPECT_EQ(r.errors[0].attempts, 1);
    EXPECT_EQ(r.errors[0].indexes, (std::vector<std::size_t>{0, 1, 2}));
    EXPECT_EQ(r.failed, 3u);
  }
  // A proxy's 502 after sending is just as unknown.
  auto fake =
      std::make_shared<FakeTransport>([](const HttpRequest&, int) { return status(502, "<html>bad gateway</html>"); });
  auto client = fakeClient(fake);
  auto rows = userRows(1);
  auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});
  EXPECT_EQ(fake->count(), 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
  EXPECT_EQ(r.errors[0].status, 502);
}

TEST(EngineRetry, UnknownOutcomeIsRetriedForIdempotentWrites) {
  auto unknownOnce = [](const HttpRequest& req, int attempt) -> HttpResponse {
    if (attempt == 1) return transportFailure(TransportErrorKind::Timeout, true);
    if (req.method == "POST") return created(json::parse(req.body).size());
    return status(200, R"([{"id":1},{"id":2}])", {{"Content-Range", "0-1/2"}});
  };
  auto rows = userRows(2);
  std::vector<json> keyed = {{{"id", 1}, {"status", "x"}}, {{"id", 2}, {"status", "x"}}};
  std::vector<long long> ids = {1, 2};
  auto check = [&](const char* label, auto run) {
    auto fake = std::make_shared<FakeTransport>(unknownOnce);
    auto client = fakeClient(fake);
    auto r = run(client);
    SCOPED_TRACE(label);
    expectAccounted(r, 2);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].message);
    EXPECT_EQ(fake->count(), 2u);
    EXPECT_EQ(r.retries, 1u);
  };
  check("insert ignore", [&](Client& c) {
    return c.from("users").bulkInsert(
        rows, {.onConflict = OnConflict::Ignore, .conflictColumns = {"email"}, .retry = fastRetry()});
  });
  check("insert update", [&](Client& c) {
    return c.from("users").bulkInsert(
        rows, {.onConflict = OnConflict::Update, .conflictColumns = {"email"}, .retry = fastRetry()});
  });
  check("upsert", [&](Client& c) {
    return c.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .retry = fastRetry()});
  });
  check("update grouped", [&](Client& c) { return c.from("users").bulkUpdate(keyed, {.retry = fastRetry()}); });
  check("update upsert", [&](Client& c) {
    return c.from("users").bulkUpdate(keyed, {.strategy = UpdateStrategy::Upsert, .retry = fastRetry()});
  });
  check("delete", [&](Client& c) { return c.from("users").bulkDelete(ids, {.retry = fastRetry()}); });

  // Turned off: reported as unknown after one attempt.
  auto fake = std::make_shared<FakeTransport>(unknownOnce);
  auto client = fakeClient(fake);
  RetryPolicy noUnknown = fastRetry();
  noUnknown.retryUnknownOutcome = false;
  auto r = client.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .retry = noUnknown});
  EXPECT_EQ(fake->count(), 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
}

TEST(EngineRetry, AttemptCapIsRespectedAndReported) {
  for (int cap : {1, 3}) {
    auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return pgError(503, "PGRST000"); });
    auto client = fakeClient(fake);
    auto rows = userRows(5);
    auto r = client.from("users").bulkInsert(rows, {.batchSize = 5, .retry = fastRetry(cap)});
    SCOPED_TRACE(cap);
    expectAccounted(r, 5);
    EXPECT_EQ(fake->count(), static_cast<std::size_t>(cap));
    EXPECT_EQ(r.requests, static_cast<std::size_t>(cap));
    EXPECT_EQ(r.retries, static_cast<std::size_t>(cap - 1));
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].attempts, cap);
    EXPECT_EQ(r.errors[0].status, 503);
    EXPECT_EQ(r.errors[0].code, "PGRST000");
    EXPECT_FALSE(r.errors[0].outcomeUnknown);
    EXPECT_EQ(r.failed, 5u);
  }
  // Unknown outcome every time: the cap applies, and the result says the rows may be written.
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest&, int) { return transportFailure(TransportErrorKind::Reset, true); });
  auto client = fakeClient(fake);
  auto rows = userRows(2);
  auto r = client.from("users").bulkUpsert(rows, {.conflictColumns = {"email"}, .retry = fastRetry(2)});
  EXPECT_EQ(fake->count(), 2u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].attempts, 2);
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
}

TEST(EngineRetry, RetryAfterIsHonoured) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int attempt) {
    if (attempt == 1) return pgError(503, "PGRST000", "Database connection error", {}, {{"Retry-After", "1"}});
    return created(json::parse(req.body).size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(2);
  auto r = client.from("users").bulkInsert(rows, {.retry = fastRetry()});  // backoff alone would be ~1 ms
  EXPECT_TRUE(r.ok());
  auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 2u);
  ASSERT_TRUE(reqs[0].finishedAt.has_value());
  EXPECT_GE(reqs[1].startedAt - *reqs[0].finishedAt, 1000ms) << "retried before Retry-After elapsed";
}

namespace {

// @p n rows through @p fake, one row per batch and one batch at a time, with maxAttempts 2 and a
// call-wide retryBudget of @p budget (the outage-budget tests below).
BulkResult<json> insertOneAtATime(const std::shared_ptr<FakeTransport>& fake, std::size_t n,
                                  std::chrono::milliseconds budget) {
  auto client = fakeClient(fake);
  auto rows = userRows(n);
  RetryPolicy p = fastRetry(2);
  p.retryBudget = budget;
  return client.from("users").bulkInsert(rows, {.batchSize = 1, .concurrency = 1, .retry = p});
}

}  // namespace

// retryBudget is the call's: once an outage has outlasted it, a batch sent afterwards makes its
// maxAttempts and no more (before, each batch got a budget of its own, and a large import against
// a server that was gone took retryBudget per batch).
TEST(EngineRetry, AnOutageLongerThanTheBudgetEndsTheCallNotEachBatchAfterIt) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return pgError(503, "PGRST001"); });
  auto r = insertOneAtATime(fake, 40, 200ms);
  expectAccounted(r, 40);
  EXPECT_EQ(r.failed, 40u);
  ASSERT_EQ(r.errors.size(), 40u);
  EXPECT_GT(r.errors.front().attempts, 2) << "the first batch rides out the budget";
  for (std::size_t i = 1; i < r.errors.size(); ++i) {
    if (r.errors[i].attempts > 2) ADD_FAILURE() << "batch " << i << " made " << r.errors[i].attempts << " attempts";
  }
}

TEST(EngineRetry, AnAnswerFromTheServerEndsTheOutage) {
  // Every batch first meets three 503s (a few ms), then is written by a slow server (60 ms): each
  // outage is short, the call (6 x 60 ms) is longer than the 150 ms budget.
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int attempt) {
    if (attempt <= 3) return pgError(503, "PGRST001");
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    return created(nlohmann::json::parse(req.body).size());
  });
  auto r = insertOneAtATime(fake, 6, 150ms);
  expectAccounted(r, 6);
  EXPECT_EQ(r.successful, 6u) << "each run of 503s is an outage of its own, well within the budget";
  EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors.front().message);
}
