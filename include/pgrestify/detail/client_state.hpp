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

/// One column of a table as PostgREST's OpenAPI description gives it.
struct ColumnInfo {
  std::string name;
  std::string format;        ///< PostgreSQL type name: "uuid", "timestamp with time zone", "jsonb", "text[]"...
  std::string type;          ///< OpenAPI type: "string", "integer", "number", "boolean", "array"...
  bool primaryKey = false;   ///< part of the primary key (`<pk/>` in the description)
  bool required = false;     ///< NOT NULL without a default (in the definition's `required` list)
};

/// A table (or view) as PostgREST's OpenAPI description gives it.
struct TableSchema {
  bool found = false;               ///< the table is exposed by PostgREST
  std::vector<ColumnInfo> columns;  ///< in the description's order

  /// The column named @p name, or nullptr.
  const ColumnInfo* column(std::string_view name) const {
    for (const auto& c : columns) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }
};

/// Checks ClientOptions::bulkDefaults (src/options.cpp), with the rules of the per-call options
/// (detail::validate of each options struct) for the fields set; throws std::invalid_argument.
void validate(const BulkDefaults& defaults);

/// Thread-safe: every member function may be called from several threads at once.
class ClientState {
 public:
  /// Validates @p options (URL present, header values without CR/LF, bulkDefaults) and creates the
  /// transport.
  explicit ClientState(ClientOptions options);

  /// Builds a request for `/table?params` with the client's headers and the profile header.
  HttpRequest makeRequest(std::string_view method, std::string_view table, const Params& params,
                          std::string_view prefer, std::string body, const Headers& extra = {}) const;
  /// Builds `POST /rpc/<function>` with @p body (JSON arguments).
  HttpRequest makeRpcRequest(std::string_view function, std::string body) const;
  /// Sends and waits; never throws for HTTP or transport failures.
  HttpResponse send(HttpRequest request) const;
  /// What Client::send does to a raw request: a relative URL (not starting with http:// or
  /// https://) is resolved against the base URL and gets the client's headers (ClientOptions::
  /// headers, the bearer token, the schema's profile header) unless the request sets the same
  /// name; an absolute URL is left as it is (the client's credentials never go to another server).
  /// Throws std::invalid_argument for a URL with user info, spaces or control characters, or a
  /// header with CR/LF.
  HttpRequest resolve(HttpRequest request) const;
  /// For `POST /rpc/...`: sends and throws Error/TransportError unless the answer is 2xx; throws
  /// Error when a 2xx answer is not PostgREST's (not 200 with a JSON body, nor 204 without one).
  /// Returns the parsed body (null when empty).
  nlohmann::json sendJson(HttpRequest request) const;
  /// For a table request whose answer holds rows (GET, or POST/PATCH/DELETE with
  /// `return=representation`): sends, throws Error/TransportError unless the answer is 2xx, and
  /// throws Error saying "not PostgREST's answer" unless it is what PostgREST 12 answers to that
  /// request (status for the method, JSON Content-Type, a JSON array of objects, a well-formed
  /// Content-Range consistent with the rows for GET and PATCH). Returns the rows; @p answer, when
  /// given, receives the response.
  nlohmann::json sendForRows(HttpRequest request, HttpResponse* answer = nullptr) const;
  /// The table's primary-key columns, from PostgREST's OpenAPI description (cached). Empty when
  /// the table has none or is unknown.
  std::vector<std::string> primaryKey(const std::string& table) const;
  /// The table's columns and their types, from PostgREST's OpenAPI description (`GET /` with
  /// `Accept: application/openapi+json`, read once per table and cached). `found` is false when
  /// the table is not exposed. Throws Error/TransportError when the description cannot be read
  /// (for example a server run with `openapi-mode = "disabled"`).
  std::shared_ptr<const TableSchema> tableSchema(const std::string& table) const;

  Transport& transport() const { return *transport_; }
  const ClientOptions& options() const { return options_; }
  const std::string& baseUrl() const { return baseUrl_; }

 private:
  ClientOptions options_;
  std::string baseUrl_;
  std::shared_ptr<Transport> transport_;
  Headers baseHeaders_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::shared_ptr<const TableSchema>> schemas_;
};

/// The message for a table PostgREST's OpenAPI description does not list (TableSchema::found false).
inline std::string notExposed(const std::string& table) {
  return "pgrestify: table '" + table +
         "' is not exposed by PostgREST (unknown table, or not in its schema cache: after creating it, reload "
         "PostgREST's schema cache with NOTIFY pgrst, 'reload schema')";
}

/// Throws Error/TransportError for a response that is not 2xx.
void throwIfFailed(const HttpResponse& response);

}  // namespace pgrestify::detail
