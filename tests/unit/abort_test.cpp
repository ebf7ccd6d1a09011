// SPDX-License-Identifier: MIT
// Cancellation aborts requests in flight (TransportSession::abortAll) instead of waiting for their
// answers, and the per-call request timeout reaches every request. Fake transport: a request
// answered `stalled()` never completes until it is aborted.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <stop_token>
#include <thread>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Requests the stop @p after from now, on another thread.
std::jthread stopAfter(std::stop_source& stop, std::chrono::milliseconds after) {
  return std::jthread([&stop, after] {
    std::this_thread::sleep_for(after);
    stop.request_stop();
  });
}

}  // namespace

TEST(EngineAbort, StopAbortsStalledRequestsPromptly) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return stalled(); });
  auto client = fakeClient(fake);
  auto rows = userRows(100);
  std::stop_source stop;
  auto stopper = stopAfter(stop, 100ms);
  const auto started = Clock::now();
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 10, .concurrency = 4, .stopToken = stop.get_token()});
  const auto took = Clock::now() - started;
  EXPECT_LT(took, 2s) << "the call waited for requests that never answer";
  expectAccounted(r, 100);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(fake->count(), 4u) << "only the requests in flight at the stop were sent";
  EXPECT_EQ(fake->aborts(), 4u);
  // The whole body of each aborted request had been sent: the server may have written the rows.
  EXPECT_EQ(r.failed, 40u);
  EXPECT_EQ(r.notProcessed, 60u);
  EXPECT_EQ(r.successful, 0u);
  ASSERT_EQ(r.errors.size(), 4u);
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.kind, BulkErrorKind::Transport);
    EXPECT_TRUE(e.outcomeUnknown);
    EXPECT_EQ(e.indexes.size(), 10u);
    EXPECT_NE(e.message.find("cancelled while the request was in flight"), std::string::npos) << e.message;
  }
}

TEST(EngineAbort, AbortedBeforeTheBodyWasSentIsNotProcessed) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return stalled(); });
  fake->setBodySentOnAbort(false);
  auto client = fakeClient(fake);
  auto rows = userRows(50);
  std::stop_source stop;
  auto stopper = stopAfter(stop, 50ms);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 10, .concurrency = 3, .stopToken = stop.get_token()});
  expectAccounted(r, 50);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(fake->aborts(), 3u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.notProcessed, 50u);
}

TEST(EngineAbort, DeadlineAbortsStalledRequests) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    // The first batch is answered; the later ones stall.
    if (req.body.find("\"e0@x.io\"") != std::string::npos) return created(10);
    return stalled();
  });
  fake->setOrdered(true);
  auto client = fakeClient(fake);
  auto rows = userRows(60);
  const auto started = Clock::now();
  auto r = client.from("users").bulkUpsert(
      rows, {.conflictColumns = {"email"}, .batchSize = 10, .concurrency = 2, .deadline = started + 150ms});
  EXPECT_LT(Clock::now() - started, 2s);
  expectAccounted(r, 60);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.successful, 10u);
  EXPECT_EQ(fake->aborts(), 2u);
  EXPECT_EQ(r.failed, 20u);
  EXPECT_EQ(r.notProcessed, 30u);
  for (const auto& e : r.errors) {
    EXPECT_TRUE(e.outcomeUnknown);
    EXPECT_NE(e.message.find("deadline passed"), std::string::npos) << e.message;
  }
}

TEST(EngineAbort, AnswersAlreadyThereAreUsedNotAborted) {
  // Every answer is ready when the stop comes: nothing is aborted, nothing is unknown.
  std::stop_source stop;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& req, int) {
    stop.request_stop();
    return created(json::parse(req.body).size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(40);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 10, .concurrency = 3, .stopToken = stop.get_token()});
  expectAccounted(r, 40);
  EXPECT_EQ(fake->aborts(), 0u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.successful + r.notProcessed, 40u);
}

