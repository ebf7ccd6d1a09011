// SPDX-License-Identifier: MIT
// The adaptive concurrency limit (src/adaptive_concurrency.hpp) against a simulated server: C
// requests run at once, each takes S of server time, and the network adds D to every round trip.
// With n requests in flight (a closed system) the throughput is min(n / (D + S), C / S): the pipe
// is full from n = C * (D + S) / S on; each request then waits n * S / C, more than D + S.
#include "adaptive_concurrency.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

using namespace std::chrono_literals;
using pgrestify::detail::AdaptiveConcurrency;

namespace {

constexpr std::size_t kFull = 1'000'000;  // bytes of a full batch

struct SimulatedServer {
  std::chrono::microseconds networkRoundTrip;
  std::chrono::microseconds serviceTime;
  std::size_t slots;

  std::chrono::microseconds latency(std::size_t inFlight) const {
    const double n = static_cast<double>(inFlight);
    const double s = static_cast<double>(serviceTime.count());
    const double roundTrip = static_cast<double>((networkRoundTrip + serviceTime).count());
    const double queued = n * s / static_cast<double>(slots);  // the server's share when it is the bottleneck
    return std::chrono::microseconds(static_cast<long long>(std::max(roundTrip, queued)));
  }
};

// @p rounds round trips, each with the limit's requests in flight.
void drive(AdaptiveConcurrency& a, const SimulatedServer& server, int rounds) {
  for (int r = 0; r < rounds; ++r) {
    const std::size_t n = a.limit();
    for (std::size_t i = 0; i < n; ++i) a.answered(server.latency(n), kFull, n);
  }
}

}  // namespace

// 20 ms away from a server with 2 slots and 4 ms per batch, 12 requests in flight fill the pipe;
// the fixed default of 4 keeps it a third full. The limit climbs to at least 12 within a few
// round trips (a 100-batch import has about 25 at the start value).
TEST(AdaptiveConcurrency, DistantServerRaisesTheLimitUntilThePipeIsFull) {
  AdaptiveConcurrency a(4, 1, 64);
  const SimulatedServer server{20ms, 4ms, 2};
  drive(a, server, 5);
  EXPECT_GE(a.limit(), 12u);
  drive(a, server, 100);
  EXPECT_GE(a.limit(), 12u);
  EXPECT_LE(a.limit(), 30u) << "no more than the queue thresholds above what fills the pipe";
}

TEST(AdaptiveConcurrency, TheCeilingIsNeverPassed) {
  AdaptiveConcurrency a(4, 1, 16);
  drive(a, {50ms, 4ms, 2}, 50);
  EXPECT_EQ(a.limit(), 16u);
}

// On loopback the server is the bottleneck from 2 requests on: more requests only queue. The
// limit stays a few above the server's slots (the queue thresholds: 5 requests to rise, 10 times
// log10 of the limit to fall), and comes down from a high start.
TEST(AdaptiveConcurrency, SaturatedServerKeepsTheLimitNearItsCapacity) {
  const SimulatedServer loopback{200us, 4ms, 2};
  AdaptiveConcurrency a(4, 1, 64);
  drive(a, loopback, 200);
  EXPECT_GE(a.limit(), 2u);
  EXPECT_LE(a.limit(), 10u);

  AdaptiveConcurrency high(40, 1, 64);
  high.answered(loopback.latency(1), kFull, 1);  // one quiet request: the true minimum
  drive(high, loopback, 300);
  EXPECT_LE(high.limit(), 14u) << "a queue of 30+ requests is brought down to the fall threshold";
}

TEST(AdaptiveConcurrency, OverloadHalvesOncePerRoundTrip) {
  AdaptiveConcurrency a(16, 1, 64);
  a.overload();
  EXPECT_EQ(a.limit(), 8u);
  for (int i = 0; i < 8; ++i) a.overload();  // the next round trip's worth of 503s (the new limit)
  EXPECT_EQ(a.limit(), 8u);
  a.overload();
  EXPECT_EQ(a.limit(), 4u);
  for (int i = 0; i < 20; ++i) a.overload();
  EXPECT_EQ(a.limit(), 1u) << "never below the floor";
}

