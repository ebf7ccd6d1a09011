// SPDX-License-Identifier: MIT
// The shared state behind every Client (src/client_state.hpp): composing requests, the redaction
// decorator around the transport, checking that answers are PostgREST's, the table-description cache,
// the token provider and the request observer.
#include "client_state.hpp"
#include "error_info.hpp"
#include "operations.hpp"

#include <pgrestify/detail/encode.hpp>
#include <pgrestify/version.hpp>

#include <algorithm>
#include <cctype>
#include <new>
#include <optional>
#include <stdexcept>
#include <unordered_map>

namespace pgrestify::detail {

namespace {
bool isWrite(std::string_view method) { return method != "GET" && method != "HEAD"; }

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && startsWithIgnoreCase(a, b);
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A JSON media type (application/json, application/vnd.pgrst.object+json, application/openapi+json...).
bool isJsonType(std::string_view contentType) {
  auto type = trimmed(contentType.substr(0, contentType.find(';')));
  if (!startsWithIgnoreCase(type, "application/")) return false;
  if (type.size() == 16 && startsWithIgnoreCase(type, "application/json")) return true;
  return type.size() > 17 && startsWithIgnoreCase(type.substr(type.size() - 5), "+json");
}

std::string base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = value(c);
    if (v < 0) return {};
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

// Credentials shorter than this are not redacted: they cannot be told apart from ordinary text.
constexpr std::size_t kMinSecret = 8;

// The texts that reveal the credentials of one request: the values of its credential-bearing
// headers (built-in list + ClientOptions::secretHeaders), the part after an Authorization scheme,
// the decoded `user:password` of Basic and its password, each cookie value; and the JSON-escaped
// form of each (an error body quotes the request inside a JSON string). Longest first.
std::vector<std::string> secretsOf(const HttpRequest& request, const std::vector<std::string>& declared) {
  std::vector<std::string> out;
  auto add = [&](std::string_view s) {
    s = trimmed(s);
    if (s.size() < kMinSecret) return;
    out.emplace_back(s);
    std::string escaped = nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    escaped = escaped.substr(1, escaped.size() - 2);
    if (escaped != s) out.push_back(std::move(escaped));
  };
  for (const auto& [name, value] : request.headers) {
    if (!isCredentialHeader(name, declared)) continue;
    std::string_view v = trimmed(value);
    add(v);
    const bool auth = equalsIgnoreCase(name, "Authorization") || equalsIgnoreCase(name, "Proxy-Authorization");
    if (auth) {
      if (auto space = v.find(' '); space != std::string_view::npos) {
        std::string_view scheme = v.substr(0, space);
        std::string_view credentials = trimmed(v.substr(space + 1));
        add(credentials);
        if (equalsIgnoreCase(scheme, "Basic")) {
          std::string decoded = base64Decode(credentials);
          add(decoded);
          if (auto colon = decoded.find(':'); colon != std::string::npos)
            add(std::string_view(decoded).substr(colon + 1));
        }
      }
    } else if (equalsIgnoreCase(name, "Cookie") || equalsIgnoreCase(name, "Set-Cookie")) {
      for (std::size_t start = 0; start < v.size();) {
        auto end = v.find(';', start);
        if (end == std::string_view::npos) end = v.size();
        auto pair = v.substr(start, end - start);
        if (auto eq = pair.find('='); eq != std::string_view::npos) add(pair.substr(eq + 1));
        start = end + 1;
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void redactText(std::string& text, const std::vector<std::string>& secrets) {
  static const std::string kRedacted = "[redacted]";
  for (const auto& secret : secrets) {
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + kRedacted.size())) {
      text.replace(pos, secret.size(), kRedacted);
    }
  }
}

// Error answers become exception messages, BulkError texts and logs: a server (or proxy) that
// echoes the caller's credentials must not put them there. This decorator, put in front of every
// transport (libcurl's or a user's), replaces the credentials each request carried (the values of
// its credential-bearing headers, see secretsOf) with "[redacted]" in the answer to that request:
// in every response header value and transport message, in the body of every answer that is not
// 2xx, and in the body of a 2xx answer that is not JSON (a page from something that is not
// PostgREST; a 2xx JSON body is data and is never changed).
class RedactingTransport final : public Transport {
 public:
  RedactingTransport(std::shared_ptr<Transport> inner, std::vector<std::string> declared)
      : inner_(std::move(inner)), declared_(std::make_shared<const std::vector<std::string>>(std::move(declared))) {}

  std::unique_ptr<TransportSession> openSession() override {
    return std::make_unique<Session>(inner_->openSession(), declared_);
  }

 private:
  class Session final : public TransportSession {
   public:
    Session(std::unique_ptr<TransportSession> inner, std::shared_ptr<const std::vector<std::string>> declared)
        : inner_(std::move(inner)), declared_(std::move(declared)) {}
    void start(std::uint64_t tag, HttpRequest request) override {
      if (auto secrets = secretsOf(request, *declared_); !secrets.empty()) secrets_[tag] = std::move(secrets);
      inner_->start(tag, std::move(request));
    }
    std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds maxWait) override {
      auto done = inner_->poll(maxWait);
      for (auto& [tag, response] : done) {
        auto it = secrets_.find(tag);
        if (it == secrets_.end()) continue;
        const auto& secrets = it->second;
        auto type = response.header("Content-Type");
        if (!response.ok() || !isJsonType(type.value_or(""))) redactText(response.body, secrets);
        redactText(response.errorMessage, secrets);
        for (auto& [name, value] : response.headers) redactText(value, secrets);
        secrets_.erase(it);
      }
      return done;
    }
    std::size_t inFlight() const override { return inner_->inFlight(); }
    void abort(std::uint64_t tag) override { inner_->abort(tag); }
    void abortAll() override { inner_->abortAll(); }

   private:
    std::unique_ptr<TransportSession> inner_;
    std::shared_ptr<const std::vector<std::string>> declared_;
    std::unordered_map<std::uint64_t, std::vector<std::string>> secrets_;
  };

  std::shared_ptr<Transport> inner_;
  std::shared_ptr<const std::vector<std::string>> declared_;
};

// The provider's token as an Authorization value ("Bearer <token>"), empty for an empty token.
// Throws std::invalid_argument for a token that cannot be a header value (CR/LF).
// The `exp` claim of a JWT ("Bearer header.payload.signature"; the payload is read, not
// verified: the server checks the signature), or nothing for another kind of token.
std::optional<std::chrono::system_clock::time_point> jwtExpiry(std::string_view authorization) {
  constexpr std::string_view bearer = "Bearer ";
  if (authorization.substr(0, bearer.size()) != bearer) return std::nullopt;
  std::string_view token = authorization.substr(bearer.size());
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return std::nullopt;
  const auto claims = nlohmann::json::parse(base64Decode(token.substr(first + 1, second - first - 1)), nullptr, false);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number()) return std::nullopt;
  const double exp = claims["exp"].get<double>();
  if (!(exp > 0 && exp < 1e11)) return std::nullopt;  // not a time this side of the year 5000
  return std::chrono::system_clock::time_point(std::chrono::seconds(static_cast<long long>(exp)));
}

std::string fetchAuthorization(const TokenProvider& provider) {
  std::string token = provider();
  if (token.empty()) return {};
  if (token.find_first_of("\r\n") != std::string::npos || token.find('\0') != std::string::npos) {
    throw std::invalid_argument("pgrestify: the token provider returned a token with CR, LF or NUL (not sent)");
  }
  return "Bearer " + token;
}

// "GET /users" for messages: the method and the path below the base URL, without the query.
std::string describeRequest(const HttpRequest& request, const std::string& baseUrl) {
  std::string_view url = request.url;
  if (url.rfind(baseUrl, 0) == 0) url.remove_prefix(baseUrl.size());
  url = url.substr(0, url.find_first_of("?#"));
  if (url.empty()) url = "/";
  return request.method + " " + std::string(url.substr(0, 200));
}

// A response header value as messages quote it: bounded, or "none".
std::string quoted(std::optional<std::string_view> value) {
  if (!value) return "none";
  std::string out(value->substr(0, 80));
  if (value->size() > 80) out += "...";
  return "'" + out + "'";
}

[[noreturn]] void throwNotPostgrest(const HttpResponse& response, const std::string& request, std::string expected,
                                    std::string got) {
  ErrorInfo info;
  info.status = response.status;
  info.message = "the answer to " + request + " is not PostgREST's answer: expected " + std::move(expected) + "; got " +
                 std::move(got) + " (is the URL a PostgREST 12 server?)";
  throw Error(info);
}

// `a-b/t`, `*/t` with t a number or `*`. Sets first/last (-1 for `*`).
bool parseContentRange(std::string_view header, long long& first, long long& last) {
  header = trimmed(header);
  auto slash = header.find('/');
  if (slash == std::string_view::npos) return false;
  auto range = header.substr(0, slash);
  auto total = header.substr(slash + 1);
  auto number = [](std::string_view s, long long& n) {
    if (s.empty() || s.size() > 18) return false;
    n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + (c - '0');
    }
    return true;
  };
  long long t = 0;
  if (total != "*" && !number(total, t)) return false;
  if (range == "*") {
    first = last = -1;
    return true;
  }
  auto dash = range.find('-');
  if (dash == std::string_view::npos) return false;
  return number(range.substr(0, dash), first) && number(range.substr(dash + 1), last) && first <= last;
}
}  // namespace

