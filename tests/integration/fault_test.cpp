// SPDX-License-Identifier: MIT
// Fault tests against the real PostgreSQL + PostgREST (issue 9): servers killed and restarted
// mid-import, statement timeouts, a loopback proxy that resets and stalls connections or answers
// like a broken reverse proxy, non-JSON answers, and many bulk calls on one Client at once.
// Every test checks the invariant of docs/reliability.md against the table contents.
#include "fault_proxy.hpp"
#include "fault_support.hpp"

#include <chrono>
#include <iostream>

namespace pgrestify::test {
namespace {

using namespace fault;  // NOLINT(google-build-using-namespace)

using nlohmann::json;
using namespace std::chrono_literals;

std::vector<json> userRows(std::size_t n, std::size_t padding = 0) {
  std::vector<json> rows;
  rows.reserve(n);
  const std::string pad(padding, 'p');
  for (std::size_t i = 0; i < n; ++i) rows.push_back({{"name", "n" + std::to_string(i) + pad}, {"email", rowKey(i)}});
  return rows;
}

// Retries patient enough to ride out a server restart (a few seconds).
RetryPolicy patientRetry() { return {.maxAttempts = 40, .initialBackoff = 100ms, .maxBackoff = 1000ms}; }

void report(const char* test, const BulkResult<json>& r, const Ledger& l) {
  std::cout << "[" << test << "] successful=" << r.successful << " failed=" << r.failed
            << " notProcessed=" << r.notProcessed << " requests=" << r.requests << " retries=" << r.retries
            << " errors=" << r.errors.size() << " elapsed=" << r.elapsed.count() << "ms " << l.summary() << "\n";
}

class Fault : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (server_->dir.empty()) GTEST_SKIP() << "fault tests need the fixture's own servers (testenv dir)";
  }
};

// ---------------------------------------------------------------------------------------------
// PostgREST killed and restarted in the middle of a 200,000-row import
// ---------------------------------------------------------------------------------------------

constexpr std::size_t kBig = 200000;

TEST_F(Fault, PostgrestRestartDuringUpsertLosesAndDuplicatesNothing) {
  ServerGuard guard;
  auto rows = userRows(kBig);
  Outage restart("postgrest", 1s);
  std::size_t processedAtFault = 0;
  auto r = client_->from("users").bulkUpsert(
      rows, {.conflictColumns = {"email"}, .retry = patientRetry(), .onProgress = [&](const BulkProgress& p) {
               if (p.processed >= 30000 && !restart.begun()) {
                 processedAtFault = p.processed;
                 restart.begin();
               }
             }});
  restart.end();
  ASSERT_TRUE(restart.begun());
  ASSERT_LT(processedAtFault, kBig) << "the restart must happen during the import";
  auto l = checkInvariant(r, presence("users", "email", kBig));
  report("postgrest-restart/upsert", r, l);
  EXPECT_GT(r.retries, 0u) << "the restart was not noticed; the test proves nothing";
  EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors.front().message);
  EXPECT_EQ(r.successful, kBig);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(kBig));
}

