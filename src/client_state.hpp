// SPDX-License-Identifier: MIT
// Shared state behind Client, QueryBuilder and Repository (src/client_state.cpp). Internal: not
// installed; the installed templates reach it through the functions in include/pgrestify/client_handle.hpp.
#pragma once

#include <pgrestify/client_handle.hpp>
#include <pgrestify/client_options.hpp>
#include <pgrestify/result.hpp>
#include <pgrestify/transport.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrestify::detail {

class BulkOperation;
struct EngineSettings;

/// Checks ClientOptions::bulkDefaults (src/options.cpp), with the rules of the per-call options
/// (detail::validate of each options struct) for the fields set; throws std::invalid_argument.
void validate(const BulkDefaults& defaults);

/// Thread-safe: every member function may be called from several threads at once.
class ClientState {
 public:
  /// Validates @p options (URL present, header values without CR/LF, bulkDefaults) and creates the
  /// transport.
  explicit ClientState(ClientOptions options);

  /// Builds a request for `/table?params` with the client's headers (the current bearer token)
  /// and the profile header. An `Accept-Profile` entry in @p extra (put there by
  /// QueryBuilder::schema, the only way past checkUserHeader) names the schema for this request
  /// instead of ClientOptions::schema, sent as Accept-Profile (reads) or Content-Profile (writes).
  HttpRequest makeRequest(std::string_view method, std::string_view table, const Params& params,
                          std::string_view prefer, std::string body, const Headers& extra = {}) const;
  /// Builds `POST /rpc/<function>` with @p body (JSON arguments).
  HttpRequest makeRpcRequest(std::string_view function, std::string body) const;
  /// Sends and waits; never throws for HTTP or transport failures. With a token provider, a
  /// `401 PGRST301` answer to a request carrying the client's token is sent once more with a fresh
  /// token. Each request sent is reported to ClientOptions::onRequest.
  HttpResponse send(HttpRequest request) const;
  /// Runs a bulk operation through the engine (runOperation) with the client's hooks: the token
  /// renewal on `401 PGRST301` and ClientOptions::onRequest.
  BulkResult<nlohmann::json> runBulk(BulkOperation& op, EngineSettings settings) const;
  /// With a token provider: after a `401 PGRST301` to a request that carried @p usedAuthorization
  /// (its Authorization value), makes sure the cached token is newer than that one, asking the
  /// provider once if no other request did already. True when the request should be sent again
  /// (built anew). False without a provider, for a request that did not carry the client's token,
  /// or when the provider fails or gives the same token.
  bool renewToken(std::string_view usedAuthorization) const;
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
  std::vector<std::string> primaryKey(const std::string& table, const std::string& schema = {}) const;
  /// The table's columns and their types, from PostgREST's OpenAPI description (`GET /` with
  /// `Accept: application/openapi+json`, read once per table and cached). `found` is false when
  /// the table is not exposed. Throws Error/TransportError when the description cannot be read
  /// (for example a server run with `openapi-mode = "disabled"`).
  /// @p schema, when given, is the schema to describe instead of ClientOptions::schema.
  std::shared_ptr<const TableSchema> tableSchema(const std::string& table, const std::string& schema = {}) const;
  /// Whether PostgREST's OpenAPI description lists `/rpc/<name>` (a function the client's role may
  /// call in the client's schema). Read once per client and name, and cached; false without caching
  /// when the description cannot be read.
  bool exposesFunction(const std::string& name) const;

  /// Whether the server was seen honouring `Prefer: tx=rollback` (dry runs; set once seen).
  bool rollbackHonoured() const noexcept { return rollbackHonoured_.load(); }
  void setRollbackHonoured() const noexcept { rollbackHonoured_.store(true); }

  Transport& transport() const { return *transport_; }
  const ClientOptions& options() const { return options_; }
  const std::string& baseUrl() const { return baseUrl_; }

 private:
  /// `GET /` asking for PostgREST's OpenAPI description of @p schema (empty = the client's).
  HttpRequest descriptionRequest(const std::string& schema) const;
  ClientOptions options_;
  std::string baseUrl_;
  std::shared_ptr<Transport> transport_;
  /// The Authorization value to send ("Bearer <token>"), empty for none.
  std::string authorization() const;
  /// Whether the cached token is a JWT close enough to its `exp` to ask the provider again now
  /// (ClientOptions::renewTokenBefore). Called with tokenMutex_ held.
  bool renewalDue() const;
  /// Asks the provider again (renewMutex_ held): the Authorization value, empty when it failed.
  std::string askForFreshToken() const;
  /// Caches @p value as the token (tokenMutex_ held): its expiry and the time it was asked for.
  void cacheToken(std::string value) const;
  /// Reports a finished request to ClientOptions::onRequest.
  void observe(std::string_view method, std::string_view url, std::size_t bytesSent, const HttpResponse& response,
               std::chrono::steady_clock::time_point start, int attempt) const;
  /// A URL as RequestEvent::path gives it: below the base URL, without query or fragment.
  std::string eventPath(std::string_view url) const;

  Headers baseHeaders_;
  mutable std::mutex mutex_;
  // The token provider's cached token: tokenMutex_ guards authorization_/previous_; renewMutex_
  // serializes calls of the provider (never held while a request is sent).
  mutable std::mutex tokenMutex_;
  mutable std::mutex renewMutex_;
  mutable bool tokenFetched_ = false;
  mutable std::string authorization_;                                       ///< "Bearer <token>" or empty
  mutable std::string previous_;                                            ///< the value before the last renewal
  mutable std::optional<std::chrono::system_clock::time_point> expiresAt_;  ///< the JWT's `exp`
  mutable std::chrono::steady_clock::time_point askedAt_;                   ///< last call of the provider
  mutable std::map<std::string, std::shared_ptr<const TableSchema>> schemas_;
  mutable std::map<std::string, bool> functions_;
  mutable std::atomic<bool> rollbackHonoured_{false};
};

/// Throws Error/TransportError for a response that is not 2xx.
void throwIfFailed(const HttpResponse& response);

}  // namespace pgrestify::detail
