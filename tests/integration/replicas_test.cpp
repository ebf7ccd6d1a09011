// SPDX-License-Identifier: MIT
// Replicas behind a real load balancer (issue #18): HAProxy 2.6, started by the fixture
// (`scripts/testenv.sh start-lb`), in front of three PostgREST 12.0.2 replicas on the one
// PostgreSQL of the test run, with keep-alive on both sides and health checks. Faults are made
// from the import's own callbacks (never from timers racing it): a replica killed, a rolling
// restart, HAProxy reloaded, no replica up. Every test checks the invariant of docs/reliability.md
// against the table: every row is in the table once, or reported with its index, or not processed.
#include "fault_support.hpp"

#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace pgrestify::test {
namespace {

using namespace fault;  // NOLINT(google-build-using-namespace)

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kReplicas = 3;

// Rows of api.users with client-generated keys: id i + 1, email "row<i>@x".
std::vector<json> keyedRows(std::size_t n) {
  std::vector<json> rows;
  rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    rows.push_back({{"id", i + 1}, {"name", "n" + std::to_string(i)}, {"email", rowKey(i)}});
  }
  return rows;
}

// Patient enough to ride out a replica restart or HAProxy reload (a few seconds).
RetryPolicy patientRetry() { return {.maxAttempts = 40, .initialBackoff = 100ms, .maxBackoff = 1000ms}; }

void report(const char* test, const BulkResult<json>& r, const Ledger& l) {
  std::cout << "[" << test << "] successful=" << r.successful << " skipped=" << r.skipped << " failed=" << r.failed
            << " notProcessed=" << r.notProcessed << " requests=" << r.requests << " retries=" << r.retries
            << " errors=" << r.errors.size() << " elapsed=" << r.elapsed.count() << "ms " << l.summary() << "\n";
  for (std::size_t i = 0; i < r.errors.size() && i < 3; ++i) {
    const auto& e = r.errors[i];
    std::cout << "  error: rows " << e.indexes.size() << " status " << e.status << " unknown " << e.outcomeUnknown
              << ": " << e.message << "\n";
  }
}

// The rows the table holds, checked against the result: count and sum of the ids equal to the
// rows the result says are there (successful + skipped), each id once.
void expectTableMatches(const BulkResult<json>& r) {
  const auto present = r.successful + r.skipped;
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(present));
  EXPECT_EQ(sqlCount("select count(distinct id) from api.users"), static_cast<long long>(present));
}

void expectAllRows(const BulkResult<json>& r, std::size_t n) {
  EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors.front().message);
  EXPECT_EQ(r.successful + r.skipped, n);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(n));
  const long long sum = static_cast<long long>(n) * static_cast<long long>(n + 1) / 2;
  EXPECT_EQ(sqlCount("select coalesce(sum(id), 0) from api.users"), sum) << "ids 1..n, each once";
}

// Brings every replica back and waits until HAProxy sees them UP (also when a test fails half-way).
class ReplicaGuard {
 public:
  ReplicaGuard() = default;
  ReplicaGuard(const ReplicaGuard&) = delete;
  ReplicaGuard& operator=(const ReplicaGuard&) = delete;
  ~ReplicaGuard() {
    // Each start fails harmlessly when the replica already runs.
    for (int k = 1; k <= kReplicas; ++k) testenv("start-replica", std::to_string(k) + " >/dev/null 2>&1");
    EXPECT_EQ(testenv("wait-lb"), 0) << "HAProxy does not see every replica UP again";
  }
};

// A fault begun from a progress callback: `begin()` runs @p down (testenv subcommands) on the
// calling thread, so the import is certainly mid-way; a background thread runs @p up after
// @p downFor. end() waits for it.
class ReplicaFault {
 public:
  ReplicaFault(std::vector<std::string> down, std::vector<std::string> up, std::chrono::milliseconds downFor)
      : down_(std::move(down)), up_(std::move(up)), downFor_(downFor) {}
  ReplicaFault(const ReplicaFault&) = delete;
  ReplicaFault& operator=(const ReplicaFault&) = delete;
  ~ReplicaFault() { end(); }
  void begin() {
    if (begun_.exchange(true)) return;
    for (const auto& c : down_) EXPECT_EQ(run(c), 0) << c;
    if (up_.empty()) return;
    thread_ = std::thread([this] {
      std::this_thread::sleep_for(downFor_);
      for (const auto& c : up_) EXPECT_EQ(run(c), 0) << c;
    });
  }
  void end() {
    if (thread_.joinable()) thread_.join();
  }
  bool begun() const { return begun_.load(); }

