// SPDX-License-Identifier: MIT
// A small HTTP-aware loopback TCP proxy for fault tests: it sits between the client and PostgREST
// and, per request, forwards it or injects a fault chosen by a policy (ProxyAction: connection
// reset before or after the request body, a stall, an HTML 502 like a reverse proxy's, a 401 that
// echoes the Authorization header, a reset followed by the proxy going down for a while).
// Header-only, so that every integration test file can include it (tests/integration/CMakeLists.txt
// builds all *_test.cpp files into one binary).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace pgrestify::test::fault {

enum class ProxyAction {
  Forward,                 ///< pass the request to the upstream and its answer back
  ResetBeforeBody,         ///< read the request head only, then reset the connection (the server never sees it)
  ResetAfterBody,          ///< forward the whole request, wait for the server's answer, then reset instead of answering
  Stall,                   ///< forward the whole request, then never answer (the client must time out)
  Html502,                 ///< answer 502 with an HTML page without forwarding (like nginx with a dead upstream)
  EchoAuth401,             ///< answer 401 with a JSON error echoing the request's Authorization header
  ResetAfterBodyThenDown,  ///< like ResetAfterBody, and stop listening for a while (the server "died")
};

/// What the policy sees of a request.
struct ProxiedRequest {
  std::size_t number = 0;  ///< 0-based, over all connections
  std::string method;
  std::string target;            ///< path and query as sent
  std::size_t bodySize = 0;      ///< Content-Length
  std::size_t onConnection = 0;  ///< 0 for the first request of its connection (>0: a reused connection)
};

class FaultProxy {
 public:
  using Policy = std::function<ProxyAction(const ProxiedRequest&)>;

  /// Listens on 127.0.0.1 (ephemeral port) and forwards to http://127.0.0.1:@p upstreamPort.
  /// The listening socket has a small receive buffer so that a large request body cannot be
  /// accepted by the kernel before the proxy reads it (ResetBeforeBody really is "before").
  FaultProxy(int upstreamPort, Policy policy);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  /// "http://127.0.0.1:<port>"
  std::string url() const;
  void setPolicy(Policy policy);
  /// Requests seen with each action.
  std::size_t count(ProxyAction action) const;
  std::size_t requests() const { return requests_.load(); }
  /// Stops accepting, closes every connection and joins the threads (also done by the destructor).
  void stop();
  /// Closes the listening socket now (connection attempts are refused) and listens again on the
  /// same port after @p downFor.
  void goDown(std::chrono::milliseconds downFor);
  /// Holds every request @p roundTrip before passing it on: a server that far away (bench/run.sh's
  /// latency profiles; connections are served in parallel, so requests wait side by side).
  void setLatency(std::chrono::milliseconds roundTrip) { latencyMs_.store(roundTrip.count()); }

 private:
  void acceptLoop();
  void serve(int client);
  ProxyAction decide(const ProxiedRequest& r);