TEST_F(Fault, PostgrestRestartDuringInsertReportsUnknownOutcomes) {
  ServerGuard guard;
  auto rows = userRows(kBig);
  Outage restart("postgrest", 1s);
  std::size_t processedAtFault = 0;
  auto r = client_->from("users").bulkInsert(rows, {.retry = patientRetry(), .onProgress = [&](const BulkProgress& p) {
                                                      if (p.processed >= 30000 && !restart.begun()) {
                                                        processedAtFault = p.processed;
                                                        restart.begin();
                                                      }
                                                    }});
  restart.end();
  ASSERT_TRUE(restart.begun());
  ASSERT_LT(processedAtFault, kBig);
  auto l = checkInvariant(r, presence("users", "email", kBig));
  report("postgrest-restart/insert", r, l);
  EXPECT_GT(r.retries + r.failed, 0u) << "the restart was not noticed; the test proves nothing";
  for (const auto& e : r.errors) {
    // A plain insert is never sent twice after an unknown outcome: the only failures allowed are
    // the requests PostgREST may have run before it died.
    EXPECT_TRUE(e.outcomeUnknown) << "row " << e.indexes.front() << ": " << e.code << " " << e.message;
    EXPECT_EQ(e.kind, BulkErrorKind::Transport) << e.message;
  }
  EXPECT_EQ(r.notProcessed, 0u);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL restarted mid-run: PostgREST answers 503 (PGRST000/PGRST001, Retry-After) meanwhile
// ---------------------------------------------------------------------------------------------

TEST_F(Fault, PostgresRestartDuringUpsertCompletes) {
  ServerGuard guard;
  constexpr std::size_t n = 100000;
  auto rows = userRows(n);
  Outage restart("postgres", 1s);
  auto r = client_->from("users").bulkUpsert(
      rows, {.conflictColumns = {"email"}, .retry = patientRetry(), .onProgress = [&](const BulkProgress& p) {
               if (p.processed >= 20000) restart.begin();
             }});
  restart.end();
  ASSERT_TRUE(restart.begun());
  testenv("wait-postgrest");
  auto l = checkInvariant(r, presence("users", "email", n));
  report("postgres-restart/upsert", r, l);
  EXPECT_GT(r.retries, 0u) << "the restart was not noticed; the test proves nothing";
  EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors.front().code + " " + r.errors.front().message);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(n));
}

// ---------------------------------------------------------------------------------------------
// statement_timeout: large batches hit 57014, are split, and the import completes
// ---------------------------------------------------------------------------------------------

class SlowInsertGuard {
 public:
  SlowInsertGuard() {
    sql("create or replace function public.fault_slow_row() returns trigger language plpgsql as "
        "$$ begin perform pg_sleep(0.001); return new; end $$");
    sql("create trigger fault_slow before insert on api.events for each row execute function public.fault_slow_row()");
    sql("alter role anon set statement_timeout = '250ms'");
    sql("notify pgrst, 'reload config'");
  }
  ~SlowInsertGuard() {
    try {
      sql("drop trigger if exists fault_slow on api.events");
      sql("drop function if exists public.fault_slow_row()");
      sql("alter role anon reset statement_timeout");
      sql("notify pgrst, 'reload config'");
      std::this_thread::sleep_for(300ms);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "could not undo the slow-insert set-up: " << e.what();
    }
  }
};

TEST_F(Fault, StatementTimeoutSplitsBatchesAndCompletes) {
  SlowInsertGuard slow;
  // Wait until PostgREST applies the role setting: a 600-row insert (>= 600 ms) must time out.
  bool applied = false;
  std::vector<json> probe;
  for (int i = 0; i < 600; ++i) probe.push_back({{"kind", "probe"}});
  for (int attempt = 0; attempt < 50 && !applied; ++attempt) {
    try {
      client_->from("events").insert(probe);  // one request, all or nothing
    } catch (const Error& e) {
      applied = e.code() == "57014";
    }
    if (!applied) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(applied) << "statement_timeout for role anon was not applied by PostgREST";
  sql("delete from api.events");

  constexpr std::size_t n = 3000;
  std::vector<json> rows;
  for (std::size_t i = 0; i < n; ++i) rows.push_back({{"kind", rowKey(i)}, {"payload", {{"i", i}}}});
  auto r = client_->from("events").bulkInsert(rows, {.batchSize = 1000});
  auto l = checkInvariant(r, presence("events", "kind", n));  // events has no key: duplicates would show
  report("statement-timeout/insert", r, l);
  EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors.front().code + " " + r.errors.front().message);
  EXPECT_EQ(r.successful, n);
  EXPECT_GT(r.requests, r.batches) << "no batch was split";
  EXPECT_EQ(sqlCount("select count(*) from api.events"), static_cast<long long>(n));
}

// ---------------------------------------------------------------------------------------------
// The loopback proxy: resets before/after the body, stalls, HTML 502
// ---------------------------------------------------------------------------------------------

