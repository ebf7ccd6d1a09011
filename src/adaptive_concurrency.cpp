// SPDX-License-Identifier: MIT
#include "adaptive_concurrency.hpp"

#include <algorithm>
#include <cmath>

namespace pgrestify::detail {

AdaptiveConcurrency::AdaptiveConcurrency(std::size_t initial, std::size_t floor, std::size_t ceiling)
    : floor_(static_cast<double>(std::max<std::size_t>(floor, 1))),
      ceiling_(std::max(floor_, static_cast<double>(ceiling))),
      limit_(std::clamp(static_cast<double>(initial), floor_, ceiling_)),
      roundSize_(static_cast<std::size_t>(limit_)) {}

void AdaptiveConcurrency::answered(Duration latency, std::size_t bytes, std::size_t inFlightAtSend) {
  const bool roundDone = ++roundAnswers_ >= roundSize_;
  sample(latency, bytes, inFlightAtSend);
  if (!roundDone) return;
  // Near misses: even the quickest full request of the round trip took 3/4 of the database's
  // deadline (one slow answer is noise; all of them slow is the limit).
  if (deadline_ > Duration::zero() && roundMin_ > Duration::zero() && roundMin_ * 4 > deadline_ * 3) {
    limit_ = std::max(floor_, limit_ - 1);
  }
  newRound();
}

void AdaptiveConcurrency::newRound() {
  roundMin_ = Duration::zero();
  roundAnswers_ = 0;
  roundSize_ = std::max<std::size_t>(1, static_cast<std::size_t>(limit_));
}

void AdaptiveConcurrency::sample(Duration latency, std::size_t bytes, std::size_t inFlightAtSend) {
  if (latency <= Duration::zero()) latency = Duration(1);
  fullBytes_ = std::max(fullBytes_, bytes);
  if (bytes * 2 < fullBytes_) return;  // a small request: its latency says little of a full one
  if (minRtt_ == Duration::zero() || latency < minRtt_) minRtt_ = latency;
  if (holdAfterOverload_ > 0) {
    --holdAfterOverload_;
    return;
  }
  if (cap_ > 0 && ++sinceCap_ >= 20 * limit_) {  // 20 round trips without a statement timeout
    cap_ += 1;
    sinceCap_ = 0;
    if (cap_ >= ceiling_) cap_ = 0;
  }
  if (roundMin_ == Duration::zero() || latency < roundMin_) roundMin_ = latency;
  if (deadline_ > Duration::zero() && latency * 2 > deadline_) {  // no room for one more
    slowStart_ = false;
    return;
  }
  const double rtt = static_cast<double>(latency.count());
  const double queued = static_cast<double>(inFlightAtSend) * (1.0 - static_cast<double>(minRtt_.count()) / rtt);
  // Thresholds grow slowly with the limit (Netflix's Vegas limit: 3 and 6 times log10). A bulk
  // load wants throughput more than short queues, and a server far away needs a queue to stay busy
  // between the waves of answers: 5 and 10 (measured, docs/benchmarks.md "Adaptive concurrency").
  const double scale = std::max(1.0, std::log10(limit_));
  const double alpha = 5 * scale;
  const double beta = 10 * scale;
  if (queued > beta) {
    slowStart_ = false;
    limit_ = std::max(floor_, limit_ - 1.0 / limit_);  // one less per round trip
  } else if (queued < alpha) {
    // Only when the limit was used: a call that kept fewer requests in flight (the end of its
    // input, batches waiting for earlier ones) proves nothing about a higher one.
    if (static_cast<double>(inFlightAtSend) * 2 < limit_) return;
    // Slow start: two more per answer until the first queue; a call of 100 batches 50 ms away is
    // over in a few round trips. With the rule above (never past twice what was in flight, plus
    // two) a round trip grows the limit about 2.5x: 4, 10, 22, 32.
    limit_ = std::min(cap_ > 0 ? cap_ : ceiling_, limit_ + (slowStart_ ? 2.0 : 1.0 / limit_));
  } else {
    slowStart_ = false;
  }
}

void AdaptiveConcurrency::overload(bool statementTimeout, std::size_t limitAtSend, Duration latency) {
  if (statementTimeout && latency > Duration::zero() && (deadline_ == Duration::zero() || latency < deadline_)) {
    deadline_ = latency;
  }
  if (limitAtSend > static_cast<std::size_t>(limit_)) return;  // sent before the last decrease
  if (holdAfterOverload_ > 0) {
    --holdAfterOverload_;  // the requests of the round trip that was already halved
    return;
  }
  slowStart_ = false;
  newRound();
  const double before = std::floor(limit_);
  limit_ = std::max(floor_, std::floor(limit_ / 2));
  if (statementTimeout) {
    // One below the limit the timed-out request was sent under (the limit may have grown since).
    const double at = limitAtSend > 0 ? std::min(before, static_cast<double>(limitAtSend)) : before;
    cap_ = std::max(floor_, at - 1);
    sinceCap_ = 0;
    limit_ = std::min(limit_, cap_);
  }
  holdAfterOverload_ = static_cast<std::size_t>(limit_);
}

}  // namespace pgrestify::detail