// A database that cancels statements when more than a few run at once, while the latency of the
// ones that finish shows no queue (the bench's "overload" profile): a limit that halved on the
// timeout would climb straight back into it. A statement timeout caps the limit one below where it
// happened; the cap rises again, slowly, when no timeout follows. A 503 (no replica up) says
// nothing about how many requests the database runs at once and sets no cap.
TEST(AdaptiveConcurrency, AStatementTimeoutCapsTheLimitBelowWhereItHappened) {
  const SimulatedServer quiet{50ms, 1ms, 64};  // no queue in sight at any limit used here
  AdaptiveConcurrency a(8, 1, 64);
  a.overload(true);  // at 8
  EXPECT_EQ(a.limit(), 4u);
  drive(a, quiet, 10);
  EXPECT_EQ(a.limit(), 7u) << "back up to one below the limit that timed out, not beyond";
  drive(a, quiet, 30);
  EXPECT_GT(a.limit(), 7u) << "20 round trips without a timeout raise the cap";

  a.overload(true, 64);  // a timeout of a request sent under a higher limit: already counted
  EXPECT_GT(a.limit(), 7u);

  AdaptiveConcurrency b(8, 1, 64);
  b.overload(false);  // a 503 at 8
  EXPECT_EQ(b.limit(), 4u);
  drive(b, quiet, 10);
  EXPECT_GT(b.limit(), 8u) << "a 503 sets no cap";
}

namespace {

// Round trips against a database that cancels every statement running longer than @p deadline;
// returns the statement timeouts met.
int driveWithDeadline(AdaptiveConcurrency& a, const SimulatedServer& server, std::chrono::microseconds deadline,
                      int rounds) {
  int timeouts = 0;
  for (int r = 0; r < rounds; ++r) {
    const std::size_t n = a.limit();
    const auto latency = server.latency(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (latency >= deadline) {
        a.overload(true, n, deadline);
        ++timeouts;
      } else {
        a.answered(latency, kFull, n);
      }
    }
  }
  return timeouts;
}

}  // namespace

// A CPU-bound trigger on 2 cores: each statement takes 240 ms alone, n at once take 120 ms * n, and
// the database cancels statements after 400 ms. The start (4) times out; after it the limit stays
// where statements finish well inside the deadline (2), and neither the cap's slow rise nor a
// queue estimate that sees "no queue" (the minimum is 240 ms) takes it back into timeouts.
TEST(AdaptiveConcurrency, AfterAStatementTimeoutStatementsAreKeptInsideTheDeadline) {
  const SimulatedServer cpuBound{0ms, 240ms, 2};
  AdaptiveConcurrency a(4, 1, 64);
  EXPECT_EQ(driveWithDeadline(a, cpuBound, 400ms, 1), 4) << "the first round trip, at 4";
  EXPECT_EQ(a.deadline(), std::chrono::duration_cast<AdaptiveConcurrency::Duration>(400ms));
  EXPECT_EQ(driveWithDeadline(a, cpuBound, 400ms, 300), 0) << "300 round trips later";
  EXPECT_EQ(a.limit(), 2u);

  // A timeout learnt from a request of an earlier, higher limit: the deadline, but no halving.
  // Answers in 9/10 of it (near misses) lower the limit; in 6/10 of it hold it; without a
  // deadline the same answers (no queue behind the minimum) would raise it.
  AdaptiveConcurrency near(3, 1, 64), room(3, 1, 64), unknown(3, 1, 64);
  near.overload(true, 8, 400ms);
  room.overload(true, 8, 400ms);
  ASSERT_EQ(near.limit(), 3u);
  for (int i = 0; i < 3; ++i) near.answered(360ms, kFull, 3);
  EXPECT_LT(near.limit(), 3u);
  for (int i = 0; i < 30; ++i) room.answered(240ms, kFull, 3);
  EXPECT_EQ(room.limit(), 3u);
  for (int i = 0; i < 30; ++i) unknown.answered(240ms, kFull, 3);
  EXPECT_GT(unknown.limit(), 3u);

  AdaptiveConcurrency cancelled(4, 1, 64);
  cancelled.overload(true, 4);  // a statement cancelled by hand: capped, but no deadline
  EXPECT_EQ(cancelled.deadline(), AdaptiveConcurrency::Duration::zero());
}

