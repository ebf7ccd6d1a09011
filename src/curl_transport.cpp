// SPDX-License-Identifier: MIT
// The libcurl transport: the only file that includes <curl/curl.h>.
#include <pgrestify/transport.hpp>
#include <pgrestify/version.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <stdexcept>

namespace pgrestify {

std::optional<std::string_view> findHeader(const Headers& headers, std::string_view name) noexcept {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

HttpResponse Transport::send(HttpRequest request) {
  auto session = openSession();
  session->start(0, std::move(request));
  for (;;) {
    auto done = session->poll(std::chrono::milliseconds(1000));
    if (!done.empty()) return std::move(done.front().second);
  }
}

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
};

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
  } else {
    if (req.method != "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  for (const auto& [name, value] : req.headers) {
    std::string line = name + ": " + value;
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
    r.status = static_cast<int>(status);
    return;
  }
  r.status = 0;
  r.headers.clear();
  r.body.clear();
  r.error = classify(code);
  r.errorMessage = t.errorBuffer[0] ? std::string(t.errorBuffer) : std::string(curl_easy_strerror(code));
  curl_off_t uploaded = 0;
  curl_easy_getinfo(t.easy, CURLINFO_SIZE_UPLOAD_T, &uploaded);
  long requestSize = 0;
  curl_easy_getinfo(t.easy, CURLINFO_REQUEST_SIZE, &requestSize);
  r.bodySent = requestSize > 0 && static_cast<std::size_t>(uploaded) >= t.request.body.size();
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
