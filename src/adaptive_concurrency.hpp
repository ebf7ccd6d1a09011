// SPDX-License-Identifier: MIT
// How many requests a bulk call keeps in flight when the user did not choose (issue #19): a
// latency-based limit in the manner of TCP Vegas and Netflix's concurrency-limits.
//
// Each answered request of a full-size batch is a sample: its latency against the smallest latency
// seen (minimum round trip: the server and the network with no queue) estimates how many of the
// requests in flight when it was sent were waiting in a queue (`queued = inFlight * (1 - min/rtt)`).
//   - few queued (< alpha): the pipe is not full; raise the limit (two more per answer until the
//     first sign of a queue: about 2.5x per round trip; then one per round trip);
//   - many queued (> beta): the server is the bottleneck and more requests only wait; lower it
//     by one per round trip;
//   - overload (429, 503, a statement timeout, a request timeout): halve it at once, and do not
//     raise it again for one round trip. A statement timeout also caps the limit one below the
//     limit it happened at (the database cannot run that many at once: its latency did not say so
//     in time, the timeout did); the cap rises by one every 20 round trips without one, so a
//     server that got faster is found again.
//   - after a statement timeout, its latency is the database's deadline: a full request that
//     took more than half of it is no reason to raise the limit, and a round trip whose full
//     requests all took more than 3/4 of it (near misses) lowers it by one. A database whose
//     statements slow down with each one more at once (a CPU-bound trigger) is then held where
//     they finish in time, instead of probing the cap with timeouts.
// Samples of smaller requests (the last batch, splits) say little about a full one and are left
// out; so are samples sent while fewer requests than the limit were in flight and the queue was
// short (the call could not use the limit: raising it would prove nothing).
//
// It decides how many requests are in flight, never which rows they carry: the engine's
// accounting and ordering are the same at any limit. Pure logic on durations: unit-tested with a
// simulated server (tests/unit/adaptive_concurrency_test.cpp).
#pragma once

#include <chrono>
#include <cstddef>

namespace pgrestify::detail {

class AdaptiveConcurrency {
 public:
  using Duration = std::chrono::steady_clock::duration;

  /// Starts at @p initial, moves between @p floor and @p ceiling (clamped: 1 <= floor <= initial <= ceiling).
  AdaptiveConcurrency(std::size_t initial, std::size_t floor, std::size_t ceiling);

  /// The number of requests that may be in flight now.
  std::size_t limit() const noexcept { return static_cast<std::size_t>(limit_); }

  /// An answered request: its latency, its size in bytes and the requests in flight when it was
  /// sent (itself included). Answers that were overload are given to overload() instead.
  void answered(Duration latency, std::size_t bytes, std::size_t inFlightAtSend);
  /// The server said it is overloaded (429, 503, statement timeout) or a request timed out.
  /// @p statementTimeout: the database cancelled a statement (57014): the limit is capped too.
  /// @p latency: when the cancel was the database's statement timeout, how long the request took
  /// (zero: unknown, or cancelled by hand): how long the database lets a statement run.
  /// @p limitAtSend: the limit when the request was sent (0: unknown); a request sent under a
  /// higher limit than today's was answered for a round trip that has been lowered already.
  void overload(bool statementTimeout = false, std::size_t limitAtSend = 0, Duration latency = Duration::zero());

  /// The smallest latency of a full-size request seen so far (zero before the first).
  Duration minLatency() const noexcept { return minRtt_; }
  /// The smallest latency of a statement timeout seen so far (zero before the first).
  Duration deadline() const noexcept { return deadline_; }

 private:
  double floor_;
  double ceiling_;
  double limit_;
  bool slowStart_ = true;
  Duration minRtt_{0};
  std::size_t fullBytes_ = 0;          // the largest request seen: "full size" is at least half of it
  std::size_t holdAfterOverload_ = 0;  // samples to ignore after a decrease (one round trip)
  double cap_ = 0;                     // > 0: the limit stays at or below it (after a statement timeout)
  double sinceCap_ = 0;                // samples since the cap was set or last raised
  Duration deadline_{0};               // the shortest statement timeout's latency (0: none yet)

  std::size_t roundAnswers_ = 0;  // answers in this round trip
  std::size_t roundSize_;         // its length: the limit when it began
  Duration roundMin_{0};          // its quickest full-size sample (0: none yet)

  void sample(Duration latency, std::size_t bytes, std::size_t inFlightAtSend);
  void newRound();
};

}  // namespace pgrestify::detail
