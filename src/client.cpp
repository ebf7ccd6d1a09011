// SPDX-License-Identifier: MIT
#include <pgrestify/detail/bulk_engine.hpp>
#include <pgrestify/detail/client_state.hpp>
#include <pgrestify/detail/encode.hpp>
#include <pgrestify/version.hpp>

#include <stdexcept>

namespace pgrestify::detail {

namespace {
bool isWrite(std::string_view method) { return method != "GET" && method != "HEAD"; }

// Replaces every occurrence of the bearer token in failed answers, whatever the transport, so a
// server (or proxy) that echoes it cannot leak it into Error::what(), BulkError or logs.
class RedactingTransport final : public Transport {
 public:
  RedactingTransport(std::shared_ptr<Transport> inner, std::string token)
      : inner_(std::move(inner)), token_(std::move(token)) {}

  std::unique_ptr<TransportSession> openSession() override {
    return std::make_unique<Session>(inner_->openSession(), token_);
  }

 private:
  class Session final : public TransportSession {
   public:
    Session(std::unique_ptr<TransportSession> inner, const std::string& token) : inner_(std::move(inner)), token_(token) {}
    void start(std::uint64_t tag, HttpRequest request) override { inner_->start(tag, std::move(request)); }
    std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds maxWait) override {
      auto done = inner_->poll(maxWait);
      for (auto& [tag, response] : done) {
        if (response.ok()) continue;
        redact(response.body);
        redact(response.errorMessage);
        for (auto& [name, value] : response.headers) redact(value);
      }
      return done;
    }
    std::size_t inFlight() const override { return inner_->inFlight(); }

   private:
    void redact(std::string& text) const {
      for (auto pos = text.find(token_); pos != std::string::npos; pos = text.find(token_, pos + 10)) {
        text.replace(pos, token_.size(), "[redacted]");
      }
    }
    std::unique_ptr<TransportSession> inner_;
    const std::string& token_;
  };

  std::shared_ptr<Transport> inner_;
  std::string token_;
};
}  // namespace

ClientState::ClientState(ClientOptions options) : options_(std::move(options)) {
  if (options_.url.empty()) throw std::invalid_argument("pgrestify: ClientOptions::url must be set");
  if (options_.url.rfind("http://", 0) != 0 && options_.url.rfind("https://", 0) != 0) {
    throw std::invalid_argument("pgrestify: ClientOptions::url must start with http:// or https://");
  }
  for (char c : options_.url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      throw std::invalid_argument("pgrestify: ClientOptions::url contains a space or control character");
    }
  }
  baseUrl_ = options_.url;
  while (!baseUrl_.empty() && baseUrl_.back() == '/') baseUrl_.pop_back();
  for (const auto& [name, value] : options_.headers) {
    checkHeader(name, value);
    baseHeaders_.emplace_back(name, value);
  }
  if (!options_.bearerToken.empty()) {
    checkHeader("Authorization", options_.bearerToken);
    baseHeaders_.emplace_back("Authorization", "Bearer " + options_.bearerToken);
  }
  if (!options_.schema.empty()) checkHeader("Accept-Profile", options_.schema);
  checkHeader("User-Agent", options_.userAgent);
  transport_ = options_.transport;
  if (!transport_) {
    CurlTransportOptions t;
    t.timeout = options_.timeout;
    t.connectTimeout = options_.connectTimeout;
    t.verifyTls = options_.verifyTls;
    t.caInfo = options_.caInfo;
    t.userAgent = options_.userAgent;
    transport_ = makeCurlTransport(t);
  }
  if (!options_.bearerToken.empty()) transport_ = std::make_shared<RedactingTransport>(transport_, options_.bearerToken);
}

HttpRequest ClientState::makeRequest(std::string_view method, std::string_view table, const Params& params,
                                     std::string_view prefer, std::string body, const Headers& extra) const {
  HttpRequest req;
  req.method = std::string(method);
  req.url.reserve(baseUrl_.size() + table.size() + 64);
  req.url = baseUrl_;
  req.url.push_back('/');
  req.url += percentEncode(table);
  if (!params.empty()) {
    req.url.push_back('?');
    req.url += buildQuery(params);
  }
  req.headers = baseHeaders_;
  if (!options_.schema.empty()) {
    req.headers.emplace_back(isWrite(method) ? "Content-Profile" : "Accept-Profile", options_.schema);
  }
  req.headers.emplace_back("Accept", "application/json");
  if (isWrite(method)) req.headers.emplace_back("Content-Type", "application/json");
  if (!prefer.empty()) req.headers.emplace_back("Prefer", std::string(prefer));
  for (const auto& [name, value] : extra) {
    checkHeader(name, value);
    req.headers.emplace_back(name, value);
  }
  req.body = std::move(body);
  return req;
}

HttpRequest ClientState::makeRpcRequest(std::string_view function, std::string body) const {
  checkIdentifier(function, "function name");
  HttpRequest req = makeRequest("POST", "", {}, "", std::move(body));
  req.url = baseUrl_ + "/rpc/" + percentEncode(function);
  return req;
}

HttpResponse ClientState::send(HttpRequest request) const { return transport_->send(std::move(request)); }

void throwIfFailed(const HttpResponse& response) {
  if (response.ok()) return;
  throwError(errorInfo(response));
}

nlohmann::json ClientState::sendJson(HttpRequest request) const {
  HttpResponse response = send(std::move(request));
  throwIfFailed(response);
  if (response.body.empty()) return nullptr;
  auto j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    ErrorInfo info;
    info.status = response.status;
    info.message = "the server's answer is not valid JSON";
    throw Error(info);
  }
  return j;
}

std::vector<std::string> ClientState::primaryKey(const std::string& table) const {
  {
    std::lock_guard lock(mutex_);
    auto it = primaryKeys_.find(table);
    if (it != primaryKeys_.end()) return it->second;
  }
  HttpRequest req = makeRequest("GET", "", {}, "", "");
  for (auto& [name, value] : req.headers) {
    if (name == "Accept") value = "application/openapi+json";
  }
  nlohmann::json doc = sendJson(std::move(req));
  std::vector<std::string> pk;
  if (doc.is_object() && doc.contains("definitions") && doc["definitions"].contains(table)) {
    const auto& props = doc["definitions"][table]["properties"];
    if (props.is_object()) {
      for (auto it = props.begin(); it != props.end(); ++it) {
        const auto& desc = it.value().value("description", std::string());
        if (desc.find("<pk/>") != std::string::npos) pk.push_back(it.key());
      }
    }
  }
  std::lock_guard lock(mutex_);
  primaryKeys_[table] = pk;
  return pk;
}

}  // namespace pgrestify::detail
