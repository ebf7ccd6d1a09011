// SPDX-License-Identifier: MIT
// The repository layer: ORM-style access to one table, built on QueryBuilder and the bulk engine.
//
//   auto userRepo = client.getRepository<User>("users");
//   std::vector<User> inserted = userRepo.bulkInsert(users, {.batchSize = 100});
//   std::optional<User> u = userRepo.findOne({{"id", 1}});
//   User saved = userRepo.save(user);              // insert, or update by primary key when set
//
// Unlike the query builder's bulk calls (which report failures in BulkResult and never throw for
// them), repository methods return the affected rows and THROW when anything failed: a
// BulkOperationErrorOf<T> (catch it as BulkOperationError or pgrestify::Error) carrying the partial
// result, or pgrestify::Error for the simple calls. See docs/repository.md.
#pragma once

#include <pgrestify/client_handle.hpp>
#include <pgrestify/detail/encode.hpp>
#include <pgrestify/error.hpp>
#include <pgrestify/filter.hpp>
#include <pgrestify/options.hpp>
#include <pgrestify/query.hpp>
#include <pgrestify/result.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pgrestify {

/// Thrown by a repository's bulk method (bulkInsert, insertMany, bulkUpsert, bulkUpdate,
/// bulkDelete) when at least one input row failed or was not processed (cancellation, deadline,
/// stopOnError), or when a row the server returned does not convert to the repository's row type
/// (then every row was written, result().ok() is true and result().warnings names the row). The
/// rows that did succeed ARE written; the exception carries the whole outcome.
///
/// As a pgrestify::Error, status()/code()/message()/details()/hint() are those of the first
/// failure (by input row index); status() is 0 and code() empty when no row failed but some were
/// not processed. Catch this class for any row type; catch BulkOperationErrorOf<T> for typed rows.
///
/// @code
/// try {
///   userRepo.bulkInsert(users);
/// } catch (const pgrestify::BulkOperationError& e) {
///   for (std::size_t i : e.failedIndexes()) std::cerr << users[i].email << " failed\n";
///   std::cerr << e.result().successful << " rows were written\n";
/// }
/// @endcode
class BulkOperationError : public Error {
 public:
  BulkOperationError(std::string operation, std::string table, BulkResult<nlohmann::json> result)
      : Error(firstError(result), describe(operation, table, result)),
        state_(std::make_shared<const State>(State{std::move(operation), std::move(table), std::move(result)})) {}

