// SPDX-License-Identifier: MIT
// The libcurl transport: the only file that includes <curl/curl.h>.
#include <pgrestify/transport.hpp>
#include <pgrestify/version.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

namespace pgrestify {

namespace {

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

TransportErrorKind classify(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportErrorKind::Connect;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportErrorKind::Timeout;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_FAIL_REWIND:
      return TransportErrorKind::Reset;
    case CURLE_SEND_ERROR:
      return TransportErrorKind::Send;
    default:
      return TransportErrorKind::Other;
  }
}

std::string base64(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string percentDecoded(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// Checks the proxy URL (messages never quote it: it may hold credentials) and returns the texts
// that must never appear in a message: its user info, password and the Proxy-Authorization value.
std::vector<std::string> proxySecrets(const std::string& proxy) {
  std::vector<std::string> out;
  if (proxy.empty()) return out;
  static const char* kSchemes[] = {"http://", "https://", "socks4://", "socks4a://", "socks5://", "socks5h://"};
  const auto scheme = proxy.find("://");
  bool known = false;
  for (const char* k : kSchemes) {
    if (scheme != std::string::npos && proxy.compare(0, scheme + 3, k) == 0) known = true;
  }
  for (char c : proxy) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) known = false;
  }
  std::string_view authority = std::string_view(proxy).substr(scheme == std::string::npos ? 0 : scheme + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  const auto at = authority.rfind('@');
  const std::string_view host = at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (!known || host.empty() || host.front() == ':') {
    throw std::invalid_argument(
        "pgrestify: the proxy must be a URL like http://host:port (schemes http, https, socks4, socks4a, socks5, "
        "socks5h); its text is not shown because it may hold credentials");
  }
  if (at == std::string_view::npos) return out;
  const std::string_view userinfo = authority.substr(0, at);
  const auto colon = userinfo.find(':');
  auto add = [&out](std::string_view v) {
    if (!v.empty()) out.emplace_back(v);
  };
  add(userinfo);
  add(percentDecoded(userinfo));
  if (colon != std::string_view::npos) {
    add(userinfo.substr(colon + 1));
    add(percentDecoded(userinfo.substr(colon + 1)));
    add(base64(percentDecoded(userinfo.substr(0, colon)) + ":" + percentDecoded(userinfo.substr(colon + 1))));
  } else if (userinfo.size() >= 4) {
    add(base64(percentDecoded(userinfo) + ":"));
  }
  return out;
}

void redact(std::string& text, const std::vector<std::string>& secrets) {
  static const std::string kRedacted = "[redacted]";
  for (const auto& secret : secrets) {
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + kRedacted.size())) {
      text.replace(pos, secret.size(), kRedacted);
    }
  }
}

long sslVersion(TlsVersion v) {
  switch (v) {
    case TlsVersion::Default:
      return CURL_SSLVERSION_DEFAULT;
    case TlsVersion::Tls1_0:
      return CURL_SSLVERSION_TLSv1_0;
    case TlsVersion::Tls1_1:
      return CURL_SSLVERSION_TLSv1_1;
    case TlsVersion::Tls1_2:
      return CURL_SSLVERSION_TLSv1_2;
    case TlsVersion::Tls1_3:
      return CURL_SSLVERSION_TLSv1_3;
  }
  return CURL_SSLVERSION_DEFAULT;
}

// One in-flight request: the easy handle and everything libcurl points into.
struct Transfer {
  CURL* easy = nullptr;
  std::uint64_t tag = 0;
  HttpRequest request;
  HttpResponse response;
  curl_slist* headerList = nullptr;
  char errorBuffer[CURL_ERROR_SIZE] = {};
  // Request body handed to libcurl through onRead (not CURLOPT_POSTFIELDS), so that the transport
  // sees when libcurl wants to send it again.
  std::size_t bodyOffset = 0;
  std::size_t bodyRead = 0;    // highest offset libcurl has read so far (any attempt)
  int attempts = 0;            // times libcurl was about to send the request (onPrereq)
  bool refusedResend = false;  // onPrereq refused a silent re-send of a request that may have run
};

size_t onRead(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string& body = t->request.body;
  std::size_t n = std::min(size * count, body.size() - std::min(t->bodyOffset, body.size()));
  if (n) std::memcpy(buffer, body.data() + t->bodyOffset, n);
  t->bodyOffset += n;
  t->bodyRead = std::max(t->bodyRead, t->bodyOffset);
  return n;
}

int onSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<std::size_t>(offset) > t->request.body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->bodyOffset = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// libcurl silently sends a request again on a fresh connection when a REUSED connection closed
// without any answer ("Connection died, retrying a fresh connect"). For a write whose request
// (headers and whole body) had already left, the server may have executed it: a second send
// would duplicate a non-idempotent insert behind the engine's back. Refuse it, so the failure
// reaches the engine as a reset after the body was sent (an unknown outcome) and the retry
// decision stays with the engine's policy. Reads, and writes whose body had not been sent
// completely (PostgREST reads the whole body before running anything), may be sent again.
int onPrereq(void* user, char*, char*, int, int) {
  auto* t = static_cast<Transfer*>(user);
  if (++t->attempts == 1) return CURL_PREREQFUNC_OK;
  const auto& m = t->request.method;
  const bool read = m == "GET" || m == "HEAD";
  if (!read && t->bodyRead >= t->request.body.size()) {
    t->refusedResend = true;
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

size_t onBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->response.body.append(data, size * count);
  return size * count;
}

size_t onHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {  // a new response (after redirects or 100-continue): start over
    t->response.headers.clear();
    return size * count;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  t->response.headers.emplace_back(std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  return size * count;
}

// The reusable part of a session: a multi handle (which owns the connection cache) and idle
// easy handles. Kept by the transport between sessions so connections stay alive.
struct CurlHandles {
  CURLM* multi = nullptr;
  std::vector<CURL*> idle;
  std::size_t limit = 0;  // CURLMOPT_MAX_HOST_CONNECTIONS now (raised by a session with more in flight)

  CurlHandles() = default;
  CurlHandles(const CurlHandles&) = delete;
  CurlHandles& operator=(const CurlHandles&) = delete;
  ~CurlHandles() {
    for (CURL* e : idle) curl_easy_cleanup(e);
    if (multi) curl_multi_cleanup(multi);
  }
};

class CurlTransport;

class CurlSession final : public TransportSession {
 public:
  CurlSession(std::shared_ptr<CurlTransport> owner, std::unique_ptr<CurlHandles> handles)
      : owner_(std::move(owner)), handles_(std::move(handles)) {}
  ~CurlSession() override;

  void start(std::uint64_t tag, HttpRequest request) override;
  std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds maxWait) override;
  std::size_t inFlight() const override { return transfers_.size() + aborted_.size(); }
  void abort(std::uint64_t tag) override;
  void abortAll() override;

 private:
  void collect(std::vector<std::pair<std::uint64_t, HttpResponse>>& out);
  void finish(Transfer& t, CURLcode code);
  void giveUp(std::map<CURL*, std::unique_ptr<Transfer>>::iterator it);

  std::shared_ptr<CurlTransport> owner_;
  std::unique_ptr<CurlHandles> handles_;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::vector<std::pair<std::uint64_t, HttpResponse>> aborted_;  // given up, returned by the next poll()
};

class CurlTransport final : public Transport, public std::enable_shared_from_this<CurlTransport> {
 public:
  explicit CurlTransport(CurlTransportOptions options) : options_(std::move(options)) {
    if (options_.maxConnections == 0) throw std::invalid_argument("pgrestify: maxConnections must be greater than 0");
    if (options_.clientCert.empty() && (!options_.clientKey.empty() || !options_.keyPassword.empty())) {
      throw std::invalid_argument("pgrestify: a client key or key password needs a client certificate (clientCert)");
    }
    if (options_.timeout.count() < 0 || options_.connectTimeout.count() < 0) {
      throw std::invalid_argument("pgrestify: timeouts must not be negative");
    }
    secrets_ = proxySecrets(options_.proxy);
    if (!options_.keyPassword.empty()) secrets_.push_back(options_.keyPassword);
    std::sort(secrets_.begin(), secrets_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    globalInit();
    if (options_.userAgent.empty()) options_.userAgent = std::string("pgrestify/") + kVersion;
  }

  std::unique_ptr<TransportSession> openSession() override {
    std::unique_ptr<CurlHandles> handles;
    {
      std::lock_guard lock(mutex_);
      if (!pool_.empty()) {
        handles = std::move(pool_.back());
        pool_.pop_back();
      }
    }
    if (!handles) {
      handles = std::make_unique<CurlHandles>();
      handles->multi = curl_multi_init();
      if (!handles->multi) throw std::runtime_error("curl_multi_init failed");
    }
    handles->limit = options_.maxConnections;
    curl_multi_setopt(handles->multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(handles->limit));
    curl_multi_setopt(handles->multi, CURLMOPT_MAXCONNECTS, static_cast<long>(handles->limit));
    return std::make_unique<CurlSession>(shared_from_this(), std::move(handles));
  }

  void giveBack(std::unique_ptr<CurlHandles> handles) {
    std::lock_guard lock(mutex_);
    if (pool_.size() < 8) pool_.push_back(std::move(handles));
  }

  const CurlTransportOptions& options() const { return options_; }
  /// Removes credentials (proxy user info, key pass phrase) from a text that may reach a message.
  void redactSecrets(std::string& text) const { redact(text, secrets_); }

 private:
  CurlTransportOptions options_;
  std::vector<std::string> secrets_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<CurlHandles>> pool_;
};

CurlSession::~CurlSession() {
  for (auto& [easy, t] : transfers_) {
    curl_multi_remove_handle(handles_->multi, easy);
    curl_slist_free_all(t->headerList);
    curl_easy_cleanup(easy);  // an aborted transfer's connection is not reusable
  }
  transfers_.clear();
  owner_->giveBack(std::move(handles_));
}

// An aborted transfer is removed from the multi handle (its connection is closed, never reused)
// and reported by the next poll() as an aborted transport failure. Whether the server may have
// received the whole request: libcurl was about to send it (onPrereq ran) and had read all of its
// body. A request cut off before that cannot have been executed (PostgREST reads the whole body
// before running anything).
void CurlSession::giveUp(std::map<CURL*, std::unique_ptr<Transfer>>::iterator it) {
  CURL* easy = it->first;
  auto t = std::move(it->second);
  transfers_.erase(it);
  curl_multi_remove_handle(handles_->multi, easy);
  curl_slist_free_all(t->headerList);
  curl_easy_cleanup(easy);
  HttpResponse r;
  r.error = TransportErrorKind::Other;
  r.aborted = true;
  r.bodySent = t->attempts > 0 && t->bodyRead >= t->request.body.size();
  r.errorMessage = r.bodySent ? "aborted before an answer (the call was cancelled or its deadline passed); the "
                                "whole request had been sent, the server may have executed it"
                              : "aborted before the request was sent completely (the call was cancelled or its "
                                "deadline passed); the server did not execute it";
  aborted_.emplace_back(t->tag, std::move(r));
}

void CurlSession::abort(std::uint64_t tag) {
  for (auto it = transfers_.begin(); it != transfers_.end(); ++it) {
    if (it->second->tag == tag) {
      giveUp(it);
      return;
    }
  }
}

void CurlSession::abortAll() {
  while (!transfers_.empty()) giveUp(transfers_.begin());
}

void CurlSession::start(std::uint64_t tag, HttpRequest request) {
  CURL* easy = nullptr;
  if (!handles_->idle.empty()) {
    easy = handles_->idle.back();
    handles_->idle.pop_back();
    curl_easy_reset(easy);
  } else {
    easy = curl_easy_init();
    if (!easy) throw std::runtime_error("curl_easy_init failed");
  }
  auto t = std::make_unique<Transfer>();
  t->easy = easy;
  t->tag = tag;
  t->request = std::move(request);
  const auto& opt = owner_->options();
  const auto& req = t->request;

  curl_easy_setopt(easy, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errorBuffer);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<long long>(0, req.timeout ? req.timeout->count() : opt.timeout.count())));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt.connectTimeout.count()));
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, opt.verifyTls ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, opt.verifyTls ? 2L : 0L);
  if (!opt.caInfo.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, opt.caInfo.c_str());
  if (!opt.caPath.empty()) curl_easy_setopt(easy, CURLOPT_CAPATH, opt.caPath.c_str());
  if (!opt.clientCert.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERT, opt.clientCert.c_str());
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!opt.clientKey.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLKEY, opt.clientKey.c_str());
    curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (!opt.keyPassword.empty()) curl_easy_setopt(easy, CURLOPT_KEYPASSWD, opt.keyPassword.c_str());
  if (opt.minTlsVersion != TlsVersion::Default)
    curl_easy_setopt(easy, CURLOPT_SSLVERSION, sslVersion(opt.minTlsVersion));
  if (!opt.proxy.empty()) curl_easy_setopt(easy, CURLOPT_PROXY, opt.proxy.c_str());
  curl_easy_setopt(easy, CURLOPT_USERAGENT, opt.userAgent.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");

  if (req.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    // PostgREST 12 (Warp) closes the connection after answering HEAD; a request sent next on it
    // would be reset. Do not keep it for reuse.
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
  } else {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    if (req.method != "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, onRead);
    curl_easy_setopt(easy, CURLOPT_READDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, onSeek);
    curl_easy_setopt(easy, CURLOPT_SEEKDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, onPrereq);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, t.get());
  for (const auto& [name, value] : req.headers) {
    // "Name:" with nothing after the colon would make libcurl drop the header; "Name;" sends it empty.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    t->headerList = curl_slist_append(t->headerList, line.c_str());
  }
  // No "Expect: 100-continue" round trip for large bodies.
  t->headerList = curl_slist_append(t->headerList, "Expect:");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headerList);

  // More requests in flight than the per-host limit would queue inside libcurl (the caller's
  // concurrency silently capped): raise this session's limit to what the caller keeps in flight.
  if (transfers_.size() + 1 > handles_->limit) {
    handles_->limit = transfers_.size() + 1;
    curl_multi_setopt(handles_->multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(handles_->limit));
    curl_multi_setopt(handles_->multi, CURLMOPT_MAXCONNECTS, static_cast<long>(handles_->limit));
  }
  CURLMcode rc = curl_multi_add_handle(handles_->multi, easy);
  if (rc != CURLM_OK) {
    curl_slist_free_all(t->headerList);
    curl_easy_cleanup(easy);
    throw std::runtime_error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
  }
  transfers_.emplace(easy, std::move(t));
}