ClientState::ClientState(ClientOptions options) : options_(std::move(options)) {
  if (options_.url.empty()) throw std::invalid_argument("pgrestify: ClientOptions::url must be set");
  validate(options_.bulkDefaults);
  checkUrl(options_.url, "ClientOptions::url", /*base=*/true);
  baseUrl_ = options_.url;
  while (!baseUrl_.empty() && baseUrl_.back() == '/') baseUrl_.pop_back();
  for (const auto& name : options_.secretHeaders) checkHeader(name, "");
  for (const auto& [name, value] : options_.headers) {
    checkUserHeader(name, value);
    baseHeaders_.emplace_back(name, value);
  }
  if (options_.renewTokenBefore && options_.renewTokenBefore->count() < 0) {
    throw std::invalid_argument("pgrestify: ClientOptions::renewTokenBefore must not be negative");
  }
  if (options_.tokenProvider) {
    if (!options_.bearerToken.empty()) {
      throw std::invalid_argument(
          "pgrestify: set ClientOptions::bearerToken or ClientOptions::tokenProvider, not both");
    }
    if (findHeader(options_.headers, "Authorization")) {
      throw std::invalid_argument(
          "pgrestify: ClientOptions::headers sets Authorization, and ClientOptions::tokenProvider sets it too: give "
          "only one");
    }
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
    t.maxConnections = options_.maxConnections;
    t.clientCert = options_.clientCert;
    t.clientKey = options_.clientKey;
    t.keyPassword = options_.keyPassword;
    t.caPath = options_.caPath;
    t.minTlsVersion = options_.minTlsVersion;
    t.proxy = options_.proxy;
    transport_ = makeCurlTransport(t);
  }
  transport_ = std::make_shared<RedactingTransport>(std::move(transport_), options_.secretHeaders);
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
  if (options_.tokenProvider) {
    if (std::string auth = authorization(); !auth.empty()) req.headers.emplace_back("Authorization", std::move(auth));
  }
  // QueryBuilder::schema puts the schema of one query into @p extra as Accept-Profile.
  std::string_view schema = options_.schema;
  for (const auto& [name, value] : extra) {
    if (equalsIgnoreCase(name, "Accept-Profile")) schema = value;
  }
  if (!schema.empty()) {
    checkHeader("Accept-Profile", schema);
    req.headers.emplace_back(isWrite(method) ? "Content-Profile" : "Accept-Profile", std::string(schema));
  }
  req.headers.emplace_back("Accept", "application/json");
  if (isWrite(method)) req.headers.emplace_back("Content-Type", "application/json");
  if (!prefer.empty()) req.headers.emplace_back("Prefer", std::string(prefer));
  for (const auto& [name, value] : extra) {
    if (equalsIgnoreCase(name, "Accept-Profile")) continue;
    checkUserHeader(name, value);
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

std::string ClientState::authorization() const {
  if (!options_.tokenProvider) return {};
  {
    std::lock_guard lock(tokenMutex_);
    if (tokenFetched_ && !renewalDue()) return authorization_;
  }
  std::lock_guard renew(renewMutex_);  // one call of the provider at a time
  bool fetched = false;
  {
    std::lock_guard lock(tokenMutex_);
    if (tokenFetched_ && !renewalDue()) return authorization_;
    fetched = tokenFetched_;
  }
  if (!fetched) {
    std::string value = fetchAuthorization(options_.tokenProvider);  // an exception: nothing is sent
    std::lock_guard lock(tokenMutex_);
    cacheToken(std::move(value));
    tokenFetched_ = true;
    return authorization_;
  }
  // Renewal before expiry. A failing provider keeps the cached token: the server decides, and a
  // refusal asks again (renewToken).
  std::string value = askForFreshToken();
  std::lock_guard lock(tokenMutex_);
  askedAt_ = std::chrono::steady_clock::now();
  if (!value.empty() && value != authorization_) {
    previous_ = std::move(authorization_);
    cacheToken(std::move(value));
  }
  return authorization_;
}

std::string ClientState::askForFreshToken() const {
  try {
    return fetchAuthorization(options_.tokenProvider);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception&) {
    return {};  // the provider's text is not reported: it may quote the token
  }
}

bool ClientState::renewalDue() const {
  if (!options_.renewTokenBefore || !expiresAt_) return false;
  if (std::chrono::steady_clock::now() - askedAt_ < std::chrono::seconds(1)) return false;
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(*expiresAt_ - std::chrono::system_clock::now());
  return left <= *options_.renewTokenBefore;
}

void ClientState::cacheToken(std::string value) const {
  authorization_ = std::move(value);
  expiresAt_ = jwtExpiry(authorization_);
  askedAt_ = std::chrono::steady_clock::now();
}

bool ClientState::renewToken(std::string_view used) const {
  if (!options_.tokenProvider || used.empty()) return false;
  std::lock_guard renew(renewMutex_);
  {
    std::lock_guard lock(tokenMutex_);
    // Another request was refused with the same token and renewed it already: send again.
    if (used != authorization_) return used == previous_ && !authorization_.empty();
  }
  // A failing provider leaves the request refused (401): `value` is empty.
  std::string value = askForFreshToken();
  std::lock_guard lock(tokenMutex_);
  if (value.empty() || value == authorization_) return false;  // nothing new: sending again cannot help
  previous_ = std::move(authorization_);
  cacheToken(std::move(value));
  tokenFetched_ = true;
  return true;
}

std::string ClientState::eventPath(std::string_view url) const {
  if (url.rfind(baseUrl_, 0) == 0) url.remove_prefix(baseUrl_.size());
  url = url.substr(0, url.find_first_of("?#"));
  if (url.empty()) return "/";
  return std::string(url);
}

void ClientState::observe(std::string_view method, std::string_view url, std::size_t bytesSent,
                          const HttpResponse& response, std::chrono::steady_clock::time_point start,
                          int attempt) const {
  RequestEvent e;
  e.duration = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  e.method = std::string(method);
  e.path = eventPath(url);
  e.status = response.status;
  if (!response.ok()) e.code = errorInfo(response).code;
  e.bytesSent = bytesSent;
  e.bytesReceived = response.body.size();
  e.attempt = attempt;
  e.retry = attempt > 1;
  options_.onRequest(e);
}

HttpResponse ClientState::send(HttpRequest request) const {
  // With a token provider, a request carrying the client's token is kept to be sent again once
  // after `401 PGRST301` with a fresh token (PostgREST refused it before running it).
  std::optional<HttpRequest> again;
  std::string used;
  if (options_.tokenProvider) {
    if (auto auth = findHeader(request.headers, "Authorization")) {
      used = std::string(*auth);
      again = request;
    }
  }
  const bool observing = static_cast<bool>(options_.onRequest);
  std::string method, url;
  std::size_t bytes = 0;
  if (observing) {
    method = request.method;
    url = request.url.substr(0, request.url.find_first_of("?#"));
    bytes = request.url.size() + request.body.size();
  }
  auto start = std::chrono::steady_clock::now();
  HttpResponse response = transport_->send(std::move(request));
  if (observing) observe(method, url, bytes, response, start, 1);
  if (again && response.status == 401 && errorInfo(response).code == "PGRST301" && renewToken(used)) {
    for (auto& [name, value] : again->headers) {
      if (equalsIgnoreCase(name, "Authorization")) value = authorization();
    }
    start = std::chrono::steady_clock::now();
    response = transport_->send(std::move(*again));
    if (observing) observe(method, url, bytes, response, start, 2);
  }
  return response;
}

BulkResult<nlohmann::json> ClientState::runBulk(BulkOperation& op, EngineSettings settings) const {
  // Concurrency left to the library adapts, up to the connections the client keeps (a call never
  // opens more than maxConnections on its own).
  if (!settings.concurrencySet) settings.adaptiveCeiling = std::max(settings.concurrency, options_.maxConnections);
  if (options_.tokenProvider) {
    authorization();  // the first token, before any request (an exception from the provider propagates)
    settings.renewToken = [this](std::string_view used) { return renewToken(used); };
  }
  if (options_.onRequest) {
    // After the caller's own observer (the BulkWriter's), if it set one.
    settings.observer = [this, inner = std::move(settings.observer)](RequestEvent& e) {
      if (inner) inner(e);
      e.path = eventPath(e.path);
      options_.onRequest(e);
    };
  }
  return runOperation(*transport_, op, settings);
}

HttpRequest ClientState::resolve(HttpRequest request) const {
  const bool absolute = request.url.rfind("http://", 0) == 0 || request.url.rfind("https://", 0) == 0;
  for (const auto& [name, value] : request.headers) checkHeader(name, value);
  if (absolute) {
    checkUrl(request.url, "HttpRequest::url", /*base=*/false);
    return request;  // another server: neither the client's headers nor its credentials go there
  }
  std::string url = baseUrl_;
  if (request.url.empty() || request.url.front() != '/') url.push_back('/');
  url += request.url;
  checkUrl(url, "HttpRequest::url (relative to ClientOptions::url)", /*base=*/false);
  request.url = std::move(url);
  Headers headers;
  for (const auto& [name, value] : baseHeaders_) {
    if (!findHeader(request.headers, name)) headers.emplace_back(name, value);
  }
  if (options_.tokenProvider && !findHeader(request.headers, "Authorization")) {
    if (std::string auth = authorization(); !auth.empty()) headers.emplace_back("Authorization", std::move(auth));
  }
  if (!options_.schema.empty() && !findHeader(request.headers, "Accept-Profile") &&
      !findHeader(request.headers, "Content-Profile")) {
    headers.emplace_back(isWrite(request.method) ? "Content-Profile" : "Accept-Profile", options_.schema);
  }
  request.headers.insert(request.headers.begin(), headers.begin(), headers.end());
  return request;
}

void throwIfFailed(const HttpResponse& response) {
  if (response.ok()) return;
  throwError(errorInfo(response));
}

nlohmann::json ClientState::sendJson(HttpRequest request) const {
  const std::string described = describeRequest(request, baseUrl_);
  HttpResponse response = send(std::move(request));
  throwIfFailed(response);
  auto type = response.header("Content-Type");
  if (response.status == 204 && response.body.empty()) return nullptr;
  if (response.status != 200 || !isJsonType(type.value_or(""))) {
    throwNotPostgrest(response, described, "status 200 with a JSON body (or 204 without body)",
                      "status " + std::to_string(response.status) + ", Content-Type " + quoted(type));
  }
  if (response.body.empty()) return nullptr;
  auto j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    throwNotPostgrest(response, described, "a JSON body", "a body that is not valid JSON");
  }
  return j;
}

nlohmann::json ClientState::sendForRows(HttpRequest request, HttpResponse* answer) const {
  const std::string described = describeRequest(request, baseUrl_);
  const std::string method = request.method;
  const std::string prefer(findHeader(request.headers, "Prefer").value_or(""));
  HttpResponse response = send(std::move(request));
  throwIfFailed(response);
  // PostgREST 12.0.2's answers (docs: /work/shared/reference/postgrest-12-bulk.md sections 3.3, 3.4, 4):
  // reads 200 (206 with a count), inserts 201 (an upsert 200 or 201), PATCH and DELETE with
  // return=representation 200; always a JSON array and a Content-Range header.
  std::vector<int> statuses;
  std::string expectedStatus;
  if (method == "GET") {
    statuses = {200, 206};
    expectedStatus = "status 200 or 206";
  } else if (method == "POST") {
    statuses = prefer.find("resolution=") != std::string::npos ? std::vector<int>{200, 201} : std::vector<int>{201};
    expectedStatus = statuses.size() == 2 ? "status 200 or 201" : "status 201";
  } else {
    statuses = {200};
    expectedStatus = "status 200";
  }
  const std::string expected =
      expectedStatus + ", Content-Type application/json, a JSON array of rows and a Content-Range header";
  std::vector<std::string> wrong;
  if (std::find(statuses.begin(), statuses.end(), response.status) == statuses.end()) {
    wrong.push_back("status " + std::to_string(response.status));
  }
  auto type = response.header("Content-Type");
  if (!isJsonType(type.value_or(""))) wrong.push_back("Content-Type " + quoted(type));
  auto j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  bool rows = j.is_array() && std::all_of(j.begin(), j.end(), [](const nlohmann::json& r) { return r.is_object(); });
  if (!rows) {
    wrong.push_back(response.body.empty() ? std::string("an empty body")
                    : j.is_discarded()    ? std::string("a body that is not JSON")
                                          : std::string("a JSON body that is not an array of rows"));
  }
  auto range = response.header("Content-Range");
  long long first = -1, last = -1;
  if (!range) {
    wrong.push_back("no Content-Range");
  } else if (!parseContentRange(*range, first, last)) {
    wrong.push_back("Content-Range " + quoted(range));
  } else if (rows && (method == "GET" || method == "PATCH")) {
    // Reads and updates give the range of the returned rows: `0-(n-1)/...`, or `*/...` for none.
    const auto n = static_cast<long long>(j.size());
    const bool consistent = first < 0 ? n == 0 : last - first + 1 == n;
    if (!consistent) wrong.push_back("Content-Range " + quoted(range) + " for " + std::to_string(n) + " rows");
  }
  if (!wrong.empty()) {
    std::string got;
    for (const auto& w : wrong) got += (got.empty() ? "" : ", ") + w;
    throwNotPostgrest(response, described, expected, got);
  }
  if (answer) *answer = std::move(response);
  return j;
}

std::vector<std::string> ClientState::primaryKey(const std::string& table, const std::string& schema) const {
  std::vector<std::string> pk;
  for (const auto& c : tableSchema(table, schema)->columns) {
    if (c.primaryKey) pk.push_back(c.name);
  }
  return pk;
}

HttpRequest ClientState::descriptionRequest(const std::string& schema) const {
  HttpRequest req =
      makeRequest("GET", "", {}, "", "", schema.empty() ? Headers{} : Headers{{"Accept-Profile", schema}});
  for (auto& [name, value] : req.headers) {
    if (name == "Accept") value = "application/openapi+json";
  }
  return req;
}

bool ClientState::exposesFunction(const std::string& name) const {
  {
    std::lock_guard lock(mutex_);
    auto it = functions_.find(name);
    if (it != functions_.end()) return it->second;
  }
  const HttpResponse response = send(descriptionRequest({}));
  auto doc = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (response.status != 200 || !doc.is_object() || !doc.contains("paths") || !doc.at("paths").is_object()) {
    return false;  // not a description: not cached, the next call asks again
  }
  const bool listed = doc.at("paths").contains("/rpc/" + name);
  std::lock_guard lock(mutex_);
  return functions_.emplace(name, listed).first->second;
}

std::shared_ptr<const TableSchema> ClientState::tableSchema(const std::string& table, const std::string& schema) const {
  // Cached by schema and table ('\n' cannot be in a schema name sent as a header).
  const std::string cacheKey = schema.empty() ? table : schema + "\n" + table;
  {
    std::lock_guard lock(mutex_);
    auto it = schemas_.find(cacheKey);
    if (it != schemas_.end()) return it->second;
  }
  HttpRequest req = descriptionRequest(schema);
  const std::string described = describeRequest(req, baseUrl_);
  HttpResponse response = send(std::move(req));
  throwIfFailed(response);
  auto doc = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  // PostgREST 12 answers GET / with its OpenAPI 2.0 description (`swagger`, `paths`, `definitions`).
  auto isObject = [&](const char* key) { return doc.contains(key) && doc.at(key).is_object(); };
  if (response.status != 200 || !doc.is_object() || !(isObject("definitions") || isObject("paths"))) {
    throwNotPostgrest(response, described,
                      "status 200 and PostgREST's OpenAPI description (a JSON object with 'definitions' and 'paths')",
                      "status " + std::to_string(response.status) + ", Content-Type " +
                          quoted(response.header("Content-Type")) +
                          (doc.is_object() ? ", a JSON object without them" : ", a body that is not a JSON object"));
  }
  auto tableInfo = std::make_shared<TableSchema>();
  const nlohmann::json* definition = nullptr;
  if (doc.is_object()) {
    auto defs = doc.find("definitions");
    if (defs != doc.end() && defs->is_object()) {
      auto it = defs->find(table);
      if (it != defs->end() && it->is_object()) definition = &*it;
    }
  }
  if (definition) {
    tableInfo->found = true;
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
        tableInfo->columns.push_back(std::move(column));
      }
    }
  }
  std::lock_guard lock(mutex_);
  return schemas_.emplace(cacheKey, std::move(tableInfo)).first->second;
}

nlohmann::json requestRows(const ClientState& client, std::string_view method, std::string_view table,
                           const Params& params, std::string_view prefer, std::string body, const Headers& extra,
                           HttpResponse* answer) {
  return client.sendForRows(client.makeRequest(method, table, params, prefer, std::move(body), extra), answer);
}

std::vector<std::string> exposedPrimaryKey(const ClientState& client, const std::string& table,
                                           const std::string& schema) {
  if (!client.tableSchema(table, schema)->found) throw std::invalid_argument(notExposed(table));
  return client.primaryKey(table, schema);
}

}  // namespace pgrestify::detail