 private:
  static int run(const std::string& command) {
    auto space = command.find(' ');
    if (space == std::string::npos) return testenv(command, ">/dev/null");
    return testenv(command.substr(0, space), command.substr(space + 1) + " >/dev/null");
  }
  std::vector<std::string> down_, up_;
  std::chrono::milliseconds downFor_;
  std::atomic<bool> begun_{false};
  std::thread thread_;
};

class Replicas : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (server_->dir.empty()) GTEST_SKIP() << "replica tests need the fixture's own servers (testenv dir)";
    if (server_->lbUrl.empty()) {
      if (serverRequired()) FAIL() << "no load balancer: haproxy is not installed (scripts/bootstrap.sh installs it)";
      GTEST_SKIP() << "no load balancer (haproxy not installed)";
    }
    ASSERT_EQ(testenv("wait-lb"), 0) << "HAProxy does not see every replica UP";
  }
  // A client on the balancer, with the token of web_user (so that leaks of it can be looked for).
  Client lbClient() const { return Client({.url = server_->lbUrl, .bearerToken = server_->jwt}); }
};

// ---------------------------------------------------------------------------------------------
// One replica killed (SIGKILL) in the middle of a 200,000-row import: requests it was running
// get HAProxy's 502 (unknown outcome), which idempotent writes send again. So that the kill
// certainly cuts requests off (a request takes milliseconds: killed from a callback, the replica
// would be idle by then), the replica is first frozen (SIGSTOP) from one callback, and killed
// from a later one, 20 batches on: the requests HAProxy sent it meanwhile hang there until the
// kill.
// ---------------------------------------------------------------------------------------------

constexpr std::size_t kBig = 200000;

// The two progress steps of the kill; `begun()` once killed.
class FreezeThenKill {
 public:
  explicit FreezeThenKill(int replica)
      : replica_(std::to_string(replica)), kill_({"kill-replica " + replica_}, {"start-replica " + replica_}, 1s) {}
  FreezeThenKill(const FreezeThenKill&) = delete;
  FreezeThenKill& operator=(const FreezeThenKill&) = delete;
  ~FreezeThenKill() {
    // Frozen but never killed (the import ended first): not left frozen for the next test.
    if (frozenAt_ != 0 && !kill_.begun()) testenv("kill-replica", replica_ + " >/dev/null");
  }
  void onProgress(const BulkProgress& p) {
    if (p.processed >= 30000 && frozenAt_ == 0) {
      frozenAt_ = p.processed;
      EXPECT_EQ(testenv("pause-replica", replica_ + " >/dev/null"), 0);
    } else if (frozenAt_ != 0 && p.processed >= frozenAt_ + 20000 && !kill_.begun()) {
      killedAt_ = p.processed;
      kill_.begin();
    }
  }
  void end() { kill_.end(); }
  bool killed() const { return kill_.begun(); }
  std::size_t killedAt() const { return killedAt_; }

 private:
  std::string replica_;
  ReplicaFault kill_;
  std::size_t frozenAt_ = 0, killedAt_ = 0;
};

TEST_F(Replicas, ReplicaKilledDuringInsertWithIgnoreFailsNothing) {
  ReplicaGuard guard;
  auto rows = keyedRows(kBig);
  FreezeThenKill fault(2);
  auto r =
      lbClient().from("users").bulkInsert(rows, {.onConflict = OnConflict::Ignore,
                                                 .conflictColumns = {"id"},
                                                 .retry = patientRetry(),
                                                 .onProgress = [&](const BulkProgress& p) { fault.onProgress(p); }});
  fault.end();
  ASSERT_TRUE(fault.killed());
  ASSERT_LT(fault.killedAt(), kBig) << "the kill must happen during the import";
  auto l = checkInvariant(r, presence("users", "email", kBig));
  report("replica-killed/insert-ignore", r, l);
  EXPECT_GT(r.retries, 0u) << "no request was cut off by the kill; the test proves nothing";
  expectAllRows(r, kBig);
}

