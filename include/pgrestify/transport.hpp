// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrestify {

/// Header list; names are compared case-insensitively.
using Headers = std::vector<std::pair<std::string, std::string>>;

/// Returns the first header named @p name (case-insensitive), if any.
std::optional<std::string_view> findHeader(const Headers& headers, std::string_view name) noexcept;

/// One HTTP request as the transport sends it.
struct HttpRequest {
  std::string method = "GET";
  std::string url;  ///< absolute URL, query already encoded
  Headers headers;
  std::string body;
  /// This request's whole-request timeout, overriding the transport's (a bulk call's `timeout`
  /// option); 0 = none. Empty = the transport's own setting.
  std::optional<std::chrono::milliseconds> timeout;
};

/// The outcome of one request: an HTTP answer, or a transport failure.
struct HttpResponse {
  int status = 0;  ///< 0 when the request failed in the transport
  Headers headers;
  std::string body;
  TransportErrorKind error = TransportErrorKind::None;
  std::string errorMessage;  ///< transport failures: what the transport said
  bool bodySent = false;     ///< transport failures: the whole body had left the client
  /// Transport failures: the caller gave the request up (TransportSession::abort/abortAll) before
  /// its answer; `error` is TransportErrorKind::Other and `bodySent` says whether it may have run.
  bool aborted = false;

  bool transportFailed() const noexcept { return error != TransportErrorKind::None; }
  bool ok() const noexcept { return !transportFailed() && status >= 200 && status < 300; }
  std::optional<std::string_view> header(std::string_view name) const noexcept { return findHeader(headers, name); }
};

/// A set of concurrent requests driven from one thread (for libcurl: one multi handle).
/// Not thread-safe: one session belongs to one caller at a time.
class TransportSession {
 public:
  virtual ~TransportSession() = default;
  /// Starts @p request; its completion is reported by poll() with @p tag.
  virtual void start(std::uint64_t tag, HttpRequest request) = 0;
  /// Waits up to @p maxWait for requests to finish and returns those that did (maybe none).
  virtual std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds maxWait) = 0;
  /// Number of started requests not yet returned by poll().
  virtual std::size_t inFlight() const = 0;
  /// Gives up the request @p tag if it is still in flight: the next poll() returns it at once as a
  /// transport failure with `aborted` set (and `bodySent` true when the server may have received
  /// the whole request). Unknown or finished tags are ignored. The default does nothing (the
  /// request runs to completion), so that existing transports keep compiling.
  virtual void abort(std::uint64_t tag) { (void)tag; }
  /// abort() for every request in flight.
  virtual void abortAll() {}
};

/// Sends HTTP requests. The library uses a libcurl implementation; tests inject fakes.
/// Implementations must allow openSession() from several threads at once.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::unique_ptr<TransportSession> openSession() = 0;
  /// Sends one request and waits for it.
  HttpResponse send(HttpRequest request);
};

/// Lowest TLS protocol version accepted from the server.
enum class TlsVersion {
  Default,  ///< libcurl's default (TLS 1.2 with the OpenSSL 3 of Debian 12)
  Tls1_0,
  Tls1_1,
  Tls1_2,
  Tls1_3,
};

/// Settings of the libcurl transport.
struct CurlTransportOptions {
  std::chrono::milliseconds timeout{60000};  ///< whole request, 0 = none
  std::chrono::milliseconds connectTimeout{10000};
  bool verifyTls = true;  ///< verify the peer certificate and host name
  std::string caInfo;     ///< CA bundle path, empty = system default
  std::string userAgent;  ///< empty = "pgrestify/<version>"
  /// Connections per host a session (one bulk call) opens before libcurl queues requests, and the
  /// connections kept alive per session for reuse. A session with more requests in flight at once
  /// (a bulk call's `concurrency` above it) raises its own limit to that number: requests are never
  /// queued inside libcurl, so `concurrency` is the number of requests the server really sees.
  std::size_t maxConnections = 32;
  std::string clientCert;                          ///< client certificate file (PEM) for mutual TLS
  std::string clientKey;                           ///< its private key file (PEM); empty = in clientCert
  std::string keyPassword;                         ///< pass phrase of clientKey (never in a message)
  std::string caPath;                              ///< directory of CA certificates (c_rehash layout)
  TlsVersion minTlsVersion = TlsVersion::Default;  ///< lowest TLS version accepted
  /// Proxy URL, e.g. "http://user:secret@proxy:3128" (http, https, socks4, socks4a, socks5,
  /// socks5h). Its credentials never appear in a message. Empty = libcurl's default (the
  /// http_proxy / https_proxy / no_proxy environment variables).
  std::string proxy;
};

/// Creates the default libcurl-based transport (connections are kept alive and reused).
/// Throws std::invalid_argument for an unusable setting (a malformed proxy URL, maxConnections 0,
/// a client key or pass phrase without a certificate); the messages never quote the proxy URL or
/// the pass phrase.
std::shared_ptr<Transport> makeCurlTransport(const CurlTransportOptions& options = {});

}  // namespace pgrestify
