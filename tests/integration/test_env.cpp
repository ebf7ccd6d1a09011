// SPDX-License-Identifier: MIT
#include "test_env.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace pgrestify::test {

namespace {

std::map<std::string, std::string> loadEnv() {
  std::map<std::string, std::string> env;
  if (const char* file = std::getenv("PGRESTIFY_TEST_ENV_FILE")) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  for (const char* key :
       {"PGRESTIFY_TEST_URL", "PGRESTIFY_TEST_JWT", "PGRESTIFY_TEST_JWT_SECRET", "PGRESTIFY_TEST_PG_URI",
        "PGRESTIFY_TEST_DIR", "PGRESTIFY_TEST_PSQL", "PGRESTIFY_TEST_ECHO_URL", "PGRESTIFY_TEST_SILENT_URL",
        "PGRESTIFY_TEST_TLS_URL", "PGRESTIFY_TEST_TLS_CA", "PGRESTIFY_TEST_TLS_CERT", "PGRESTIFY_TEST_TLS_KEY",
        "PGRESTIFY_TEST_TLS_KEY_ENCRYPTED", "PGRESTIFY_TEST_TLS_KEY_PASSWORD", "PGRESTIFY_TEST_TLS_WRONG_CA",
        "PGRESTIFY_TEST_COMMIT_URL", "PGRESTIFY_TEST_LB_URL"}) {
    if (const char* v = std::getenv(key); v && *v && !env.count(key)) env[key] = v;
  }
  return env;
}

std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

class CountingSessionImpl : public TransportSession {
 public:
  CountingSessionImpl(CountingTransport& owner, std::unique_ptr<TransportSession> inner, std::mutex& mutex,
                      std::map<std::string, std::size_t>& counts)
      : owner_(owner), inner_(std::move(inner)), mutex_(mutex), counts_(counts) {}
  void start(std::uint64_t tag, HttpRequest request) override {
    {
      std::lock_guard lock(mutex_);
      ++counts_[request.method];
    }
    inner_->start(tag, std::move(request));
  }
  std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds maxWait) override {
    return inner_->poll(maxWait);
  }
  std::size_t inFlight() const override { return inner_->inFlight(); }
  void abort(std::uint64_t tag) override { inner_->abort(tag); }
  void abortAll() override { inner_->abortAll(); }

 private:
  [[maybe_unused]] CountingTransport& owner_;
  std::unique_ptr<TransportSession> inner_;
  std::mutex& mutex_;
  std::map<std::string, std::size_t>& counts_;
};

}  // namespace

const TestServer* server() {
  static const std::unique_ptr<TestServer> instance = [] {
    auto env = loadEnv();
    if (env["PGRESTIFY_TEST_URL"].empty()) return std::unique_ptr<TestServer>();
    auto s = std::make_unique<TestServer>();
    s->url = env["PGRESTIFY_TEST_URL"];
    s->jwt = env["PGRESTIFY_TEST_JWT"];
    s->jwtSecret = env["PGRESTIFY_TEST_JWT_SECRET"];
    s->pgUri = env["PGRESTIFY_TEST_PG_URI"];
    s->dir = env["PGRESTIFY_TEST_DIR"];
    s->psql = env["PGRESTIFY_TEST_PSQL"].empty() ? "psql" : env["PGRESTIFY_TEST_PSQL"];
    s->echoUrl = env["PGRESTIFY_TEST_ECHO_URL"];
    s->silentUrl = env["PGRESTIFY_TEST_SILENT_URL"];
    s->tlsUrl = env["PGRESTIFY_TEST_TLS_URL"];
    s->tlsCa = env["PGRESTIFY_TEST_TLS_CA"];
    s->tlsCert = env["PGRESTIFY_TEST_TLS_CERT"];
    s->tlsKey = env["PGRESTIFY_TEST_TLS_KEY"];
    s->tlsKeyEncrypted = env["PGRESTIFY_TEST_TLS_KEY_ENCRYPTED"];
    s->tlsKeyPassword = env["PGRESTIFY_TEST_TLS_KEY_PASSWORD"];
    s->tlsWrongCa = env["PGRESTIFY_TEST_TLS_WRONG_CA"];
    s->commitUrl = env["PGRESTIFY_TEST_COMMIT_URL"];
    s->lbUrl = env["PGRESTIFY_TEST_LB_URL"];
    return s;
  }();
  return instance.get();
}

bool serverRequired() {
  auto set = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v && std::string(v) != "0" && std::string(v) != "false";
  };
  return set("CI") || set("PGRESTIFY_REQUIRE_SERVER");
}

std::string sql(const std::string& statement) {
  const TestServer* s = server();
  if (!s || s->pgUri.empty()) throw std::runtime_error("no PostgreSQL connection for direct SQL");
  std::string cmd = shellQuote(s->psql) + " -X -q -At -v ON_ERROR_STOP=1 " + shellQuote(s->pgUri) + " -c " +
                    shellQuote(statement) + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed");
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  int status = pclose(pipe);
  if (status != 0) throw std::runtime_error("psql failed: " + out);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

long long sqlCount(const std::string& statement) { return std::stoll(sql(statement)); }

int testenv(const std::string& subcommand) { return testenv(subcommand, ""); }

int testenv(const std::string& subcommand, const std::string& args) {
  const TestServer* s = server();
  if (!s || s->dir.empty()) return -1;
  std::string cmd = shellQuote(std::string(PGRESTIFY_SOURCE_DIR) + "/scripts/testenv.sh") + " " + subcommand + " " +
                    shellQuote(s->dir) + (args.empty() ? "" : " " + args);
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::unique_ptr<TransportSession> CountingTransport::openSession() {
  return std::make_unique<CountingSessionImpl>(*this, inner_->openSession(), mutex_, counts_);
}

std::size_t CountingTransport::count(const std::string& method) const {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(method);
  return it == counts_.end() ? 0 : it->second;
}

std::size_t CountingTransport::total() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [m, c] : counts_) n += c;
  return n;
}

void CountingTransport::reset() {
  std::lock_guard lock(mutex_);
  counts_.clear();
}

void IntegrationTest::SetUp() {
  server_ = server();
  if (!server_) {
    if (serverRequired()) {
      FAIL() << "no test server: PGRESTIFY_TEST_ENV_FILE/PGRESTIFY_TEST_URL unset and CI requires one";
    }
    GTEST_SKIP() << "no test server (set PGRESTIFY_TEST_URL or run through ctest)";
  }
  counting_ = std::make_shared<CountingTransport>(makeCurlTransport());
  client_ = std::make_unique<Client>(makeClient());
  client_->rpc("reset_tables");
  counting_->reset();
}

Client IntegrationTest::makeClient(ClientOptions options) const {
  if (options.url.empty()) options.url = server_->url;
  if (!options.transport) options.transport = counting_;
  return Client(std::move(options));
}

}  // namespace pgrestify::test