class ProxyFault : public Fault {
 protected:
  void SetUp() override {
    Fault::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    proxy_ = std::make_unique<FaultProxy>(portOf(server_->url), nullptr);
  }
  void TearDown() override {
    if (proxy_) proxy_->stop();
  }
  /// A client through the proxy with the library's own libcurl transport.
  Client proxied(std::chrono::milliseconds timeout = 60s) const {
    return Client({.url = proxy_->url(), .timeout = timeout});
  }
  /// Applies @p fault to the POSTs that @p pick selects, at most @p limit times.
  void faultPosts(ProxyAction fault, std::size_t limit, std::function<bool(const ProxiedRequest&)> pick) {
    auto left = std::make_shared<std::size_t>(limit);
    proxy_->setPolicy([=](const ProxiedRequest& r) {
      if (r.method == "POST" && *left > 0 && pick(r)) {
        --*left;
        return fault;
      }
      return ProxyAction::Forward;
    });
  }
  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(ProxyFault, ResetBeforeBodyIsRetriedEvenForPlainInsert) {
  // ~6 MB bodies: more than the kernel buffers on loopback (socket send buffer up to 4 MB plus the
  // proxy's small receive buffer), so the reset reaches the client while it is still sending and
  // the client knows the body had not been sent. (A body the kernel swallowed whole is, correctly,
  // an unknown outcome.)
  constexpr std::size_t n = 10000;
  auto rows = userRows(n, 3000);
  faultPosts(ProxyAction::ResetBeforeBody, 3, [](const ProxiedRequest& r) { return r.number % 2 == 1; });
  auto r = proxied().from("users").bulkInsert(
      rows, {.batchSize = 2000, .maxBatchBytes = 16u << 20, .concurrency = 2, .retry = patientRetry()});
  auto l = checkInvariant(r, presence("users", "email", n));
  report("proxy/reset-before-body/insert", r, l);
  EXPECT_EQ(proxy_->count(ProxyAction::ResetBeforeBody), 3u);
  EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors.front().message);
  EXPECT_EQ(r.successful, n);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(n));
}

TEST_F(ProxyFault, ResetAfterBodyOnReusedConnectionIsRetriedForUpsert) {
  constexpr std::size_t n = 5000;
  auto rows = userRows(n);
  // Only on reused connections: that is where libcurl would silently send the request again.
  faultPosts(ProxyAction::ResetAfterBody, 5, [](const ProxiedRequest& r) { return r.onConnection > 0; });
  auto r = proxied().from("users").bulkUpsert(
      rows, {.conflictColumns = {"email"}, .batchSize = 250, .concurrency = 2, .retry = patientRetry()});
  auto l = checkInvariant(r, presence("users", "email", n));
  report("proxy/reset-after-body/upsert", r, l);
  EXPECT_EQ(proxy_->count(ProxyAction::ResetAfterBody), 5u);
  EXPECT_GE(r.retries, 5u);
  EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors.front().message);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(n));
}

TEST_F(ProxyFault, ResetAfterBodyOnReusedConnectionIsReportedUnknownForInsert) {
  constexpr std::size_t n = 5000;
  auto rows = userRows(n);
  faultPosts(ProxyAction::ResetAfterBody, 5, [](const ProxiedRequest& r) { return r.onConnection > 0; });
  auto r = proxied().from("users").bulkInsert(rows, {.batchSize = 250, .concurrency = 2, .retry = patientRetry()});
  auto l = checkInvariant(r, presence("users", "email", n));
  report("proxy/reset-after-body/insert", r, l);
  ASSERT_EQ(proxy_->count(ProxyAction::ResetAfterBody), 5u);
  // The server committed those 5 batches; the client cannot know: 5 x 250 rows with outcomeUnknown,
  // all of them in the table, and nothing sent twice (a second send would fail with 23505).
  EXPECT_EQ(r.failed, 5u * 250u);
  EXPECT_EQ(l.unknownPresent, 5u * 250u);
  EXPECT_EQ(r.successful, n - 5u * 250u);
  for (const auto& e : r.errors) {
    EXPECT_TRUE(e.outcomeUnknown);
    EXPECT_EQ(e.transport, TransportErrorKind::Reset) << e.message;
    EXPECT_EQ(e.attempts, 1) << "a non-idempotent insert was sent again after an unknown outcome";
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(n));
}

