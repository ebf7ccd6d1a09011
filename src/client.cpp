// SPDX-License-Identifier: MIT
#include <pgrestify/detail/bulk_engine.hpp>
#include <pgrestify/detail/client_state.hpp>
#include <pgrestify/detail/encode.hpp>
#include <pgrestify/version.hpp>

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

namespace pgrestify::detail {

namespace {
bool isWrite(std::string_view method) { return method != "GET" && method != "HEAD"; }

// Error answers become exception messages, BulkError texts and logs: a server (or proxy) that
// echoes the caller's credentials must not put them there. This decorator, put in front of every
// transport (libcurl's or a user's), replaces the credentials of each request's Authorization
// header (from ClientOptions::bearerToken, ClientOptions::headers or QueryBuilder::header) in the
// body, the transport message and the header values of that request's failed answer.
class RedactingTransport final : public Transport {
 public:
  explicit RedactingTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {}

  std::unique_ptr<TransportSession> openSession() override {
    return std::make_unique<Session>(inner_->openSession());
  }

 private:
  class Session final : public TransportSession {
   public:
    explicit Session(std::unique_ptr<TransportSession> inner) : inner_(std::move(inner)) {}
    void start(std::uint64_t tag, HttpRequest request) override {
      if (auto secret = credentialOf(request); !secret.empty()) secrets_[tag] = std::move(secret);
      inner_->start(tag, std::move(request));
    }
    std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds maxWait) override {
      auto done = inner_->poll(maxWait);
      for (auto& [tag, response] : done) {
        auto it = secrets_.find(tag);
        if (it == secrets_.end()) continue;
        if (!response.ok()) {
          redact(response.body, it->second);
          redact(response.errorMessage, it->second);
          for (auto& [name, value] : response.headers) redact(value, it->second);
        }
        secrets_.erase(it);
      }
      return done;
    }
    std::size_t inFlight() const override { return inner_->inFlight(); }

   private:
    // The credentials of `Authorization: <scheme> <credentials>` (or the whole value without a
    // scheme); empty when absent or too short to tell apart from ordinary text.
    static std::string credentialOf(const HttpRequest& request) {
      auto auth = findHeader(request.headers, "Authorization");
      if (!auth) return {};
      std::string_view value = *auth;
      if (auto space = value.find(' '); space != std::string_view::npos) value.remove_prefix(space + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (value.size() < 8) return {};
      return std::string(value);
    }
    static void redact(std::string& text, const std::string& secret) {
      for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 10)) {
        text.replace(pos, secret.size(), "[redacted]");
      }
    }
    std::unique_ptr<TransportSession> inner_;
    std::unordered_map<std::uint64_t, std::string> secrets_;
  };

  std::shared_ptr<Transport> inner_;
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
  transport_ = std::make_shared<RedactingTransport>(std::move(transport_));
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
  std::vector<std::string> pk;
  for (const auto& c : tableSchema(table)->columns) {
    if (c.primaryKey) pk.push_back(c.name);
  }
  return pk;
}

std::shared_ptr<const TableSchema> ClientState::tableSchema(const std::string& table) const {
  {
    std::lock_guard lock(mutex_);
    auto it = schemas_.find(table);
    if (it != schemas_.end()) return it->second;
  }
  HttpRequest req = makeRequest("GET", "", {}, "", "");
  for (auto& [name, value] : req.headers) {
    if (name == "Accept") value = "application/openapi+json";
  }
  nlohmann::json doc = sendJson(std::move(req));
  auto schema = std::make_shared<TableSchema>();
  const nlohmann::json* definition = nullptr;
  if (doc.is_object()) {
    auto defs = doc.find("definitions");
    if (defs != doc.end() && defs->is_object()) {
      auto it = defs->find(table);
      if (it != defs->end() && it->is_object()) definition = &*it;
    }
  }
  if (definition) {
    schema->found = true;
    std::vector<std::string> required;
    if (auto r = definition->find("required"); r != definition->end() && r->is_array()) {
      for (const auto& name : *r) {
        if (name.is_string()) required.push_back(name.get<std::string>());
      }
    }
    auto props = definition->find("properties");
    if (props != definition->end() && props->is_object()) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        ColumnInfo column;
        column.name = it.key();
        if (it->is_object()) {
          auto text = [&](const char* field) {
            auto f = it->find(field);
            return f != it->end() && f->is_string() ? f->get<std::string>() : std::string();
          };
          column.format = text("format");
          column.type = text("type");
          column.primaryKey = text("description").find("<pk/>") != std::string::npos;
        }
        column.required = std::find(required.begin(), required.end(), column.name) != required.end();
        schema->columns.push_back(std::move(column));
      }
    }
  }
  std::lock_guard lock(mutex_);
  return schemas_.emplace(table, std::move(schema)).first->second;
}

}  // namespace pgrestify::detail
