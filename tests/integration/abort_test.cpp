// SPDX-License-Identifier: MIT
// Cancellation aborts requests in flight on the real libcurl transport, the per-call request
// timeout, and the connection pool against a concurrency above it. Servers that never answer:
// TestServer::silentUrl (fixture.sh) and a counting listener started by the test itself.
#include "insert_test_support.hpp"
#include "test_env.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <stop_token>
#include <thread>
#include <vector>

namespace pgrestify::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::vector<nlohmann::json> rowsOf(std::size_t n) {
  std::vector<nlohmann::json> rows;
  for (std::size_t i = 0; i < n; ++i) {
    rows.push_back({{"name", "a" + std::to_string(i)}, {"email", "abort" + std::to_string(i) + "@x.io"}});
  }
  return rows;
}

// Accepts connections on 127.0.0.1 and never answers; counts the connections it accepted.
class CountingListener {
 public:
  CountingListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 512) != 0) {
      throw std::runtime_error("listener: cannot listen");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        accepted_.fetch_add(1);
        std::lock_guard lock(mutex_);
        clients_.push_back(c);
      }
    });
  }
  ~CountingListener() {
    thread_.request_stop();
    thread_.join();
    for (int c : clients_) ::close(c);
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::mutex mutex_;
  std::vector<int> clients_;
  std::jthread thread_;
};

class Abort : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = server();
    if (!server_ || server_->silentUrl.empty()) {
      if (serverRequired()) FAIL() << "no silent test server (fixture.sh) but CI requires one";
      GTEST_SKIP() << "no silent test server (run through ctest)";
    }
  }
  const TestServer* server_ = nullptr;
};

TEST_F(Abort, StopTokenAbortsRequestsToASilentServerPromptly) {
  Client client({.url = server_->silentUrl});  // the libcurl transport, request timeout 60 s
  auto rows = rowsOf(100);
  std::stop_source stop;
  std::jthread stopper([&stop] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  const auto started = Clock::now();
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 10, .concurrency = 4, .stopToken = stop.get_token()});
  const auto took = Clock::now() - started;
  EXPECT_LT(took, 3s) << "the call waited for answers that never come";
  EXPECT_TRUE(r.cancelled);
  expectAccounted(r, 100);
  // Four requests were in flight, each with its whole body sent: the server may have run them.
  EXPECT_EQ(r.failed, 40u);
  EXPECT_EQ(r.notProcessed, 60u);
  EXPECT_EQ(r.successful, 0u);
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.kind, BulkErrorKind::Transport);
    EXPECT_TRUE(e.outcomeUnknown);
    EXPECT_NE(e.message.find("cancelled while the request was in flight"), std::string::npos) << e.message;
  }
}

TEST_F(Abort, DeadlineAbortsADeleteToASilentServer) {
  Client client({.url = server_->silentUrl});
  std::vector<long long> keys;
  for (long long i = 0; i < 50; ++i) keys.push_back(i);
  const auto started = Clock::now();
  auto r = client.from("users").bulkDelete(keys, {.batchSize = 10, .concurrency = 2, .deadline = started + 200ms});
  EXPECT_LT(Clock::now() - started, 3s);
  EXPECT_TRUE(r.cancelled);
  expectAccounted(r, 50);
  EXPECT_EQ(r.failed, 20u);
  EXPECT_EQ(r.notProcessed, 30u);
  for (const auto& e : r.errors) EXPECT_TRUE(e.outcomeUnknown);
}

TEST_F(Abort, PerCallTimeoutOverridesTheClientTimeout) {
  Client client({.url = server_->silentUrl, .timeout = 60000ms});
  auto rows = rowsOf(20);
  const auto started = Clock::now();
  RetryPolicy once;
  once.maxAttempts = 1;
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 10, .concurrency = 2, .retry = once, .timeout = 300ms});
  const auto took = Clock::now() - started;
  // libcurl times the request on its own clock, rounded to milliseconds: 299.8 ms was seen.
  EXPECT_GE(took, 290ms) << "the requests gave up before the call's 300 ms";
  EXPECT_LT(took, 3s) << "the client's 60 s timeout applied instead of the call's";
  expectAccounted(r, 20);
  EXPECT_EQ(r.failed, 20u);
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.transport, TransportErrorKind::Timeout);
    EXPECT_TRUE(e.outcomeUnknown);
  }
}

// A concurrency above the pool size (16 by default) used to queue inside libcurl: the server saw
// 16 connections. The session raises its limit to the requests the call keeps in flight.
TEST_F(Abort, ConcurrencyAboveThePoolOpensThatManyConnections) {
  for (auto [pool, concurrency] : {std::pair<std::size_t, std::size_t>{16, 32}, {4, 8}, {16, 4}}) {
    CountingListener listener;
    Client client({.url = listener.url(), .maxConnections = pool});
    auto rows = rowsOf(concurrency * 4);
    std::stop_source stop;
    std::jthread stopper([&] {
      const auto until = Clock::now() + 5s;
      while (listener.accepted() < static_cast<int>(concurrency) && Clock::now() < until) {
        std::this_thread::sleep_for(10ms);
      }
      std::this_thread::sleep_for(200ms);  // time for connections beyond the expected ones
      stop.request_stop();
    });
    auto r = client.from("users").bulkInsert(
        rows, {.batchSize = 1, .concurrency = concurrency, .stopToken = stop.get_token()});
    EXPECT_EQ(listener.accepted(), static_cast<int>(concurrency)) << "pool " << pool << ", concurrency " << concurrency;
    expectAccounted(r, rows.size());
    EXPECT_EQ(r.failed, concurrency);
  }
}

}  // namespace
}  // namespace pgrestify::test