void CurlSession::finish(Transfer& t, CURLcode code) {
  auto& r = t.response;
  if (code == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
    r.status = static_cast<int>(status);  // credentials in error answers: see RedactingTransport
    return;
  }
  r.status = 0;
  r.headers.clear();
  r.body.clear();
  if (t.refusedResend) {
    r.error = TransportErrorKind::Reset;
    r.errorMessage =
        "the connection was closed without an answer after the whole request was sent; the server may have "
        "executed it (not sent again by the transport)";
    r.bodySent = true;
    return;
  }
  r.error = classify(code);
  r.errorMessage = t.errorBuffer[0] ? std::string(t.errorBuffer) : std::string(curl_easy_strerror(code));
  curl_off_t uploaded = 0;
  curl_easy_getinfo(t.easy, CURLINFO_SIZE_UPLOAD_T, &uploaded);
  long requestSize = 0;
  curl_easy_getinfo(t.easy, CURLINFO_REQUEST_SIZE, &requestSize);
  r.bodySent = requestSize > 0 && static_cast<std::size_t>(uploaded) >= t.request.body.size();
  if (t.attempts > 0 && t.bodyRead >= t.request.body.size()) {
    // The request went out on a connection (onPrereq ran) with its whole body, and a later step
    // failed: libcurl's silent re-send on a fresh connection could not connect or timed out (its
    // counters describe that last attempt only). The first send may have been executed.
    r.bodySent = true;
    if (r.error == TransportErrorKind::Connect) {
      r.error = TransportErrorKind::Reset;
      r.errorMessage =
          "the connection was closed without an answer after the request was sent, and reconnecting "
          "failed: " +
          r.errorMessage;
    }
  }
  if (r.error == TransportErrorKind::Connect) r.bodySent = false;
}

