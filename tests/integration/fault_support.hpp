// SPDX-License-Identifier: MIT
// Helpers of the fault and bad-input tests: the row-accounting invariant checked against the
// table contents, a background fault trigger, a guard that brings the servers back, and a
// recording fake transport.
#pragma once

#include "test_env.hpp"

#include <pgrestify/pgrestify.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace pgrestify::test::fault {

/// The natural key of input row @p i: "row<i>@x".
inline std::string rowKey(std::size_t i) { return "row" + std::to_string(i) + "@x"; }

/// How many times each input row's key is in `api.<table>.<column>` (keys "row<i>@x", i < n).
inline std::vector<int> presence(const std::string& table, const std::string& column, std::size_t n) {
  std::vector<int> counts(n, 0);
  std::string out = sql("select " + column + " from api." + table + " where " + column + " like 'row%@x'");
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 6) continue;
    std::size_t i = std::stoul(line.substr(3, line.size() - 5));
    if (i < n) ++counts[i];
  }
  return counts;
}

/// What the invariant check saw.
struct Ledger {
  std::size_t inTable = 0;         ///< rows present once and not failed
  std::size_t failedAbsent = 0;    ///< failed rows not in the table
  std::size_t unknownPresent = 0;  ///< failed with outcomeUnknown, yet committed
  std::size_t unknownAbsent = 0;   ///< failed with outcomeUnknown, not committed
  std::size_t unaccounted = 0;     ///< neither in the table nor in errors (must equal notProcessed)
  std::string summary() const {
    return "inTable=" + std::to_string(inTable) + " failedAbsent=" + std::to_string(failedAbsent) +
           " unknownPresent=" + std::to_string(unknownPresent) + " unknownAbsent=" + std::to_string(unknownAbsent) +
           " unaccounted=" + std::to_string(unaccounted);
  }
};

/// The invariant of docs/reliability.md: after a bulk call, every input row is exactly one of
/// (a) in the table once (successful or skipped), (b) in `errors` with its index (and when it is
/// nevertheless in the table, the error says outcomeUnknown), (c) counted in notProcessed.
/// No duplicates, no silent loss, counters consistent with the table.
template <class T>
Ledger checkInvariant(const BulkResult<T>& r, const std::vector<int>& counts) {
  Ledger l;
  const std::size_t n = counts.size();
  EXPECT_EQ(r.count, r.successful + r.skipped + r.failed);
  EXPECT_EQ(r.count + r.notProcessed, n) << "every input row is processed or counted as not processed";
  std::map<std::size_t, const BulkError*> failed;
  std::size_t indexes = 0;
  for (const auto& e : r.errors) {
    for (std::size_t i : e.indexes) {
      ++indexes;
      EXPECT_LT(i, n);
      EXPECT_TRUE(failed.emplace(i, &e).second) << "row " << i << " is in more than one error";
    }
  }
  EXPECT_EQ(indexes, r.failed) << "failed counts the rows listed in errors";
  std::size_t reported = 0;
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_LE(counts[i], 1) << "row " << i << " is in the table " << counts[i] << " times (duplicated by a retry)";
    auto it = failed.find(i);
    if (it == failed.end()) {
      if (counts[i] >= 1) {
        ++l.inTable;
      } else {
        ++l.unaccounted;
      }
      continue;
    }
    const BulkError& e = *it->second;
    if (counts[i] >= 1) {
      if (e.outcomeUnknown) {
        ++l.unknownPresent;
      } else if (reported++ < 5) {
        ADD_FAILURE() << "row " << i << " is in the table but reported failed without outcomeUnknown: status "
                      << e.status << " code " << e.code << " transport " << toString(e.transport) << ": " << e.message;
      }
    } else {
      ++(e.outcomeUnknown ? l.unknownAbsent : l.failedAbsent);
    }
  }
  EXPECT_EQ(reported, 0u) << "rows in the table although reported as definitely failed";
  EXPECT_EQ(l.unaccounted, r.notProcessed) << "rows silently lost";
  EXPECT_EQ(l.inTable, r.successful + r.skipped) << "successful+skipped match the rows in the table";
  return l;
}

/// A server outage begun from a progress callback. `begin()` stops the server (`postgrest` or
/// `postgres`) on the calling thread, so the import is certainly mid-way when it happens and its
/// next request certainly meets the outage; a background thread starts the server again after
/// @p downFor. (Restarting the server from a background thread instead raced the import: on a
/// slow machine the import could finish before the restart, and then nothing was tested.)
class Outage {
 public:
  Outage(std::string server, std::chrono::milliseconds downFor) : server_(std::move(server)), downFor_(downFor) {}
  Outage(const Outage&) = delete;
  Outage& operator=(const Outage&) = delete;
  ~Outage() { end(); }
  void begin() {
    if (begun_.exchange(true)) return;
    EXPECT_EQ(testenv("stop-" + server_), 0);
    thread_ = std::thread([this] {
      std::this_thread::sleep_for(downFor_);
      EXPECT_EQ(testenv("start-" + server_), 0);
    });
  }
  /// Waits until the server was started again.
  void end() {
    if (thread_.joinable()) thread_.join();
  }
  bool begun() const { return begun_.load(); }

 private:
  std::string server_;
  std::chrono::milliseconds downFor_;
  std::atomic<bool> begun_{false};
  std::thread thread_;
};

/// Brings PostgreSQL and PostgREST back (also when a test fails half-way), and waits for them.
class ServerGuard {
 public:
  ServerGuard() = default;
  ServerGuard(const ServerGuard&) = delete;
  ServerGuard& operator=(const ServerGuard&) = delete;
  ~ServerGuard() { restore(); }
  static void restore() {
    // Each start fails harmlessly when the server already runs.
    testenv("start-postgres");
    testenv("start-postgrest");
    testenv("wait-postgrest");
  }
};

/// A fake transport that records every request and answers with a fixed response.
class RecordingFake : public Transport {
 public:
  explicit RecordingFake(HttpResponse answer = {}) : answer_(std::move(answer)) {
    if (answer_.status == 0 && !answer_.transportFailed()) {
      answer_.status = 200;
      answer_.body = "[]";
      answer_.headers = {{"Content-Range", "*/0"}, {"Content-Type", "application/json; charset=utf-8"}};
    }
  }
  std::unique_ptr<TransportSession> openSession() override { return std::make_unique<Session>(*this); }
  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  void setAnswer(HttpResponse answer) {
    std::lock_guard lock(mutex_);
    answer_ = std::move(answer);
  }

 private:
  class Session : public TransportSession {
   public:
    explicit Session(RecordingFake& owner) : owner_(owner) {}
    void start(std::uint64_t tag, HttpRequest request) override {
      std::lock_guard lock(owner_.mutex_);
      owner_.requests_.push_back(request);
      done_.emplace_back(tag, owner_.answer_);
    }
    std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds) override {
      return std::exchange(done_, {});
    }
    std::size_t inFlight() const override { return done_.size(); }

   private:
    RecordingFake& owner_;
    std::vector<std::pair<std::uint64_t, HttpResponse>> done_;
  };

  mutable std::mutex mutex_;
  HttpResponse answer_;
  std::vector<HttpRequest> requests_;
};

}  // namespace pgrestify::test::fault