TEST_F(Replicas, ReplicaKilledDuringUpsertFailsNothing) {
  ReplicaGuard guard;
  auto rows = keyedRows(kBig);
  FreezeThenKill fault(1);
  auto r = lbClient().from("users").bulkUpsert(
      rows, {.conflictColumns = {"id"}, .retry = patientRetry(), .onProgress = [&](const BulkProgress& p) {
               fault.onProgress(p);
             }});
  fault.end();
  ASSERT_TRUE(fault.killed());
  ASSERT_LT(fault.killedAt(), kBig) << "the kill must happen during the import";
  auto l = checkInvariant(r, presence("users", "email", kBig));
  report("replica-killed/upsert", r, l);
  EXPECT_GT(r.retries, 0u) << "no request was cut off by the kill; the test proves nothing";
  expectAllRows(r, kBig);
}

// ---------------------------------------------------------------------------------------------
// A rolling restart of the three replicas (each drained in HAProxy, stopped with SIGTERM,
// started, seen UP again before the next one) while an import runs.
// ---------------------------------------------------------------------------------------------

// Runs testenv @p commands on a background thread, started from a progress callback when the
// import reaches @p from rows, while the import goes on; a later callback at @p until rows waits for
// them to end. So the fault overlaps the running import (it starts with requests in flight and
// new ones being sent) and certainly ends before the import does: no timer races the import.
class Overlapping {
 public:
  Overlapping(std::vector<std::string> commands, std::size_t from, std::size_t until)
      : commands_(std::move(commands)), from_(from), until_(until) {}
  Overlapping(const Overlapping&) = delete;
  Overlapping& operator=(const Overlapping&) = delete;
  ~Overlapping() {
    if (thread_.joinable()) thread_.join();
  }
  void onProgress(const BulkProgress& p) {
    if (p.processed >= from_ && !started_) {
      started_ = true;
      startedAt_ = p.processed;
      thread_ = std::thread([this] {
        for (const auto& c : commands_) {
          auto space = c.find(' ');
          EXPECT_EQ(space == std::string::npos ? testenv(c, ">/dev/null")
                                               : testenv(c.substr(0, space), c.substr(space + 1) + " >/dev/null"),
                    0)
              << c;
        }
        done_ = true;
      });
    }
    if (p.processed >= until_ && thread_.joinable()) {
      thread_.join();
      endedBy_ = p.processed;
    }
  }
  /// Checks that the fault ran inside the import.
  void expectInside(std::size_t n) {
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(done_);
    EXPECT_GT(endedBy_, 0u) << "the fault must end during the import";
    EXPECT_LT(startedAt_, endedBy_);
    EXPECT_LT(endedBy_, n);
  }

 private:
  std::vector<std::string> commands_;
  std::size_t from_, until_;
  bool started_ = false;
  std::atomic<bool> done_{false};
  std::size_t startedAt_ = 0, endedBy_ = 0;
  std::thread thread_;
};

TEST_F(Replicas, RollingRestartDuringUpsertFailsNothing) {
  ReplicaGuard guard;
  constexpr std::size_t n = 60000;
  auto rows = keyedRows(n);
  Overlapping restart({"rolling-restart"}, 5000, n * 8 / 10);
  auto r = lbClient().from("users").bulkUpsert(
      rows,
      {.conflictColumns = {"id"}, .batchSize = 250, .retry = patientRetry(), .onProgress = [&](const BulkProgress& p) {
         restart.onProgress(p);
       }});
  restart.expectInside(n);
  auto l = checkInvariant(r, presence("users", "email", n));
  report("rolling-restart/upsert", r, l);
  expectAllRows(r, n);
}

// ---------------------------------------------------------------------------------------------
// HAProxy reloaded gracefully twice (a new process takes the port, `-sf`: the old one finishes
// its requests), while an import sends requests.
// ---------------------------------------------------------------------------------------------

TEST_F(Replicas, ReloadDuringUpsertFailsNothing) {
  ReplicaGuard guard;
  constexpr std::size_t n = 60000;
  auto rows = keyedRows(n);
  Overlapping reload({"reload-lb", "reload-lb"}, 5000, n * 8 / 10);
  auto r = lbClient().from("users").bulkUpsert(
      rows,
      {.conflictColumns = {"id"}, .batchSize = 250, .retry = patientRetry(), .onProgress = [&](const BulkProgress& p) {
         reload.onProgress(p);
       }});
  reload.expectInside(n);
  auto l = checkInvariant(r, presence("users", "email", n));
  report("reload/upsert", r, l);
  expectAllRows(r, n);
}

