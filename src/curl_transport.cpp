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
  std::size_t bodyRead = 0;   // highest offset libcurl has read so far (any attempt)
  int attempts = 0;           // times libcurl was about to send the request (onPrereq)
  bool refusedResend = false; // onPrereq refused a silent re-send of a request that may have run
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
  t->response.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                   std::string(trim(line.substr(colon + 1))));
  return size * count;
}

// The reusable part of a session: a multi handle (which owns the connection cache) and idle
// easy handles. Kept by the transport between sessions so connections stay alive.
struct CurlHandles {
  CURLM* multi = nullptr;
  std::vector<CURL*> idle;

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
  std::size_t inFlight() const override { return transfers_.size(); }

 private:
  void collect(std::vector<std::pair<std::uint64_t, HttpResponse>>& out);
  void finish(Transfer& t, CURLcode code);

  std::shared_ptr<CurlTransport> owner_;
  std::unique_ptr<CurlHandles> handles_;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
};

class CurlTransport final : public Transport, public std::enable_shared_from_this<CurlTransport> {
 public:
  explicit CurlTransport(CurlTransportOptions options) : options_(std::move(options)) {
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
      curl_multi_setopt(handles->multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options_.maxConnections));
      curl_multi_setopt(handles->multi, CURLMOPT_MAXCONNECTS, static_cast<long>(options_.maxConnections));
    }
    return std::make_unique<CurlSession>(shared_from_this(), std::move(handles));
  }

  void giveBack(std::unique_ptr<CurlHandles> handles) {
    std::lock_guard lock(mutex_);
    if (pool_.size() < 8) pool_.push_back(std::move(handles));
  }

  const CurlTransportOptions& options() const { return options_; }

 private:
  CurlTransportOptions options_;
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
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(opt.timeout.count()));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt.connectTimeout.count()));
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, opt.verifyTls ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, opt.verifyTls ? 2L : 0L);
  if (!opt.caInfo.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, opt.caInfo.c_str());
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
      r.errorMessage = "the connection was closed without an answer after the request was sent, and reconnecting "
                       "failed: " + r.errorMessage;
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
    curl_multi_remove_handle(handles_->multi, easy);
    curl_slist_free_all(t->headerList);
    handles_->idle.push_back(easy);
    out.emplace_back(t->tag, std::move(t->response));
  }
}

std::vector<std::pair<std::uint64_t, HttpResponse>> CurlSession::poll(std::chrono::milliseconds maxWait) {
  std::vector<std::pair<std::uint64_t, HttpResponse>> out;
  int running = 0;
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
