// SPDX-License-Identifier: MIT
// What query builders, repositories and extensions hold of a Client, and the table facts it
// reads from PostgREST's description (TableSchema).
#pragma once

#include <pgrestify/client_options.hpp>
#include <pgrestify/transport.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrestify {

/// One column of a table as PostgREST's OpenAPI description gives it.
struct ColumnInfo {
  std::string name;
  std::string format;       ///< PostgreSQL type name: "uuid", "timestamp with time zone", "jsonb", "text[]"...
  std::string type;         ///< OpenAPI type: "string", "integer", "number", "boolean", "array"...
  bool primaryKey = false;  ///< part of the primary key (`<pk/>` in the description)
  bool required = false;    ///< NOT NULL without a default (in the definition's `required` list)
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

namespace detail {
class ClientState;
struct HandleAccess;
}  // namespace detail

/// A share of a Client: its connections and configuration. Every Client is a ClientHandle (pass a
/// Client where a handle is asked for: `UserRepository(client, "users")`); copies are cheap and
/// may be used from several threads at once. A default-constructed handle belongs to no client.
class ClientHandle {
 public:
  ClientHandle() = default;

  /// False for a default-constructed handle.
  explicit operator bool() const noexcept { return state_ != nullptr; }

  /// The client's options. @pre the handle belongs to a client.
  const ClientOptions& options() const;

  /// The table's columns and their types, from PostgREST's OpenAPI description (`GET /`, read once
  /// per table and client, then cached). `found` is false when PostgREST does not expose the
  /// table (unknown, or not yet in its schema cache). Throws pgrestify::Error/TransportError when
  /// the description cannot be read (for example a server run with `openapi-mode = "disabled"`).
  std::shared_ptr<const TableSchema> describeTable(const std::string& table) const;

  /// Calls a PostgreSQL function exposed by PostgREST (`POST /rpc/<function>`) and returns its
  /// JSON result (null when it returns nothing). Throws pgrestify::Error on failure.
  nlohmann::json rpc(const std::string& function, const nlohmann::json& args = nlohmann::json::object()) const;

 protected:
  explicit ClientHandle(std::shared_ptr<const detail::ClientState> state) : state_(std::move(state)) {}

 private:
  friend struct detail::HandleAccess;
  std::shared_ptr<const detail::ClientState> state_;
};

namespace detail {
// How the library's own templates (query.hpp, repository.hpp) reach the state behind a handle;
// the state itself is internal (src/client_state.hpp).

/// Query parameters (key, value), not yet encoded.
using Params = std::vector<std::pair<std::string, std::string>>;

/// Sends `METHOD /table?params` with the client's headers, the profile header, @p prefer and
/// @p extra, for a request whose answer holds rows (GET, or POST/PATCH/DELETE with
/// `return=representation`). Throws Error/TransportError unless the answer is 2xx, and Error
/// saying "not PostgREST's answer" unless it is what PostgREST 12 answers to that request (status
/// for the method, JSON Content-Type, a JSON array of objects, a well-formed Content-Range
/// consistent with the rows for GET and PATCH). Returns the rows; @p answer, when given, receives
/// the response.
nlohmann::json requestRows(const ClientState& client, std::string_view method, std::string_view table,
                           const Params& params, std::string_view prefer, std::string body, const Headers& extra,
                           HttpResponse* answer = nullptr);

/// The table's primary-key columns from PostgREST's description (cached) of @p schema (empty = the
/// client's); empty when it has none. Throws std::invalid_argument (notExposed) when PostgREST
/// does not expose the table, and Error/TransportError when the description cannot be read.
std::vector<std::string> exposedPrimaryKey(const ClientState& client, const std::string& table,
                                           const std::string& schema = {});

/// The message for a table PostgREST's OpenAPI description does not list.
inline std::string notExposed(const std::string& table) {
  return "pgrestify: table '" + table +
         "' is not exposed by PostgREST (unknown table, or not in its schema cache: after creating it, reload "
         "PostgREST's schema cache with NOTIFY pgrst, 'reload schema')";
}

/// The state behind a handle.
struct HandleAccess {
  static const std::shared_ptr<const ClientState>& state(const ClientHandle& handle) noexcept { return handle.state_; }
};
}  // namespace detail

}  // namespace pgrestify