TEST(EngineAbort, DeleteAbortedIsUnknownAndNeverRetried) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return stalled(); });
  auto client = fakeClient(fake);
  std::vector<long long> keys;
  for (long long i = 0; i < 30; ++i) keys.push_back(i);
  std::stop_source stop;
  auto stopper = stopAfter(stop, 50ms);
  auto r = client.from("users").bulkDelete(keys, {.batchSize = 10, .concurrency = 2, .stopToken = stop.get_token()});
  expectAccounted(r, 30);
  EXPECT_EQ(fake->count(), 2u) << "an aborted request is not sent again";
  EXPECT_EQ(r.failed, 20u);
  EXPECT_EQ(r.notProcessed, 10u);
}

// ---------------------------------------------------------------- per-call request timeout

TEST(RequestTimeout, PerCallTimeoutReachesEveryRequest) {
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto client = fakeClient(fake, {.timeout = 60000ms});
  auto rows = userRows(30);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 10, .timeout = 1500ms});
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(fake->count(), 3u);
  for (const auto& q : fake->requests()) {
    ASSERT_TRUE(q.request.timeout.has_value());
    EXPECT_EQ(*q.request.timeout, 1500ms);
  }
  // Without the option the transport's own timeout (ClientOptions::timeout) applies.
  auto fake2 = std::make_shared<FakeTransport>();
  auto client2 = fakeClient(fake2);
  std::vector<long long> keys = {1, 2, 3};
  (void)client2.from("users").bulkDelete(keys);
  ASSERT_EQ(fake2->count(), 1u);
  EXPECT_FALSE(fake2->requests().front().request.timeout.has_value());
}

TEST(RequestTimeout, NegativeTimeoutIsRefusedBeforeAnyRequest) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = fakeClient(fake);
  auto rows = userRows(3);
  EXPECT_THROW((void)client.from("users").bulkInsert(rows, {.timeout = -1ms}), std::invalid_argument);
  EXPECT_EQ(fake->count(), 0u);
}

// ---------------------------------------------------------------- libcurl transport settings

TEST(CurlTransportSettings, UnusableSettingsAreRefusedWithoutQuotingSecrets) {
  const std::string secret = "s3cr3t-pass";
  try {
    (void)makeCurlTransport({.proxy = "ftp://user:" + secret + "@proxy:21"});
    ADD_FAILURE() << "an ftp proxy was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)makeCurlTransport({.proxy = "http://user:" + secret + "@"}), std::invalid_argument);
  EXPECT_THROW((void)makeCurlTransport({.maxConnections = 0}), std::invalid_argument);
  try {
    (void)makeCurlTransport({.clientKey = "/k.pem", .keyPassword = secret});
    ADD_FAILURE() << "a key without a certificate was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW((void)makeCurlTransport({.proxy = "http://user:" + secret + "@127.0.0.1:9"}));
  // The client builds its transport from the same fields: the same checks.
  EXPECT_THROW(Client({.url = "http://localhost:3000", .proxy = "proxy.example:3128"}), std::invalid_argument);
}

TEST(CurlTransportSettings, ProxyCredentialsNeverInTheFailureMessage) {
  // A proxy that refuses connections (port 9 on loopback): the transport failure names no credential.
  const std::string user = "proxyuser", secret = "pr0xy-s3cret";
  auto transport =
      makeCurlTransport({.connectTimeout = 2000ms, .proxy = "http://" + user + ":" + secret + "@127.0.0.1:9"});
  HttpRequest req;
  req.url = "http://example.invalid/users";
  auto resp = transport->send(req);
  ASSERT_TRUE(resp.transportFailed());
  EXPECT_EQ(resp.errorMessage.find(secret), std::string::npos) << resp.errorMessage;
  EXPECT_EQ(resp.errorMessage.find(user + ":" + secret), std::string::npos) << resp.errorMessage;
}
