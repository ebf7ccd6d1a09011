// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/options.hpp>
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
  std::shared_ptr<Transport> transport;  ///< empty = the libcurl transport built from the fields above
  /// Names of further headers that carry credentials (case-insensitive). Their values are redacted
  /// from errors like those of the built-in list (Authorization, Proxy-Authorization, apikey,
  /// X-Api-Key, Api-Key, X-Auth-Token, X-Access-Token, X-Amz-Security-Token, Cookie, Set-Cookie,
  /// X-CSRF-Token, X-Supabase-Api-Key); see docs/reliability.md.
  std::vector<std::string> secretHeaders;

  // ---- client-wide bulk defaults (issue #17, point 6) ----
  /// Defaults of the bulk options for every bulk call of this client (query builder, repository,
  /// CLI): batch size, body and URL caps, concurrency, isolation, retry policy. A field set in a
  /// call's options overrides them; an unset one falls back to the library default. Checked when
  /// the client is created (std::invalid_argument). See docs/api.md, "Client-wide bulk defaults".
  BulkDefaults bulkDefaults;
  // ---- end of client-wide bulk defaults ----
};

}  // namespace pgrestify
