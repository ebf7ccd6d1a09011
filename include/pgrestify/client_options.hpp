// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/options.hpp>
#include <pgrestify/transport.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgrestify {

/// One request the client sent and its answer, as ClientOptions::onRequest sees it. Credentials
/// never appear here: no header, no query string, no body, no message.
struct RequestEvent {
  std::string method;                     ///< "GET", "POST", "PATCH", "DELETE"
  std::string path;                       ///< below the base URL, without the query: "/users", "/rpc/f"
  int status = 0;                         ///< HTTP status; 0 when the transport failed
  std::string code;                       ///< PostgREST/PostgreSQL error code ("PGRST301", "23505"); empty on 2xx
  std::size_t rows = 0;                   ///< input rows the request carried (bulk calls); 0 for simple calls
  std::size_t bytesSent = 0;              ///< URL and body
  std::size_t bytesReceived = 0;          ///< answer body
  std::chrono::microseconds duration{0};  ///< from handing the request to the transport to its answer
  int attempt = 1;                        ///< 1 for the first send of these rows, 2+ for sends again
  bool retry = false;                     ///< sent again after a failure (retry, or after a fresh token)
  bool split = false;                     ///< part of a batch that was split or isolated after a failure
  bool bulk = false;                      ///< sent by a bulk call (bulkInsert/Upsert/Update/Delete)
  std::size_t concurrency = 0;            ///< bulk calls: requests the call allowed in flight when it sent this one
};

/// Returns the current bearer token (ClientOptions::tokenProvider).
using TokenProvider = std::function<std::string()>;
/// Receives one RequestEvent per request (ClientOptions::onRequest).
using RequestObserver = std::function<void(const RequestEvent&)>;

/// Settings of a Client. Only `url` is required.
struct ClientOptions {
  std::string url;  ///< PostgREST base URL, e.g. "http://localhost:3000" (no user info, query or fragment)
  /// Sent with every request. Names must be HTTP tokens and values free of CR/LF; headers
  /// pgrestify sets itself (Prefer, Accept, Content-Type, Accept-/Content-Profile, Range, Host,
  /// Content-Length...) are refused with std::invalid_argument naming the option to use instead.
  Headers headers;
  std::string bearerToken;                   ///< JWT sent as `Authorization: Bearer ...` (never logged)
  std::string schema;                        ///< sent as Accept-Profile (reads) / Content-Profile (writes)
  std::chrono::milliseconds timeout{60000};  ///< per request
  std::chrono::milliseconds connectTimeout{10000};
  std::string userAgent;                 ///< empty = "pgrestify/<version>"
  bool verifyTls = true;                 ///< TLS peer verification; turn off only for testing
  std::string caInfo;                    ///< CA bundle path, empty = system default
  std::shared_ptr<Transport> transport;  ///< empty = the libcurl transport built from the other fields
  /// Names of further headers that carry credentials (case-insensitive). Their values are redacted
  /// from errors like those of the built-in list (Authorization, Proxy-Authorization, apikey,
  /// X-Api-Key, Api-Key, X-Auth-Token, X-Access-Token, X-Amz-Security-Token, Cookie, Set-Cookie,
  /// X-CSRF-Token, X-Supabase-Api-Key); see docs/reliability.md.
  std::vector<std::string> secretHeaders;
  /// Connections per host one bulk call opens (the libcurl transport's pool per session). A bulk
  /// call whose `concurrency` is above it raises the limit for that call, so requests are never
  /// queued inside libcurl (see docs/api.md).
  std::size_t maxConnections = 32;
  std::string clientCert;                          ///< client certificate file (PEM) for mutual TLS
  std::string clientKey;                           ///< private key file (PEM) of clientCert; empty = in clientCert
  std::string keyPassword;                         ///< pass phrase of clientKey (never logged, never in a message)
  std::string caPath;                              ///< directory of CA certificates (caInfo is a CA file)
  TlsVersion minTlsVersion = TlsVersion::Default;  ///< lowest TLS version accepted from the server
  /// Proxy URL ("http://user:secret@proxy:3128"; http, https, socks4, socks4a, socks5, socks5h);
  /// its credentials never appear in a message. Empty = libcurl's default (http_proxy,
  /// https_proxy and no_proxy environment variables).
  std::string proxy;
  /// Asked for the bearer token instead of `bearerToken` (give one of the two): once, when the
  /// first request is built; again before a request when the cached token is a JWT whose `exp`
  /// is less than `renewTokenBefore` away; and when PostgREST answers `401` with code `PGRST301`
  /// (expired or invalid JWT), after which that request is sent once more with the fresh token
  /// (safe: PostgREST refused it before running it). The value is cached in between; concurrent
  /// requests refused with the same token ask once. Calls are serialized, from the thread making
  /// the call. An exception from the first call propagates out of the call needing the token
  /// (nothing is sent); one from a later call keeps the cached token (a refused request stays
  /// refused, 401). See docs/service.md.
  TokenProvider tokenProvider;
  /// Called once for every request of simple and bulk calls, after its answer, from the thread
  /// making the call (not under a lock; keep it quick; an exception from it propagates out of the
  /// call, like one from onProgress). Receives no credentials. See docs/service.md.
  RequestObserver onRequest;
  /// With a tokenProvider whose token is a JWT carrying `exp`: how long before `exp` the provider
  /// is asked for a fresh token, before the next request (at most once a second while it keeps
  /// giving a token that close to its expiry). A token without a readable `exp` is renewed only
  /// after a refusal. std::nullopt: only after a refusal. Negative is refused at construction.
  std::optional<std::chrono::seconds> renewTokenBefore = std::chrono::seconds(10);

  // ---- client-wide bulk defaults (issue #17, point 6) ----
  /// Defaults of the bulk options for every bulk call of this client (query builder, repository,
  /// CLI): batch size, body and URL caps, concurrency, isolation, retry policy. A field set in a
  /// call's options overrides them; an unset one falls back to the library default. Checked when
  /// the client is created (std::invalid_argument). A call's `timeout` has no field here: its
  /// client-wide default is `timeout` above. See docs/service.md, "Client-wide defaults".
  BulkDefaults bulkDefaults;
  // ---- end of client-wide bulk defaults ----
};

}  // namespace pgrestify
