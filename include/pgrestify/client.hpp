// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/client_handle.hpp>
#include <pgrestify/client_options.hpp>
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
class Client : public ClientHandle {
 public:
  /// @throws std::invalid_argument for a missing/invalid URL or header values with CR/LF.
  explicit Client(ClientOptions options);

  /// A query builder on @p table (a table or view of the exposed schema).
  template <class T = nlohmann::json>
  QueryBuilder<T> from(std::string table) const {
    return QueryBuilder<T>(*this, std::move(table));
  }

  /// A repository on @p table: `client.getRepository<User>("users").findOne({{"id", 1}})`.
  /// See docs/repository.md.
  template <class T = nlohmann::json>
  Repository<T> getRepository(std::string table) const {
    return Repository<T>(*this, std::move(table));
  }

  /// A user-defined repository (a class derived from CustomRepositoryBase<Entity>) on @p table:
  /// `client.getCustomRepository<UserRepository>("users")`.
  template <class R>
  requires std::derived_from<R, CustomRepositoryBase<typename R::Entity>> &&
      std::constructible_from<R, ClientHandle, std::string>
          R getCustomRepository(std::string table)
  const { return R(ClientHandle(*this), std::move(table)); }

  /// Sends a raw request as it is (no check of the answer; never throws for HTTP or transport
  /// failures). A relative URL (`"/users?id=eq.1"`) is resolved against the base URL and gets the
  /// client's headers (ClientOptions::headers, the bearer token, the schema's profile header)
  /// unless the request sets a header of the same name; an absolute URL is sent untouched (the
  /// client's credentials never go to another server). Credentials in the answer are redacted.
  /// @throws std::invalid_argument for a URL with user info, spaces or control characters, or a
  /// header with CR/LF.
  HttpResponse send(HttpRequest request) const;

  // options(), describeTable() and rpc() come from ClientHandle.
};

/// Creates a client: `createClient({.url = "http://localhost:3000", .bearerToken = jwt})`.
inline Client createClient(ClientOptions options) { return Client(std::move(options)); }

}  // namespace pgrestify
