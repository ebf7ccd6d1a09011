// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/transport.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace pgrestify {

/// Settings of a Client. Only `url` is required.
struct ClientOptions {
  std::string url;                 ///< PostgREST base URL, e.g. "http://localhost:3000"
  Headers headers;                 ///< sent with every request (CR/LF in a value is rejected)
  std::string bearerToken;         ///< JWT sent as `Authorization: Bearer ...` (never logged)
  std::string schema;              ///< sent as Accept-Profile (reads) / Content-Profile (writes)
  std::chrono::milliseconds timeout{60000};         ///< per request
  std::chrono::milliseconds connectTimeout{10000};
  std::string userAgent;           ///< empty = "pgrestify/<version>"
  bool verifyTls = true;           ///< TLS peer verification; turn off only for testing
  std::string caInfo;              ///< CA bundle path, empty = system default
  std::shared_ptr<Transport> transport;  ///< empty = the libcurl transport built from the fields above
};

}  // namespace pgrestify
