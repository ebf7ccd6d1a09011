// SPDX-License-Identifier: MIT
// The engine's scheduling end to end through the public bulk calls and a fake transport:
// concurrency, progress and batch reports, cancellation and the deadline.
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

// ---------------------------------------------------------------- concurrency, progress, batches

TEST(EngineConcurrency, NeverMoreThanConcurrencyInFlight) {
  for (std::size_t concurrency : {1u, 3u, 8u}) {
    auto fake = std::make_shared<FakeTransport>(
        [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
    fake->setMaxInFlightAllowed(concurrency);
    auto client = fakeClient(fake);
    auto rows = userRows(60);
    auto r = client.from("users").bulkInsert(rows, {.batchSize = 2, .concurrency = concurrency});
    SCOPED_TRACE(concurrency);
    expectAccounted(r, 60);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(fake->violations(), 0u);
    EXPECT_EQ(fake->maxInFlightSeen(), concurrency) << "the engine keeps the slots busy";
    EXPECT_EQ(fake->sessionsOpened(), 1u);
  }
}

TEST(EngineConcurrency, ProgressAndBatchReports) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int attempt) {
    if (attempt == 1 && req.body.find("e7@") != std::string::npos) return pgError(503, "PGRST001");
    return created(json::parse(req.body).size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(41);
  std::vector<BulkProgress> progress;
  std::vector<BatchReport> batches;
  auto r =
      client.from("users").bulkInsert(rows, {.batchSize = 4,
                                             .concurrency = 3,
                                             .retry = fastRetry(),
                                             .onProgress = [&](const BulkProgress& p) { progress.push_back(p); },
                                             .onBatchComplete = [&](const BatchReport& b) { batches.push_back(b); }});
  expectAccounted(r, 41);
  EXPECT_TRUE(r.ok());
  ASSERT_FALSE(progress.empty());
  for (std::size_t i = 1; i < progress.size(); ++i) {
    EXPECT_GE(progress[i].processed, progress[i - 1].processed);
    EXPECT_GE(progress[i].requests, progress[i - 1].requests);
    EXPECT_GE(progress[i].batchesDone, progress[i - 1].batchesDone);
  }
  EXPECT_EQ(progress.back().processed, 41u);
  EXPECT_EQ(progress.back().total, std::optional<std::size_t>(41));
  EXPECT_EQ(progress.back().successful, 41u);
  EXPECT_EQ(progress.back().batchesDone, 11u);
  EXPECT_EQ(progress.back().retries, 1u);
  EXPECT_EQ(progress.back().requests, 12u);
  ASSERT_EQ(batches.size(), 11u);
  std::set<std::size_t> indexes;
  std::size_t rowsReported = 0, requests = 0;
  for (const auto& b : batches) {
    indexes.insert(b.batchIndex);
    rowsReported += b.rows;
    requests += b.requests;
    EXPECT_EQ(b.rows, b.successful + b.skipped + b.failed);
  }
  EXPECT_EQ(indexes.size(), 11u);
  EXPECT_EQ(*indexes.rbegin(), 10u);
  EXPECT_EQ(rowsReported, 41u);
  EXPECT_EQ(requests, 12u);
}

TEST(EngineConcurrency, BatchReportsNameTheErrorsOfTheirFailedRows) {
  // Row 5's email is taken: its batch (rows 4-7) is isolated down to it; the report of that batch
  // carries the error naming row 5 (what a caller needs to record the failure at once), the others none.
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    if (req.body.find("\"e5@") != std::string::npos) return pgError(409, "23505");
    return created(json::parse(req.body).size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(12);
  std::vector<BatchReport> batches;
  auto r = client.from("users").bulkInsert(
      rows, {.batchSize = 4, .concurrency = 2, .onBatchComplete = [&](const BatchReport& b) { batches.push_back(b); }});
  expectAccounted(r, 12);
  ASSERT_EQ(r.failed, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  ASSERT_EQ(batches.size(), 3u);
  std::size_t named = 0;
  for (const auto& b : batches) {
    SCOPED_TRACE(b.batchIndex);
    std::size_t failedRows = 0;
    for (const auto& e : b.errors) {
      failedRows += e.indexes.size();
      EXPECT_EQ(e.code, "23505");
      EXPECT_EQ(e.indexes, std::vector<std::size_t>{5});
    }
    EXPECT_EQ(failedRows, b.failed);
    named += failedRows;
  }
  EXPECT_EQ(named, 1u);
}

TEST(EngineConcurrency, ProgressReachesTheTotalWhenEveryRowIsInvalid) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = fakeClient(fake);
  std::vector<json> rows = {json(1), json("x"), json::array()};
  std::vector<BulkProgress> progress;
  auto r = client.from("t").bulkInsert(rows, {.onProgress = [&](const BulkProgress& p) { progress.push_back(p); }});
  expectAccounted(r, 3);
  EXPECT_EQ(fake->count(), 0u);
  EXPECT_EQ(r.failed, 3u);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().processed, 3u);
}

TEST(EngineConcurrency, StopTokenFinishesInFlightAndLeavesTheRest) {
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto client = fakeClient(fake);
  auto rows = userRows(100);
  std::stop_source stop;
  std::size_t reports = 0;
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 5,
                                                  .concurrency = 3,
                                                  .onBatchComplete =
                                                      [&](const BatchReport&) {
                                                        if (++reports == 4) stop.request_stop();
                                                      },
                                                  .stopToken = stop.get_token()});
  expectAccounted(r, 100);
  EXPECT_TRUE(r.cancelled);
  EXPECT_GT(r.notProcessed, 0u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.errors.empty());
  auto reqs = fake->requests();
  std::size_t sentRows = 0;
  for (const auto& q : reqs) {
    EXPECT_TRUE(q.finishedAt.has_value()) << "a started request was abandoned";
    sentRows += rowsIn(q);
  }
  EXPECT_EQ(r.successful, sentRows) << "every started batch is finished and counted";
  EXPECT_LE(reqs.size(), 4u + 3u) << "no new batch after the stop (4 done + at most 3 in flight)";
  EXPECT_EQ(reports, reqs.size());
}

