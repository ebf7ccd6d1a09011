// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/client_options.hpp>
#include <pgrestify/detail/client_state.hpp>
#include <pgrestify/query.hpp>
#include <pgrestify/repository.hpp>

#include <nlohmann/json.hpp>

#include <concepts>
#include <memory>
#include <string>
#include <utility>

namespace pgrestify {

/// A PostgREST client. Cheap to copy (copies share one connection pool and configuration) and
/// safe to use from several threads at once; each bulk call drives its own requests from the
/// calling thread.
///
/// @code
/// auto client = pgrestify::createClient({.url = "http://localhost:3000"});
/// auto users = client.from<User>("users").eq("active", true).find();
/// @endcode
class Client {
 public:
  /// @throws std::invalid_argument for a missing/invalid URL or header values with CR/LF.
  explicit Client(ClientOptions options) : state_(std::make_shared<detail::ClientState>(std::move(options))) {}

  /// A query builder on @p table (a table or view of the exposed schema).
  template <class T = nlohmann::json>
  QueryBuilder<T> from(std::string table) const {
    return QueryBuilder<T>(state_, std::move(table));
  }

  /// A repository on @p table: `client.getRepository<User>("users").findOne({{"id", 1}})`.
  /// See docs/repository.md.
  template <class T = nlohmann::json>
  Repository<T> getRepository(std::string table) const {
    return Repository<T>(state_, std::move(table));
  }

  /// A user-defined repository (a class derived from CustomRepositoryBase<Entity>) on @p table:
  /// `client.getCustomRepository<UserRepository>("users")`.
  template <class R>
    requires std::derived_from<R, CustomRepositoryBase<typename R::Entity>> &&
             std::constructible_from<R, std::shared_ptr<const detail::ClientState>, std::string>
  R getCustomRepository(std::string table) const {
    return R(state_, std::move(table));
  }

  /// Calls a PostgreSQL function exposed by PostgREST (`POST /rpc/<function>`) and returns its
  /// JSON result (null when it returns nothing). Throws pgrestify::Error on failure.
  nlohmann::json rpc(const std::string& function, const nlohmann::json& args = nlohmann::json::object()) const {
    return state_->sendJson(state_->makeRpcRequest(function, args.dump()));
  }

  /// Sends a raw request as it is (no check of the answer; never throws for HTTP or transport
  /// failures). A relative URL (`"/users?id=eq.1"`) is resolved against the base URL and gets the
  /// client's headers (ClientOptions::headers, the bearer token, the schema's profile header)
  /// unless the request sets a header of the same name; an absolute URL is sent untouched (the
  /// client's credentials never go to another server). Credentials in the answer are redacted.
  /// @throws std::invalid_argument for a URL with user info, spaces or control characters, or a
  /// header with CR/LF.
  HttpResponse send(HttpRequest request) const { return state_->send(state_->resolve(std::move(request))); }

  const ClientOptions& options() const noexcept { return state_->options(); }
  /// The shared state, for extensions (repositories, tools).
  const std::shared_ptr<const detail::ClientState>& state() const noexcept { return state_; }

 private:
  std::shared_ptr<const detail::ClientState> state_;
};

/// Creates a client: `createClient({.url = "http://localhost:3000", .bearerToken = jwt})`.
inline Client createClient(ClientOptions options) { return Client(std::move(options)); }

}  // namespace pgrestify