  /// The repository method that failed: "bulkInsert", "insertMany", "bulkUpsert", "bulkUpdate", "bulkDelete".
  const std::string& operation() const noexcept { return state_->operation; }
  const std::string& table() const noexcept { return state_->table; }
  /// The whole outcome: counts (successful, skipped, failed, notProcessed), `errors`, and in
  /// `data` the rows the server returned for the rows that were written, as JSON.
  const BulkResult<nlohmann::json>& result() const noexcept { return state_->result; }
  /// The per-failure details (kind, input row indexes, status, code, message...), by first row index.
  const std::vector<BulkError>& errors() const noexcept { return state_->result.errors; }
  /// Input row indexes (0-based) of every failed row, ascending, each once. Rows that were not
  /// processed are not listed (their number is result().notProcessed).
  std::vector<std::size_t> failedIndexes() const {
    std::vector<std::size_t> out;
    for (const auto& e : state_->result.errors) out.insert(out.end(), e.indexes.begin(), e.indexes.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  struct State {
    std::string operation;
    std::string table;
    BulkResult<nlohmann::json> result;
  };

  static ErrorInfo firstError(const BulkResult<nlohmann::json>& r) {
    ErrorInfo info;
    if (r.errors.empty()) {
      info.message =
          r.notProcessed || r.warnings.empty()
              ? std::to_string(r.notProcessed) + " rows were not processed" + (r.cancelled ? " (cancelled)" : "")
              : "no row failed, but " + conversionWarning(r);
      return info;
    }
    const BulkError& e = r.errors.front();
    info = e;
    info.bodySent = e.outcomeUnknown;
    return info;
  }

  static std::string conversionWarning(const BulkResult<nlohmann::json>& r) {
    for (const auto& w : r.warnings) {
      if (w.find("does not convert to the row type") != std::string::npos) return w;
    }
    return "a returned row does not convert to the row type";
  }

  static std::string describe(const std::string& operation, const std::string& table,
                              const BulkResult<nlohmann::json>& r) {
    if (r.ok()) {  // thrown because a returned row does not convert to the row type
      return "pgrestify: " + operation + " on '" + table + "': no row failed (" + std::to_string(r.successful) +
             " written, " + std::to_string(r.skipped) + " skipped), but " + conversionWarning(r);
    }
    std::string what = "pgrestify: " + operation + " on '" + table + "': " + std::to_string(r.failed) + " of " +
                       std::to_string(r.count + r.notProcessed) + " rows failed";
    if (r.notProcessed) what += ", " + std::to_string(r.notProcessed) + " not processed";
    if (r.cancelled) what += " (cancelled)";
    if (!r.errors.empty()) {
      const BulkError& e = r.errors.front();
      what += "; first: row " + (e.indexes.empty() ? std::string("?") : std::to_string(e.indexes.front()));
      if (e.status) what += ": HTTP " + std::to_string(e.status);
      if (!e.code.empty()) what += " [" + e.code + "]";
      if (!e.message.empty()) what += ": " + e.message;
      if (!e.details.empty()) what += " (details: " + e.details + ")";
    }
    return what;
  }

  // Shared so that copying the exception cannot throw.
  std::shared_ptr<const State> state_;
};

/// BulkOperationError with the written rows converted to the repository's row type.
template <class T>
class BulkOperationErrorOf : public BulkOperationError {
 public:
  BulkOperationErrorOf(std::string operation, std::string table, BulkResult<nlohmann::json> result, std::vector<T> rows)
      : BulkOperationError(std::move(operation), std::move(table), std::move(result)),
        rows_(std::make_shared<const std::vector<T>>(std::move(rows))) {}

  /// The rows that were written before/besides the failures, as returned by the server (in input
  /// order of their batches). A returned row that does not convert to T is only in result().data.
  const std::vector<T>& rows() const noexcept { return *rows_; }

 private:
  std::shared_ptr<const std::vector<T>> rows_;
};

/// Thrown by Repository::save when the entity's primary key is set but no row has it.
/// status() is 404 (no server error: the PATCH matched nothing), code() is empty.
class NotFoundError : public Error {
 public:
  using Error::Error;
};

/// ORM-style access to one table or view; rows are `T` (see PGRESTIFY_ROW) or nlohmann::json.
/// Get one from Client::getRepository<T>(table). Cheap to copy; as thread-safe as the Client.
///
/// Every method returns the rows it affected, as the server stored them, and throws on failure:
/// the bulk methods BulkOperationErrorOf<T> (see above), the simple ones pgrestify::Error
/// (TransportError when there was no answer), misuse std::invalid_argument before any request.
template <class T = nlohmann::json>
class Repository {
 public:
  using Entity = T;

  /// A repository on @p table through @p client (what Client::getRepository does).
  /// @throws std::invalid_argument for a handle of no client or an invalid table name.
  Repository(ClientHandle client, std::string table)
      : client_(std::move(client)), state_(detail::HandleAccess::state(client_)), table_(std::move(table)) {
    if (!state_) throw std::invalid_argument("pgrestify: a repository needs a client");
    detail::checkIdentifier(table_, "table name");
  }

  const std::string& table() const noexcept { return table_; }
  /// The client this repository uses.
  const ClientHandle& client() const noexcept { return client_; }

  /// A copy of this repository whose bulk methods (bulkInsert, insertMany, bulkUpsert, bulkUpdate,
  /// bulkDelete) do not ask the server for the rows they write: they return an empty vector and
  /// still throw BulkOperationErrorOf<T> when a row failed. Needed on a table whose SELECT policy
  /// (row-level security) hides rows the role may write: PostgreSQL checks rows returned by a write
  /// against the SELECT policies, so reading them back fails the write. bulkUpdate and bulkDelete
  /// by key still read back the match columns of the changed rows (to tell which keys matched).
  Repository withoutReadBack() const {
    Repository copy = *this;
    copy.readBack_ = false;
    return copy;
  }
  /// False for a repository from withoutReadBack().
  bool readsBack() const noexcept { return readBack_; }
  /// A copy of this repository whose requests (simple and bulk) go to the table in schema @p name
  /// instead of ClientOptions::schema (QueryBuilder::schema; Accept-/Content-Profile).
  Repository schema(std::string name) const {
    Repository copy = *this;
    QueryBuilder<nlohmann::json>(client_, table_).schema(name);  // validates the name
    copy.schema_ = std::move(name);
    return copy;
  }

  /// A query builder on the table, for anything the criteria below cannot express (order, limit,
  /// select, like...). The counterpart of the reference's `createQueryBuilder()`.
  QueryBuilder<T> createQueryBuilder() const {
    QueryBuilder<T> q(client_, table_);
    if (!schema_.empty()) q.schema(schema_);
    return q;
  }

  // ---- reads (throw pgrestify::Error) ----

  /// Rows matching every criterion (all rows for `{}`), in the server's order.
  std::vector<T> find(const Where& where = {}) const { return createQueryBuilder().where(where).find(); }
  /// One row matching the criteria, or nullopt.
  std::optional<T> findOne(const Where& where) const { return createQueryBuilder().where(where).findOne(); }
  /// Number of rows matching the criteria (exact count).
  std::size_t count(const Where& where = {}) const { return createQueryBuilder().where(where).count(); }

  // ---- bulk writes (batched by the engine; throw BulkOperationErrorOf<T> when a row failed) ----
  //
  // They ask the server for the written rows and return them: `returning` in the options is
  // ignored (treated as true); `select` narrows the returned columns. On a repository from
  // withoutReadBack() they ask for nothing back and return an empty vector (failures still throw).
  // Use client.from<T>(table).bulkInsert(...) for counts without rows.

  /// Inserts rows in batches; returns the inserted rows (with server-filled columns). With
  /// OnConflict::Ignore, the duplicates are skipped (not an error) and are not in the result.
  template <std::ranges::input_range R>
  std::vector<T> bulkInsert(R&& rows, BulkInsertOptions options = {}) const {
    options.returning = readBack_;
    return finish("bulkInsert", jsonBuilder().bulkInsert(rows, options));
  }
  /// The reference docs' other name for bulkInsert (same batching, options and result).
  template <std::ranges::input_range R>
  std::vector<T> insertMany(R&& rows, BulkInsertOptions options = {}) const {
    options.returning = readBack_;
    return finish("insertMany", jsonBuilder().bulkInsert(rows, options));
  }
  /// Inserts rows or updates the rows with the same conflict columns; returns the inserted and
  /// updated rows (with ignoreDuplicates, only the inserted ones).
  template <std::ranges::input_range R>
  std::vector<T> bulkUpsert(R&& rows, BulkUpsertOptions options = {}) const {
    options.returning = readBack_;
    return finish("bulkUpsert", jsonBuilder().bulkUpsert(rows, options));
  }
  /// Updates rows by key (each input row holds the match column(s) and its new values); returns
  /// the updated rows. A key that matches no row is a failure (BulkErrorKind::NotFound).
  template <std::ranges::input_range R>
  std::vector<T> bulkUpdate(R&& rows, BulkUpdateOptions options = {}) const {
    options.returning = readBack_;
    return finish("bulkUpdate", jsonBuilder().bulkUpdate(rows, options));
  }
  /// Deletes rows by key; returns the deleted rows. A key that matches no row is a failure
  /// (BulkErrorKind::NotFound; with `notFoundOk`, it counts as deleted and nothing is thrown for
  /// it); the other keys are still deleted.
  template <std::ranges::input_range R>
  std::vector<T> bulkDelete(R&& keys, BulkDeleteOptions options = {}) const {
    options.returning = readBack_;
    return finish("bulkDelete", jsonBuilder().bulkDelete(keys, options));
  }

  // ---- simple writes (one request each; throw pgrestify::Error) ----

  /// Inserts @p entity when its primary key is absent or null (the database fills it), or updates
  /// the row with that key (PATCH of the other columns) when it is set; returns the stored row.
  /// @throws NotFoundError when the key is set and no row has it (nothing is inserted).
  /// @throws std::invalid_argument when the entity is not an object or the table has no primary key.
  template <class Row>
  T save(const Row& entity) const {
    nlohmann::json row = entity;
    if (!row.is_object()) throw std::invalid_argument("pgrestify: save() needs an object");
    auto key = detail::exposedPrimaryKey(*state_, table_, schema_);
    if (key.empty()) {
      throw std::invalid_argument("pgrestify: save() needs a primary key and table '" + table_ +
                                  "' has none that PostgREST reports; use insert/update instead");
    }
    bool keySet = std::all_of(key.begin(), key.end(), [&](const std::string& c) {
      auto it = row.find(c);
      return it != row.end() && !it->is_null();
    });
    if (!keySet) {
      for (const auto& c : key) {
        if (auto it = row.find(c); it != row.end() && it->is_null()) row.erase(it);  // let the default fill it
      }
      return createQueryBuilder().insert(row);
    }
    QueryBuilder<T> query = createQueryBuilder();
    std::string described;
    for (const auto& c : key) {
      query.eq(c, row[c]);
      described += (described.empty() ? "" : ", ") + c + "=" + row[c].dump();
      row.erase(c);
    }
    std::vector<T> rows = row.empty() ? query.find() : query.update(row);
    if (rows.empty()) {
      throw NotFoundError(ErrorInfo{.status = 404, .message = "no row of '" + table_ + "' has " + described},
                          "pgrestify: save(): no row of '" + table_ + "' has " + described);
    }
    return std::move(rows.front());
  }

  /// Updates every row matching @p where with @p patch (an object or a row type); returns the
  /// updated rows (empty when none matched).
  /// @throws std::invalid_argument for empty criteria (no accidental whole-table update; use
  /// createQueryBuilder().allRows().update(patch) to mean it) or an empty patch.
  template <class Patch>
  std::vector<T> update(const Where& where, const Patch& patch) const {
    if (where.empty()) {
      throw std::invalid_argument("pgrestify: Repository::update() on '" + table_ +
                                  "' needs criteria; use createQueryBuilder().allRows().update() for every row");
    }
    return createQueryBuilder().where(where).update(patch);
  }

  /// Deletes every row matching @p where; returns the deleted rows (empty when none matched).
  /// The reference's `delete` (a C++ keyword).
  /// @throws std::invalid_argument for empty criteria (use createQueryBuilder().allRows().remove()).
  std::vector<T> remove(const Where& where) const {
    if (where.empty()) {
      throw std::invalid_argument("pgrestify: Repository::remove() on '" + table_ +
                                  "' needs criteria; use createQueryBuilder().allRows().remove() for every row");
    }
    return createQueryBuilder().where(where).remove();
  }

 private:
  QueryBuilder<nlohmann::json> jsonBuilder() const {
    QueryBuilder<nlohmann::json> q(client_, table_);
    if (!schema_.empty()) q.schema(schema_);
    return q;
  }

  // The rows the server returned, as T. A returned row that does not convert to T (the rows ARE
  // written) is named in `warnings` and makes the call throw BulkOperationErrorOf<T>, like a failure.
  std::vector<T> finish(const char* operation, BulkResult<nlohmann::json>&& result) const {
    std::vector<T> rows;
    rows.reserve(result.data.size());
    bool converted = true;
    for (std::size_t i = 0; i < result.data.size(); ++i) {
      try {
        rows.push_back(result.data[i].template get<T>());
      } catch (const nlohmann::json::exception& e) {  // kept in result().data only
        converted = false;
        result.warnings.push_back("returned row " + std::to_string(i) +
                                  " does not convert to the row type: " + e.what());
      }
    }
    if (!result.ok() || !converted) {
      throw BulkOperationErrorOf<T>(operation, table_, std::move(result), std::move(rows));
    }
    return rows;
  }

  ClientHandle client_;
  std::shared_ptr<const detail::ClientState> state_;
  std::string table_;
  bool readBack_ = true;
  std::string schema_;  ///< schema(); empty = the client's
};

/// Base of user-defined repositories (the reference's `CustomRepositoryBase<T>`): every
/// Repository<T> method, plus rpc() for what needs SQL. Get one with
/// `client.getCustomRepository<UserRepository>("users")`.
///
/// @code
/// class UserRepository : public pgrestify::CustomRepositoryBase<User> {
///  public:
///   using CustomRepositoryBase::CustomRepositoryBase;
///   std::vector<User> bulkCreateUsers(const std::vector<User>& rows) const { return insertMany(rows); }
/// };
/// @endcode
template <class T = nlohmann::json>
class CustomRepositoryBase : public Repository<T> {
 public:
  CustomRepositoryBase(ClientHandle client, std::string table) : Repository<T>(std::move(client), std::move(table)) {}

 protected:
  /// Calls a PostgreSQL function exposed by PostgREST (`POST /rpc/<function>`), the counterpart of
  /// the reference's `this.query(sql)`; returns its JSON result. Throws pgrestify::Error.
  nlohmann::json rpc(const std::string& function, const nlohmann::json& args = nlohmann::json::object()) const {
    return this->client().rpc(function, args);
  }
};

}  // namespace pgrestify