TEST(EngineConcurrency, StopRequestedBeforeTheCallSendsNothing) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = fakeClient(fake);
  auto rows = userRows(10);
  std::stop_source stop;
  stop.request_stop();
  auto r = client.from("users").bulkInsert(rows, {.stopToken = stop.get_token()});
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(fake->count(), 0u);
  EXPECT_EQ(r.notProcessed, 10u);
  expectAccounted(r, 10);
}

TEST(EngineConcurrency, DeadlineFinishesInFlightAndLeavesTheRest) {
  const auto deadline = Clock::now() + 150ms;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    // The third request is answered only after the deadline.
    if (req.body.find("\"e10@x.io\"") != std::string::npos) std::this_thread::sleep_until(deadline + 20ms);
    return created(json::parse(req.body).size());
  });
  fake->setOrdered(true);
  auto client = fakeClient(fake);
  auto rows = userRows(50);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 5, .concurrency = 1, .deadline = deadline});
  expectAccounted(r, 50);
  EXPECT_TRUE(r.cancelled);
  auto reqs = fake->requests();
  EXPECT_LE(reqs.size(), 3u);
  std::size_t sentRows = 0;
  for (const auto& q : reqs) sentRows += rowsIn(q);
  EXPECT_EQ(r.successful, sentRows);
  EXPECT_EQ(r.notProcessed, 50u - sentRows);
}

TEST(EngineConcurrency, RetryableFailureAfterTheStopIsNotProcessed) {
  // Batches 0 and 1 are in flight; batch 0 succeeds and the stop is requested; batch 1 is answered
  // 503 (not executed) after the stop: its rows were never written, so they are not processed
  // (not failed) and they are not sent again.
  std::stop_source stop;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    if (req.body.find("\"e0@x.io\"") != std::string::npos) {
      stop.request_stop();
      return created(5);
    }
    return pgError(503, "PGRST000");
  });
  fake->setOrdered(true);
  auto client = fakeClient(fake);
  auto rows = userRows(20);
  auto r = client.from("users").bulkInsert(
      rows, {.batchSize = 5, .concurrency = 2, .retry = fastRetry(), .stopToken = stop.get_token()});
  expectAccounted(r, 20);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.successful, 5u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.notProcessed, 15u);
  EXPECT_EQ(fake->count(), 2u);
}