  int upstreamPort_;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> requests_{0};
  std::atomic<long long> latencyMs_{0};
  mutable std::mutex mutex_;
  Policy policy_;
  std::map<ProxyAction, std::size_t> counts_;
  std::chrono::steady_clock::time_point downUntil_{};
  int openListener();
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

inline const char* toString(ProxyAction action) {
  switch (action) {
    case ProxyAction::Forward:
      return "forward";
    case ProxyAction::ResetBeforeBody:
      return "reset-before-body";
    case ProxyAction::ResetAfterBody:
      return "reset-after-body";
    case ProxyAction::Stall:
      return "stall";
    case ProxyAction::Html502:
      return "html-502";
    case ProxyAction::EchoAuth401:
      return "echo-auth-401";
    case ProxyAction::ResetAfterBodyThenDown:
      return "reset-after-body-then-down";
  }
  return "?";
}

inline int portOf(const std::string& url) {
  auto colon = url.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("no port in " + url);
  return std::stoi(url.substr(colon + 1));
}

namespace proxy_detail {

inline constexpr int kSliceMs = 100;

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads what is available into @p buf, waiting in slices until data, EOF, error or stop.
// Returns false on EOF/error/stop/timeout.
inline bool readSome(int fd, std::string& buf, const std::atomic<bool>& stopping, int timeoutMs = 120000) {
  for (int waited = 0; waited < timeoutMs; waited += kSliceMs) {
    if (stopping.load()) return false;
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, kSliceMs);
    if (rc < 0 && errno != EINTR) return false;
    if (rc <= 0) continue;
    char chunk[65536];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  return false;
}

inline bool writeAll(int fd, std::string_view data, const std::atomic<bool>& stopping) {
  while (!data.empty()) {
    if (stopping.load()) return false;
    pollfd p{fd, POLLOUT, 0};
    int rc = ::poll(&p, 1, kSliceMs);
    if (rc < 0 && errno != EINTR) return false;
    if (rc <= 0) continue;
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

inline void resetClose(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

struct Head {
  std::string startLine;
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t contentLength = 0;
  bool chunked = false;
};

inline Head parseHead(std::string_view text) {
  Head h;
  std::size_t pos = text.find("\r\n");
  h.startLine = std::string(text.substr(0, pos));
  while (pos != std::string_view::npos && pos + 2 < text.size()) {
    std::size_t next = text.find("\r\n", pos + 2);
    auto line = text.substr(pos + 2, next == std::string_view::npos ? std::string_view::npos : next - pos - 2);
    pos = next;
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    h.headers.emplace_back(name, std::string(value));
    auto l = lower(name);
    if (l == "content-length") h.contentLength = std::stoul(std::string(value));
    if (l == "transfer-encoding" && lower(std::string(value)).find("chunked") != std::string::npos) h.chunked = true;
  }
  return h;
}

inline std::string dechunk(std::string_view body) {
  std::string out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto eol = body.find("\r\n", pos);
    if (eol == std::string_view::npos) break;
    std::size_t size = std::stoul(std::string(body.substr(pos, eol - pos)), nullptr, 16);
    pos = eol + 2;
    if (size == 0) break;
    out.append(body.substr(pos, size));
    pos += size + 2;
  }
  return out;
}

inline int connectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends the request upstream on a fresh connection (Connection: close) and returns the answer,
// re-framed with Content-Length so that the client's connection can stay alive. Empty on failure.
inline std::string exchange(int port, const Head& req, std::string_view body, bool head,
                            const std::atomic<bool>& stopping) {
  int fd = connectTo(port);
  if (fd < 0) return {};
  std::string out = req.startLine + "\r\n";
  for (const auto& [name, value] : req.headers) {
    auto l = lower(name);
    if (l == "connection" || l == "keep-alive") continue;
    out += name + ": " + value + "\r\n";
  }
  out += "Connection: close\r\n\r\n";
  out.append(body);
  std::string answer;
  if (writeAll(fd, out, stopping)) {
    while (readSome(fd, answer, stopping)) {
    }
  }
  ::close(fd);
  auto end = answer.find("\r\n\r\n");
  if (end == std::string::npos) return {};
  Head h = parseHead(std::string_view(answer).substr(0, end + 2));
  std::string payload = answer.substr(end + 4);
  if (h.chunked) payload = dechunk(payload);
  std::string framed = h.startLine + "\r\n";
  for (const auto& [name, value] : h.headers) {
    auto l = lower(name);
    if (l == "connection" || l == "keep-alive" || l == "transfer-encoding") continue;
    if (l == "content-length" && !head) continue;
    framed += name + ": " + value + "\r\n";
  }
  if (!head) framed += "Content-Length: " + std::to_string(payload.size()) + "\r\n";
  framed += "\r\n";
  if (!head) framed += payload;
  return framed;
}

}  // namespace proxy_detail

inline FaultProxy::FaultProxy(int upstreamPort, Policy policy)
    : upstreamPort_(upstreamPort), policy_(std::move(policy)) {
  listenFd_ = openListener();
  if (listenFd_ < 0) throw std::runtime_error("proxy: socket/bind/listen failed");
  acceptor_ = std::thread([this] { acceptLoop(); });
}

inline int FaultProxy::openListener() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int small = 4096;  // inherited by accepted sockets: the kernel cannot swallow a large body for us
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port_));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  return fd;
}

inline void FaultProxy::goDown(std::chrono::milliseconds downFor) {
  std::lock_guard lock(mutex_);
  downUntil_ = std::chrono::steady_clock::now() + downFor;
  if (listenFd_ >= 0) {
    ::shutdown(listenFd_, SHUT_RDWR);
    ::close(listenFd_);
    listenFd_ = -1;
  }
}

inline FaultProxy::~FaultProxy() { stop(); }

inline std::string FaultProxy::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

inline void FaultProxy::setPolicy(Policy policy) {
  std::lock_guard lock(mutex_);
  policy_ = std::move(policy);
}

