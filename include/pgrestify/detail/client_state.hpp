// SPDX-License-Identifier: MIT
// Shared state behind Client, QueryBuilder and Repository (src/client.cpp).
#pragma once

#include <pgrestify/client_options.hpp>
#include <pgrestify/transport.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrestify::detail {

/// Query parameters (key, value), not yet encoded.
using Params = std::vector<std::pair<std::string, std::string>>;

/// Thread-safe: every member function may be called from several threads at once.
class ClientState {
 public:
  /// Validates @p options (URL present, header values without CR/LF) and creates the transport.
  explicit ClientState(ClientOptions options);

  /// Builds a request for `/table?params` with the client's headers and the profile header.
  HttpRequest makeRequest(std::string_view method, std::string_view table, const Params& params,
                          std::string_view prefer, std::string body, const Headers& extra = {}) const;
  /// Builds `POST /rpc/<function>` with @p body (JSON arguments).
  HttpRequest makeRpcRequest(std::string_view function, std::string body) const;
  /// Sends and waits; never throws for HTTP or transport failures.
  HttpResponse send(HttpRequest request) const;
  /// Sends and throws Error/TransportError unless the answer is 2xx; returns the parsed body
  /// (null when empty).
  nlohmann::json sendJson(HttpRequest request) const;
  /// The table's primary-key columns, from PostgREST's OpenAPI description (cached). Empty when
  /// the table has none or is unknown.
  std::vector<std::string> primaryKey(const std::string& table) const;

  Transport& transport() const { return *transport_; }
  const ClientOptions& options() const { return options_; }
  const std::string& baseUrl() const { return baseUrl_; }

 private:
  ClientOptions options_;
  std::string baseUrl_;
  std::shared_ptr<Transport> transport_;
  Headers baseHeaders_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::vector<std::string>> primaryKeys_;
};

/// Throws Error/TransportError for a response that is not 2xx.
void throwIfFailed(const HttpResponse& response);

}  // namespace pgrestify::detail