TEST_F(ProxyFault, ResetAfterBodyThenServerDownIsReportedUnknownForInsert) {
  // The server commits, dies before answering, and stays down a moment: libcurl's silent re-send
  // on a fresh connection cannot connect. That must still be an unknown outcome, never a
  // "connection refused" that the engine would retry (which would insert the rows twice).
  constexpr std::size_t n = 3000;
  auto rows = userRows(n);
  faultPosts(ProxyAction::ResetAfterBodyThenDown, 1, [](const ProxiedRequest& r) { return r.onConnection > 0; });
  auto r = proxied().from("users").bulkInsert(rows, {.batchSize = 250, .concurrency = 1, .retry = patientRetry()});
  auto l = checkInvariant(r, presence("users", "email", n));
  report("proxy/reset-then-down/insert", r, l);
  ASSERT_EQ(proxy_->count(ProxyAction::ResetAfterBodyThenDown), 1u);
  EXPECT_EQ(r.failed, 250u);
  EXPECT_EQ(l.unknownPresent, 250u);
  for (const auto& e : r.errors) {
    EXPECT_TRUE(e.outcomeUnknown) << e.code << " " << e.message;
    EXPECT_EQ(e.attempts, 1) << e.message;
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(n));
}

TEST_F(ProxyFault, StallTimesOutAndUpsertIsRetried) {
  constexpr std::size_t n = 4000;
  auto rows = userRows(n);
  faultPosts(ProxyAction::Stall, 2, [](const ProxiedRequest&) { return true; });
  auto r = proxied(1500ms).from("users").bulkUpsert(
      rows, {.conflictColumns = {"email"}, .batchSize = 500, .retry = patientRetry()});
  auto l = checkInvariant(r, presence("users", "email", n));
  report("proxy/stall/upsert", r, l);
  EXPECT_EQ(proxy_->count(ProxyAction::Stall), 2u);
  EXPECT_GE(r.retries, 2u);
  EXPECT_EQ(r.failed, 0u) << (r.errors.empty() ? "" : r.errors.front().message);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(n));
}

TEST_F(ProxyFault, StallTimesOutAndInsertIsReportedUnknown) {
  constexpr std::size_t n = 4000;
  auto rows = userRows(n);
  faultPosts(ProxyAction::Stall, 2, [](const ProxiedRequest&) { return true; });
  auto r = proxied(1500ms).from("users").bulkInsert(rows, {.batchSize = 500, .retry = patientRetry()});
  auto l = checkInvariant(r, presence("users", "email", n));
  report("proxy/stall/insert", r, l);
  ASSERT_EQ(proxy_->count(ProxyAction::Stall), 2u);
  EXPECT_EQ(r.failed, 1000u);
  EXPECT_EQ(l.unknownPresent, 1000u) << "the stalled requests were committed upstream";
  for (const auto& e : r.errors) {
    EXPECT_TRUE(e.outcomeUnknown);
    EXPECT_EQ(e.transport, TransportErrorKind::Timeout) << e.message;
  }
}