TEST(AdaptiveConcurrency, AnswersRightAfterAnOverloadDoNotRaiseItAgain) {
  AdaptiveConcurrency a(16, 1, 64);
  a.answered(10ms, kFull, 1);
  a.overload();
  ASSERT_EQ(a.limit(), 8u);
  for (int i = 0; i < 8; ++i) a.answered(10ms, kFull, 8);  // the round trip in flight at the overload
  EXPECT_EQ(a.limit(), 8u);
  a.answered(10ms, kFull, 8);  // then: no queue, the limit grows again (by one per round trip)
  EXPECT_GT(a.limit() + 1, 8u);
}

TEST(AdaptiveConcurrency, SmallRequestsAreNotSamples) {
  AdaptiveConcurrency a(4, 1, 64);
  for (int i = 0; i < 4; ++i) a.answered(20ms, kFull, 4);  // a round trip: the limit grows
  const auto before = a.limit();
  ASSERT_GT(before, 4u);
  for (int i = 0; i < 50; ++i) a.answered(1ms, kFull / 10, 4);  // splits, the last batch
  EXPECT_EQ(a.limit(), before);
  EXPECT_EQ(a.minLatency(), std::chrono::duration_cast<AdaptiveConcurrency::Duration>(20ms));
}

TEST(AdaptiveConcurrency, AnUnusedLimitIsNotRaised) {
  AdaptiveConcurrency a(8, 1, 64);
  for (int i = 0; i < 50; ++i) a.answered(20ms, kFull, 2);  // the call kept only 2 in flight
  EXPECT_EQ(a.limit(), 8u);
}

TEST(AdaptiveConcurrency, StartIsClampedBetweenFloorAndCeiling) {
  EXPECT_EQ(AdaptiveConcurrency(100, 1, 16).limit(), 16u);
  EXPECT_EQ(AdaptiveConcurrency(0, 0, 16).limit(), 1u);
  EXPECT_EQ(AdaptiveConcurrency(4, 6, 3).limit(), 6u) << "a ceiling below the floor is the floor";
}

// ---------------------------------------------------------------- in the engine (fake transport)

namespace {

std::vector<std::size_t> concurrencyOfEachRequest(std::optional<std::size_t> concurrency,
                                                  std::vector<std::size_t>& progress) {
  using namespace pgrestify;
  using namespace pgrestify::test;
  // Every batch is refused once with 503 (PostgREST without a database connection), then written.
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int attempt) {
    if (attempt == 1) return pgError(503, "PGRST001");
    return created(nlohmann::json::parse(req.body).size());
  });
  std::vector<std::size_t> perRequest;
  auto client = fakeClient(fake, {.onRequest = [&](const RequestEvent& e) { perRequest.push_back(e.concurrency); }});
  auto rows = userRows(60);
  BulkInsertOptions o{.batchSize = 2, .retry = fastRetry(), .onProgress = [&](const BulkProgress& p) {
                        progress.push_back(p.concurrency);
                      }};
  o.concurrency = concurrency;
  auto r = client.from("users").bulkInsert(rows, o);
  expectAccounted(r, 60);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.successful, 60u);
  EXPECT_LE(fake->maxInFlightSeen(), 4u) << "never above the starting limit when every first answer is overload";
  return perRequest;
}

}  // namespace

TEST(AdaptiveConcurrencyEngine, OverloadLowersALimitLeftToTheLibrary) {
  std::vector<std::size_t> progress;
  auto perRequest = concurrencyOfEachRequest(std::nullopt, progress);
  ASSERT_FALSE(perRequest.empty());
  EXPECT_EQ(perRequest.front(), 4u) << "starts at kDefaultConcurrency";
  EXPECT_EQ(*std::min_element(perRequest.begin(), perRequest.end()), 1u) << "halved down to the floor";
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(*std::min_element(progress.begin(), progress.end()), 1u);
}

TEST(AdaptiveConcurrencyEngine, AChosenConcurrencyIsKept) {
  std::vector<std::size_t> progress;
  auto perRequest = concurrencyOfEachRequest(4, progress);
  for (auto c : perRequest) EXPECT_EQ(c, 4u);
  for (auto c : progress) EXPECT_EQ(c, 4u);
}