void CurlSession::collect(std::vector<std::pair<std::uint64_t, HttpResponse>>& out) {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(handles_->multi, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    CURLcode code = msg->data.result;
    auto it = transfers_.find(easy);
    if (it == transfers_.end()) continue;
    auto t = std::move(it->second);
    transfers_.erase(it);
    finish(*t, code);
    owner_->redactSecrets(t->response.errorMessage);
    if (t->response.status < 200 || t->response.status >= 300) {
      // An error page of the proxy may quote the credentials it was sent.
      owner_->redactSecrets(t->response.body);
      for (auto& [name, value] : t->response.headers) owner_->redactSecrets(value);
    }
    curl_multi_remove_handle(handles_->multi, easy);
    curl_slist_free_all(t->headerList);
    handles_->idle.push_back(easy);
    out.emplace_back(t->tag, std::move(t->response));
  }
}

std::vector<std::pair<std::uint64_t, HttpResponse>> CurlSession::poll(std::chrono::milliseconds maxWait) {
  std::vector<std::pair<std::uint64_t, HttpResponse>> out = std::move(aborted_);
  aborted_.clear();
  int running = 0;
  if (transfers_.empty()) return out;
  curl_multi_perform(handles_->multi, &running);
  collect(out);
  if (!out.empty() || transfers_.empty()) return out;
  curl_multi_poll(handles_->multi, nullptr, 0, static_cast<int>(std::max<long long>(0, maxWait.count())), nullptr);
  curl_multi_perform(handles_->multi, &running);
  collect(out);
  return out;
}

}  // namespace

std::shared_ptr<Transport> makeCurlTransport(const CurlTransportOptions& options) {
  return std::make_shared<CurlTransport>(options);
}

}  // namespace pgrestify
