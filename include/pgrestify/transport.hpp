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
};

/// The outcome of one request: an HTTP answer, or a transport failure.
struct HttpResponse {
  int status = 0;  ///< 0 when the request failed in the transport
  Headers headers;
  std::string body;
  TransportErrorKind error = TransportErrorKind::None;
  std::string errorMessage;  ///< transport failures: what the transport said
  bool bodySent = false;     ///< transport failures: the whole body had left the client

  bool transportFailed() const noexcept { return error != TransportErrorKind::None; }
  bool ok() const noexcept { return !transportFailed() && status >= 200 && status < 300; }
  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return findHeader(headers, name);
  }
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

/// Settings of the libcurl transport.
struct CurlTransportOptions {
  std::chrono::milliseconds timeout{60000};        ///< whole request, 0 = none
  std::chrono::milliseconds connectTimeout{10000};
  bool verifyTls = true;                            ///< verify the peer certificate and host name
  std::string caInfo;                               ///< CA bundle path, empty = system default
  std::string userAgent;                            ///< empty = "pgrestify/<version>"
  std::size_t maxConnections = 16;                  ///< per session (multi handle)
};

/// Creates the default libcurl-based transport (connections are kept alive and reused).
std::shared_ptr<Transport> makeCurlTransport(const CurlTransportOptions& options = {});

}  // namespace pgrestify
