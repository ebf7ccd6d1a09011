// SPDX-License-Identifier: MIT
// Adaptive concurrency (issue #19) against PostgREST 12.0.2, 20 ms away: the fault proxy holds
// every request 20 ms, as a server in another zone would. Left unset, a bulk call's concurrency
// climbs above the fixed default to fill that round trip; chosen, it stays; either way every row
// is written once. (How much faster is a benchmark's question: docs/benchmarks.md.)
#include "fault_proxy.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kRows = 40000;

std::vector<json> adaptiveRows() {
  std::vector<json> rows;
  rows.reserve(kRows);
  for (std::size_t i = 0; i < kRows; ++i) rows.push_back({{"id", i + 1}, {"kind", "adaptive"}});
  return rows;
}

// The threads of this process a BulkWriter runs (it names them "pgrestify-wrtr").
std::size_t writerThreads() {
  std::size_t n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name) && name == "pgrestify-wrtr") ++n;
  }
  return n;
}

struct Seen {
  std::vector<std::size_t> progress;    // BulkProgress::concurrency of each report
  std::vector<std::size_t> perRequest;  // RequestEvent::concurrency of each request
};

class Adaptive : public IntegrationTest {
 protected:
  // 40 batches of 1000 rows through a proxy 20 ms away.
  BulkResult<json> importThroughTheProxy(std::optional<std::size_t> concurrency, Seen& seen) {
    fault::FaultProxy proxy(fault::portOf(server_->url), nullptr);
    proxy.setLatency(20ms);
    std::mutex m;
    Client client({.url = proxy.url(), .bearerToken = server_->jwt, .onRequest = [&](const RequestEvent& e) {
                     std::lock_guard lock(m);
                     if (e.bulk) seen.perRequest.push_back(e.concurrency);
                   }});
    BulkInsertOptions o;
    o.concurrency = concurrency;
    o.onProgress = [&](const BulkProgress& p) { seen.progress.push_back(p.concurrency); };
    auto rows = adaptiveRows();
    return client.from("events").bulkInsert(rows, o);
  }

  void expectEveryRowOnce(const BulkResult<json>& r) {
    EXPECT_EQ(r.successful, kRows);
    EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors.front().message);
    EXPECT_EQ(r.requests, kRows / 1000) << "the batches are the same at any concurrency";
    EXPECT_EQ(sqlCount("SELECT count(*) FROM api.events WHERE kind = 'adaptive'"), static_cast<long long>(kRows));
    EXPECT_EQ(sqlCount("SELECT count(DISTINCT id) FROM api.events WHERE kind = 'adaptive'"),
              static_cast<long long>(kRows));
  }
};

}  // namespace

TEST_F(Adaptive, DistantServerGetsMoreRequestsInFlightThanTheFixedDefault) {
  Seen seen;
  auto r = importThroughTheProxy(std::nullopt, seen);
  expectEveryRowOnce(r);
  ASSERT_EQ(seen.perRequest.size(), kRows / 1000);
  EXPECT_EQ(seen.perRequest.front(), kDefaultConcurrency) << "it starts at the default";
  const auto most = *std::max_element(seen.perRequest.begin(), seen.perRequest.end());
  EXPECT_GT(most, kDefaultConcurrency) << "a 20 ms round trip needs more than 4 requests in flight";
  EXPECT_LE(most, ClientOptions{}.maxConnections) << "never above the client's connections";
  ASSERT_FALSE(seen.progress.empty());
  // Progress reports follow the answers: the limit may still grow after the last request is sent.
  const auto reported = *std::max_element(seen.progress.begin(), seen.progress.end());
  EXPECT_GE(reported, most);
  EXPECT_LE(reported, ClientOptions{}.maxConnections);
}

TEST_F(Adaptive, AChosenConcurrencyStaysAsItIs) {
  Seen seen;
  auto r = importThroughTheProxy(4, seen);
  expectEveryRowOnce(r);
  ASSERT_EQ(seen.perRequest.size(), kRows / 1000);
  for (auto c : seen.perRequest) EXPECT_EQ(c, 4u);
  for (auto c : seen.progress) EXPECT_EQ(c, 4u);
}

// A writer left to adapt runs a thread per request its limit allows, started as the limit grows:
// an idle writer holds the threads of its starting limit, not the ceiling's.
TEST_F(Adaptive, AWriterStartsThreadsAsItsLimitGrowsNotAllAtOnce) {
  fault::FaultProxy proxy(fault::portOf(server_->url), nullptr);
  proxy.setLatency(20ms);
  constexpr std::size_t kCeiling = 32;
  Client client({.url = proxy.url(), .bearerToken = server_->jwt, .maxConnections = kCeiling});
  const std::size_t before = writerThreads();
  std::atomic<std::size_t> written{0}, other{0};
  {
    auto writer = client.from("events").bulkWriter<std::size_t>(
        {.maxBatchRows = 1000},
        [&](WriterOutcome<std::size_t>& o) { ++(o.outcome == RowOutcome::Written ? written : other); });
    EXPECT_EQ(writer.stats().concurrency, kDefaultConcurrency);
    EXPECT_EQ(writerThreads() - before, kDefaultConcurrency) << "idle: the threads of the starting limit";
    auto rows = adaptiveRows();
    for (std::size_t i = 0; i < rows.size(); ++i) ASSERT_TRUE(writer.add(rows[i], i).accepted());
    writer.flush().get();
    const std::size_t threads = writerThreads() - before;
    EXPECT_GT(threads, kDefaultConcurrency) << "a 20 ms round trip raised the limit, and threads were started for it";
    EXPECT_LE(threads, kCeiling);
    EXPECT_GE(threads, writer.stats().concurrency);
  }
  EXPECT_EQ(writerThreads(), before) << "closed: its threads ended";
  EXPECT_EQ(written.load(), kRows);
  EXPECT_EQ(other.load(), 0u);
  EXPECT_EQ(sqlCount("SELECT count(DISTINCT id) FROM api.events WHERE kind = 'adaptive'"),
            static_cast<long long>(kRows));
}