TEST_F(ProxyFault, Html502IsAClearErrorAndRetriedOnlyWhenIdempotent) {
  proxy_->setPolicy(
      [](const ProxiedRequest& r) { return r.method == "GET" ? ProxyAction::Html502 : ProxyAction::Forward; });
  try {
    proxied().from("users").find();
    ADD_FAILURE() << "find() through a 502 did not throw";
  } catch (const TransportError& e) {
    ADD_FAILURE() << "a 502 answer is not a transport failure: " << e.what();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 502);
    EXPECT_FALSE(e.isTransport());
    EXPECT_NE(std::string(e.what()).find("502"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Bad Gateway"), std::string::npos) << e.what();
    EXPECT_LE(std::string(e.what()).size(), 700u) << "bounded message";
  }

  // Bulk: the first 3 POSTs get the 502 (never forwarded). Upsert retries them; insert must report
  // them as unknown (a proxy's 502 may come after the upstream committed).
  constexpr std::size_t n = 2000;
  auto rows = userRows(n);
  faultPosts(ProxyAction::Html502, 3, [](const ProxiedRequest&) { return true; });
  auto up = proxied().from("users").bulkUpsert(
      rows, {.conflictColumns = {"email"}, .batchSize = 200, .retry = patientRetry()});
  auto l = checkInvariant(up, presence("users", "email", n));
  report("proxy/502/upsert", up, l);
  EXPECT_EQ(up.failed, 0u);
  EXPECT_GE(up.retries, 3u);

  client_->rpc("reset_tables");
  faultPosts(ProxyAction::Html502, 3, [](const ProxiedRequest&) { return true; });
  auto in = proxied().from("users").bulkInsert(rows, {.batchSize = 200, .retry = patientRetry()});
  l = checkInvariant(in, presence("users", "email", n));
  report("proxy/502/insert", in, l);
  EXPECT_EQ(in.failed, 600u);
  EXPECT_EQ(l.unknownAbsent, 600u);
  for (const auto& e : in.errors) {
    EXPECT_EQ(e.status, 502);
    EXPECT_TRUE(e.outcomeUnknown);
    EXPECT_NE(e.message.find("Bad Gateway"), std::string::npos) << e.message;
  }
}

TEST_F(ProxyFault, EchoedTokenIsRedactedFromErrors) {
  const std::string token = "tok-" + std::string(40, 'z') + "-secret";
  proxy_->setPolicy([](const ProxiedRequest&) { return ProxyAction::EchoAuth401; });
  Client client({.url = proxy_->url(), .bearerToken = token});
  try {
    client.from("users").find();
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_EQ(std::string(e.what()).find(token), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("JWSError"), std::string::npos) << e.what();
  }
  auto r = client.from("users").bulkInsert(userRows(10));
  ASSERT_EQ(r.failed, 10u);
  for (const auto& e : r.errors) {
    EXPECT_EQ((e.message + e.details + e.hint).find(token), std::string::npos) << e.message;
  }
  EXPECT_GE(proxy_->count(ProxyAction::EchoAuth401), 2u);
}

// ---------------------------------------------------------------------------------------------
// Non-JSON answers from PostgREST itself
// ---------------------------------------------------------------------------------------------

TEST_F(Fault, TooLongUrlIsAClearError) {
  const std::string value(60 * 1024, 'a');
  try {
    client_->from("users").eq("email", value).find();
    ADD_FAILURE() << "a 60 KiB filter value did not fail";
  } catch (const TransportError& e) {
    ADD_FAILURE() << "expected an HTTP error, got a transport failure: " << e.what();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "");
    EXPECT_EQ(e.message(), "Bad Request");
    EXPECT_NE(std::string(e.what()).find("400"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Bad Request"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Many bulk calls at once on one Client
// ---------------------------------------------------------------------------------------------

TEST_F(Fault, ConcurrentBulkCallsOnOneClient) {
  constexpr std::size_t threads = 4, perThread = 20000, n = threads * perThread;
  auto rows = userRows(n);
  std::vector<BulkResult<json>> results(threads);
  std::vector<std::thread> pool;
  const Client client = *client_;  // copies share the state; the original is used too
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<json> mine(rows.begin() + static_cast<std::ptrdiff_t>(t * perThread),
                             rows.begin() + static_cast<std::ptrdiff_t>((t + 1) * perThread));
      const Client& c = t % 2 ? client : *client_;
      if (t < 2) {
        results[t] = c.from("users").bulkInsert(mine, {.batchSize = 500});
      } else {
        // No conflictColumns for one of them: the primary-key lookup (cached, shared) runs concurrently.
        results[t] = c.from("users").bulkUpsert(mine, {.conflictColumns = {"email"}, .batchSize = 500});
      }
    });
  }
  for (auto& th : pool) th.join();
  auto counts = presence("users", "email", n);
  for (std::size_t t = 0; t < threads; ++t) {
    EXPECT_TRUE(results[t].ok()) << "thread " << t << ": failed " << results[t].failed;
    EXPECT_EQ(results[t].successful, perThread);
  }
  std::size_t present = 0;
  for (int c : counts) {
    EXPECT_LE(c, 1);
    present += c == 1;
  }
  EXPECT_EQ(present, n);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), static_cast<long long>(n));
}

}  // namespace
}  // namespace pgrestify::test
