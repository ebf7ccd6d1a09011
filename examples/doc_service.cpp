// SPDX-License-Identifier: MIT
// The examples of docs/service.md ("Running in a service"), verbatim (tests/docs checks them): a
// token provider, a request observer feeding Prometheus-style counters and a log line, timeouts,
// connections and client-wide bulk defaults, mutual TLS, and the schema of one query. CTest passes the test server's URL as argv[1] (and exports the fixture's
// PGRESTIFY_TEST_JWT); the program checks its own expectations (exit status 0 = they held).
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

using example::expect;

// Prometheus-style counters fed by the request observer: requests by method, path and status,
// bytes, retries, splits and the total time spent waiting for answers.
class RequestMetrics {
 public:
  void record(const pgrestify::RequestEvent& e) {
    std::lock_guard lock(mutex_);  // the observer may be called from several threads at once
    const std::string labels = "method=\"" + e.method + "\",path=\"" + e.path + "\",status=\"" +
                               std::to_string(e.status) + "\"";
    ++requests_[labels];
    bytesSent_ += e.bytesSent;
    bytesReceived_ += e.bytesReceived;
    retries_ += e.retry ? 1 : 0;
    splits_ += e.split ? 1 : 0;
    seconds_ += static_cast<double>(e.duration.count()) / 1e6;
  }

  // The text exposition format, e.g. for a /metrics endpoint.
  std::string text() const {
    std::lock_guard lock(mutex_);
    std::ostringstream out;
    out << "# TYPE pgrestify_requests_total counter\n";
    for (const auto& [labels, n] : requests_) out << "pgrestify_requests_total{" << labels << "} " << n << "\n";
    out << "# TYPE pgrestify_request_bytes_sent_total counter\npgrestify_request_bytes_sent_total " << bytesSent_
        << "\n# TYPE pgrestify_request_bytes_received_total counter\npgrestify_request_bytes_received_total "
        << bytesReceived_ << "\n# TYPE pgrestify_request_retries_total counter\npgrestify_request_retries_total "
        << retries_ << "\n# TYPE pgrestify_request_splits_total counter\npgrestify_request_splits_total " << splits_
        << "\n# TYPE pgrestify_request_seconds_total counter\npgrestify_request_seconds_total " << seconds_ << "\n";
    return out.str();
  }

  std::size_t requests() const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& [labels, count] : requests_) n += count;
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::size_t> requests_;
  std::size_t bytesSent_ = 0, bytesReceived_ = 0, retries_ = 0, splits_ = 0;
  double seconds_ = 0;
};

// A token source: here the environment; in a service, a secrets manager or an OAuth client.
std::string currentToken() {
  const char* token = std::getenv("PGRESTIFY_TEST_JWT");
  return token ? token : "";
}

pgrestify::Client makeServiceClient(const std::string& url, RequestMetrics& metrics) {
  using namespace std::chrono_literals;
  return pgrestify::createClient({
      .url = url,
      .timeout = 30s,       // per request, unless a call sets its own `timeout`
      .maxConnections = 8,  // connections a bulk call keeps open (more if its concurrency is higher)
      .tokenProvider = [] { return currentToken(); },  // asked again before the JWT's exp and after a 401
      .onRequest =
          [&metrics](const pgrestify::RequestEvent& e) {
            metrics.record(e);
            if (e.status >= 400 || e.status == 0 || e.retry) {  // a log line for what went wrong
              std::clog << "pgrestify " << e.method << " " << e.path << " -> " << e.status << " " << e.code << " ("
                        << e.rows << " rows, attempt " << e.attempt << (e.split ? ", split" : "") << ", "
                        << e.duration.count() / 1000 << " ms)\n";
            }
          },
      // Every bulk call of this client, unless the call sets its own value.
      .bulkDefaults = {.batchSize = 500, .concurrency = 4, .retry = {.maxAttempts = 8, .retryBudget = 60s}},
  });
}

// Mutual TLS to PostgREST behind a TLS proxy: the CA that signed the server's certificate, and the
// service's own certificate and key.
pgrestify::Client makeTlsClient(const std::string& url, const std::string& ca, const std::string& cert,
                                const std::string& key) {
  return pgrestify::createClient({
      .url = url,
      .bearerToken = currentToken(),
      .caInfo = ca,
      .clientCert = cert,
      .clientKey = key,
      .minTlsVersion = pgrestify::TlsVersion::Tls1_2,
  });
}

int main(int argc, char** argv) {
  const std::string url = example::serverUrl(argc, argv);
  RequestMetrics metrics;
  pgrestify::Client client = makeServiceClient(url, metrics);

  std::vector<nlohmann::json> users;
  for (int i = 0; i < 250; ++i) {
    users.push_back({{"name", "svc" + std::to_string(i)}, {"email", "svc" + std::to_string(i) + "@example.com"}});
  }
  users[120]["role"] = "nobody";  // breaks the role CHECK: the batch is split to isolate it
  // This call overrides two of the client's settings: its batch size and its requests' timeout.
  pgrestify::BulkInsertOptions options;
  options.batchSize = 100;
  options.timeout = std::chrono::seconds(5);
  auto result = client.from("users").bulkInsert(users, options);
  expect(result.successful == 249 && result.failed == 1, "249 users written, the bad one failed alone");

  // The schema of one query: Content-Profile / Accept-Profile for this query only.
  auto notes = client.from("notes").schema("other");
  notes.insert(nlohmann::json{{"body", "written to other.notes"}});
  expect(notes.count() == 1, "one note in the other schema");

  // Through nginx with TLS and a client certificate, when the test fixture runs it.
  auto env = [](const char* name) { return std::string(std::getenv(name) ? std::getenv(name) : ""); };
  if (!env("PGRESTIFY_TEST_TLS_URL").empty()) {
    auto tls = makeTlsClient(env("PGRESTIFY_TEST_TLS_URL"), env("PGRESTIFY_TEST_TLS_CA"), env("PGRESTIFY_TEST_TLS_CERT"),
                             env("PGRESTIFY_TEST_TLS_KEY"));
    expect(tls.from("users").count() == 249, "the same table through TLS");
  }

  const std::string text = metrics.text();
  std::cout << text;
  expect(metrics.requests() == result.requests + 2, "one event per request (bulk, insert, count)");
  expect(text.find("pgrestify_requests_total{method=\"POST\",path=\"/users\",status=\"201\"}") != std::string::npos,
         "the counters name method, path and status");
  expect(text.find("pgrestify_request_splits_total 0") == std::string::npos, "the isolation split is counted");
  expect(text.find(currentToken()) == std::string::npos || currentToken().empty(), "no token in the metrics");
  return example::finish();
}
