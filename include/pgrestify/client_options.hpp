// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/transport.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace pgrestify {

/// Settings of a Client. Only `url` is required.
struct ClientOptions {
  std::string url;                 ///< PostgREST base URL, e.g. "http://localhost:3000" (no user info, query or fragment)
  /// Sent with every request. Names must be HTTP tokens and values free of CR/LF; headers
  /// pgrestify sets itself (Prefer, Accept, Content-Type, Accept-/Content-Profile, Range, Host,
  /// Content-Length...) are refused with std::invalid_argument naming the option to use instead.
  Headers headers;
  std::string bearerToken;         ///< JWT sent as `Authorization: Bearer ...` (never logged)
  std::string schema;              ///< sent as Accept-Profile (reads) / Content-Profile (writes)
  std::chrono::milliseconds timeout{60000};         ///< per request
  std::chrono::milliseconds connectTimeout{10000};
  std::string userAgent;           ///< empty = "pgrestify/<version>"
  bool verifyTls = true;           ///< TLS peer verification; turn off only for testing
  std::string caInfo;              ///< CA bundle path, empty = system default
  std::shared_ptr<Transport> transport;  ///< empty = the libcurl transport built from the other fields
  /// Names of further headers that carry credentials (case-insensitive). Their values are redacted
  /// from errors like those of the built-in list (Authorization, Proxy-Authorization, apikey,
  /// X-Api-Key, Api-Key, X-Auth-Token, X-Access-Token, X-Amz-Security-Token, Cookie, Set-Cookie,
  /// X-CSRF-Token, X-Supabase-Api-Key); see docs/reliability.md.
  std::vector<std::string> secretHeaders;
  /// Connections per host one bulk call opens (the libcurl transport's pool per session). A bulk
  /// call whose `concurrency` is above it raises the limit for that call, so requests are never
  /// queued inside libcurl (see docs/api.md).
  std::size_t maxConnections = 16;
  std::string clientCert;          ///< client certificate file (PEM) for mutual TLS
  std::string clientKey;           ///< private key file (PEM) of clientCert; empty = in clientCert
  std::string keyPassword;         ///< pass phrase of clientKey (never logged, never in a message)
  std::string caPath;              ///< directory of CA certificates (caInfo is a CA file)
  TlsVersion minTlsVersion = TlsVersion::Default;  ///< lowest TLS version accepted from the server
  /// Proxy URL ("http://user:secret@proxy:3128"; http, https, socks4, socks4a, socks5, socks5h);
  /// its credentials never appear in a message. Empty = libcurl's default (http_proxy,
  /// https_proxy and no_proxy environment variables).
  std::string proxy;
};

}  // namespace pgrestify