inline std::size_t FaultProxy::count(ProxyAction action) const {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(action);
  return it == counts_.end() ? 0 : it->second;
}

inline void FaultProxy::stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.join();
  if (listenFd_ >= 0) ::close(listenFd_);
  listenFd_ = -1;
}

inline ProxyAction FaultProxy::decide(const ProxiedRequest& r) {
  std::lock_guard lock(mutex_);
  ProxyAction a = policy_ ? policy_(r) : ProxyAction::Forward;
  ++counts_[a];
  return a;
}

inline void FaultProxy::acceptLoop() {
  while (!stopping_.load()) {
    int fd;
    {
      std::lock_guard lock(mutex_);
      if (listenFd_ < 0 && std::chrono::steady_clock::now() >= downUntil_) listenFd_ = openListener();
      fd = listenFd_;
    }
    if (fd < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, proxy_detail::kSliceMs) <= 0 || !(p.revents & POLLIN)) continue;
    int client = ::accept(fd, nullptr, nullptr);
    if (client < 0) continue;
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mutex_);
    workers_.emplace_back([this, client] { serve(client); });
  }
}

inline void FaultProxy::serve(int client) {
  std::string buf;
  std::size_t onConnection = 0;
  for (;;) {
    // Request head.
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!proxy_detail::readSome(client, buf, stopping_, 600000)) {
        ::close(client);
        return;
      }
    }
    proxy_detail::Head req = proxy_detail::parseHead(std::string_view(buf).substr(0, end + 2));
    ProxiedRequest info;
    info.number = requests_.fetch_add(1);
    auto sp1 = req.startLine.find(' ');
    auto sp2 = req.startLine.find(' ', sp1 + 1);
    info.method = req.startLine.substr(0, sp1);
    info.target = req.startLine.substr(sp1 + 1, sp2 - sp1 - 1);
    info.bodySize = req.contentLength;
    info.onConnection = onConnection++;
    const ProxyAction action = decide(info);
    if (action == ProxyAction::ResetBeforeBody) {
      proxy_detail::resetClose(client);
      return;
    }
    // Whole body.
    const std::size_t total = end + 4 + req.contentLength;
    while (buf.size() < total) {
      if (!proxy_detail::readSome(client, buf, stopping_)) {
        ::close(client);
        return;
      }
    }
    std::string body = buf.substr(end + 4, req.contentLength);
    buf.erase(0, total);

    if (action == ProxyAction::EchoAuth401) {
      std::string auth;
      for (const auto& [name, value] : req.headers) {
        if (proxy_detail::lower(name) == "authorization") auth = value;
      }
      std::string json = "{\"code\":\"PGRST301\",\"details\":\"got " + auth + "\",\"hint\":\"" + auth +
                         "\",\"message\":\"JWSError for " + auth + "\"}";
      std::string answer = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nWWW-Authenticate: " + auth +
                           "\r\nContent-Length: " + std::to_string(json.size()) + "\r\n\r\n" + json;
      if (!proxy_detail::writeAll(client, answer, stopping_)) {
        ::close(client);
        return;
      }
      continue;
    }
    if (action == ProxyAction::Html502) {
      const std::string page =
          "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
          "Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
      std::string answer = "HTTP/1.1 502 Bad Gateway\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n";
      if (info.method != "HEAD") {
        answer += "Content-Length: " + std::to_string(page.size()) + "\r\n\r\n" + page;
      } else {
        answer += "Content-Length: " + std::to_string(page.size()) + "\r\n\r\n";
      }
      if (!proxy_detail::writeAll(client, answer, stopping_)) {
        ::close(client);
        return;
      }
      continue;
    }

    if (const auto ms = latencyMs_.load(); ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    std::string answer = proxy_detail::exchange(upstreamPort_, req, body, info.method == "HEAD", stopping_);
    if (action == ProxyAction::ResetAfterBodyThenDown) goDown(std::chrono::milliseconds(1500));
    if (action == ProxyAction::ResetAfterBody || action == ProxyAction::ResetAfterBodyThenDown || answer.empty()) {
      proxy_detail::resetClose(client);
      return;
    }
    if (action == ProxyAction::Stall) {
      // Hold the connection without answering until the client gives up (or the proxy stops).
      std::string ignored;
      while (proxy_detail::readSome(client, ignored, stopping_, 600000)) {
      }
      ::close(client);
      return;
    }
    if (!proxy_detail::writeAll(client, answer, stopping_)) {
      ::close(client);
      return;
    }
  }
}

}  // namespace pgrestify::test::fault