// A plain insert (not idempotent) through the same reloads: a graceful reload cuts off no request
// (the old process answers what it has; `option idle-close-on-response` keeps it from closing an
// idle connection under a request being sent), so nothing fails. (A hard restart of HAProxy
// instead fails the requests in flight with unknown outcomes.)
TEST_F(Replicas, ReloadDuringPlainInsertFailsNothing) {
  ReplicaGuard guard;
  constexpr std::size_t n = 60000;
  auto rows = keyedRows(n);
  Overlapping reload({"reload-lb", "reload-lb"}, 5000, n * 8 / 10);
  auto r = lbClient().from("users").bulkInsert(
      rows,
      {.batchSize = 250, .retry = patientRetry(), .onProgress = [&](const BulkProgress& p) { reload.onProgress(p); }});
  reload.expectInside(n);
  auto l = checkInvariant(r, presence("users", "email", n));
  report("reload/insert", r, l);
  expectAllRows(r, n);
}

// ---------------------------------------------------------------------------------------------
// No replica up: HAProxy answers 503 (no server available: the request never reached PostgREST),
// which is retried even for a plain insert; the rows land once the replicas are back. With a short
// retry budget, the rows beyond it are reported, with their indexes and a clear message.
// ---------------------------------------------------------------------------------------------

std::vector<std::string> allReplicas(const char* action) {
  std::vector<std::string> out;
  for (int k = 1; k <= kReplicas; ++k) out.push_back(std::string(action) + "-replica " + std::to_string(k));
  return out;
}

TEST_F(Replicas, NoReplicaUpIsRetriedUntilTheyReturn) {
  ReplicaGuard guard;
  constexpr std::size_t n = 30000;
  auto rows = keyedRows(n);
  // Stopped gracefully (drained first), so that no request is cut off mid-way: every failure the
  // import sees is HAProxy's 503, and a plain insert (not idempotent) must still fail nothing.
  ReplicaFault outage(allReplicas("stop"), allReplicas("start"), 1500ms);
  auto r = lbClient().from("users").bulkInsert(
      rows, {.batchSize = 500, .retry = patientRetry(), .onProgress = [&](const BulkProgress& p) {
               if (p.processed >= 5000) outage.begin();
             }});
  outage.end();
  ASSERT_TRUE(outage.begun());
  auto l = checkInvariant(r, presence("users", "email", n));
  report("no-replica/insert", r, l);
  EXPECT_GT(r.retries, 0u) << "the outage was not noticed; the test proves nothing";
  expectAllRows(r, n);
}

TEST_F(Replicas, NoReplicaUpBeyondTheRetryBudgetIsReported) {
  ReplicaGuard guard;
  constexpr std::size_t n = 20000;
  auto rows = keyedRows(n);
  ReplicaFault outage(allReplicas("stop"), {}, 0ms);  // back only when the guard restores them
  auto r = lbClient().from("users").bulkInsert(
      rows, {.batchSize = 500,
             .retry = RetryPolicy{.maxAttempts = 2, .initialBackoff = 10ms, .retryBudget = 0ms},
             .onProgress = [&](const BulkProgress& p) {
               if (p.processed >= 5000) outage.begin();
             }});
  ASSERT_TRUE(outage.begun());
  auto l = checkInvariant(r, presence("users", "email", n));
  report("no-replica/budget", r, l);
  EXPECT_GT(r.failed, 0u);
  EXPECT_GE(r.successful, 5000u);
  EXPECT_EQ(r.successful + r.failed, n);
  EXPECT_EQ(l.failedAbsent, r.failed) << "a 503 from the balancer: the rows were not written";
  expectTableMatches(r);
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.status, 503);
    EXPECT_FALSE(e.outcomeUnknown) << "HAProxy's 503: the request never reached PostgREST";
    EXPECT_EQ(e.attempts, 2);
    EXPECT_FALSE(e.indexes.empty());
    EXPECT_NE(e.message.find("503"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("proxy"), std::string::npos) << "says it came from a proxy: " << e.message;
    EXPECT_EQ(e.message.find(server_->jwt), std::string::npos) << "the token leaked: " << e.message;
  }
}

}  // namespace
}  // namespace pgrestify::test
