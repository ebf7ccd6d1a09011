// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/bulk_writer.hpp>
#include <pgrestify/client_handle.hpp>
#include <pgrestify/detail/async.hpp>
#include <pgrestify/detail/bulk_ops.hpp>
#include <pgrestify/detail/encode.hpp>
#include <pgrestify/error.hpp>
#include <pgrestify/filter.hpp>
#include <pgrestify/options.hpp>
#include <pgrestify/raw_json.hpp>
#include <pgrestify/result.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <concepts>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace pgrestify {

namespace detail {

/// The read position in an input range, for the sources below. Iterators of single-pass ranges
/// (std::views::istream, generators) may be move-only, while the sources are copyable
/// std::functions, so the cursor lives behind a shared_ptr. Ranges are read lazily, one batch at
/// a time.
template <std::ranges::input_range R>
auto rangeCursor(R& rows) {
  struct Cursor {
    std::ranges::iterator_t<R> it;
    std::ranges::sentinel_t<R> end;
  };
  return std::make_shared<Cursor>(Cursor{.it = std::ranges::begin(rows), .end = std::ranges::end(rows)});
}

/// A RowSource over any input range whose elements convert to JSON.
template <std::ranges::input_range R>
RowSource rangeSource(R& rows) {
  return [cursor = rangeCursor(rows)](nlohmann::json& j) {
    if (cursor->it == cursor->end) return false;
    j = *cursor->it;
    ++cursor->it;
    return true;
  };
}

/// A RowWriterSource over any input range: PGRESTIFY_ROW structs are written directly, other
/// elements through their JSON conversion.
template <std::ranges::input_range R>
RowWriterSource rowWriterSource(R& rows) {
  return [cursor = rangeCursor(rows)](RowWriter& writer, std::string& out) {
    if (cursor->it == cursor->end) return false;
    writeRow(writer, out, *cursor->it);
    ++cursor->it;
    return true;
  };
}

template <std::ranges::input_range R>
std::optional<std::size_t> rangeSize(R& rows) {
  if constexpr (std::ranges::sized_range<R>) {
    return static_cast<std::size_t>(std::ranges::size(rows));
  } else {
    return std::nullopt;
  }
}

/// Converts the engine's JSON result to BulkResult<T>. Returned rows that do not convert to T
/// are left out of `data` and named in `warnings` (bulk calls never throw for row problems).
template <class T>
BulkResult<T> typedResult(BulkResult<nlohmann::json>&& r) {
  if constexpr (std::same_as<T, nlohmann::json>) {
    return std::move(r);
  } else {
    BulkResult<T> out;
    out.data.reserve(r.data.size());
    for (std::size_t i = 0; i < r.data.size(); ++i) {
      try {
        out.data.push_back(r.data[i].template get<T>());
      } catch (const std::exception& e) {  // the row was written: report, never throw from a bulk call
        std::string note = "returned row ";
        note += std::to_string(i);
        note += " does not convert to the row type: ";
        note += e.what();
        out.warnings.push_back(std::move(note));
      }
    }
    out.warnings.insert(out.warnings.end(), r.warnings.begin(), r.warnings.end());
    out.count = r.count;
    out.successful = r.successful;
    out.skipped = r.skipped;
    out.failed = r.failed;
    out.notProcessed = r.notProcessed;
    out.errors = std::move(r.errors);
    out.cancelled = r.cancelled;
    out.batches = r.batches;
    out.requests = r.requests;
    out.retries = r.retries;
    out.elapsed = r.elapsed;
    return out;
  }
}

template <class T>
std::vector<T> rowsOf(nlohmann::json&& body) {
  std::vector<T> out;
  if (!body.is_array()) return out;
  out.reserve(body.size());
  for (auto& j : body) out.push_back(j.template get<T>());
  return out;
}

}  // namespace detail

/// A fluent query on one table or view: filters, select, order, limit, then a read, a simple write
/// or a bulk operation. Rows are `T` (any type with nlohmann to_json/from_json, see PGRESTIFY_ROW)
/// or nlohmann::json. Cheap to copy; safe to use from several threads as long as each thread has
/// its own builder (they may share one Client).
///
/// @code
/// auto inactive = client.from<User>("users").select("id,email").eq("active", false)
///                       .lt("last_login", "2023-01-01").find();
/// auto result = client.from<User>("users").bulkInsert(users, {.batchSize = 100, .returning = true});
/// @endcode
template <class T = nlohmann::json>
class QueryBuilder {
 public:
  /// A query on @p table through @p client (what Client::from does).
  /// @throws std::invalid_argument for a handle of no client or an invalid table name.
  QueryBuilder(const ClientHandle& client, std::string table)
      : state_(detail::HandleAccess::state(client)), table_(std::move(table)) {
    if (!state_) throw std::invalid_argument("pgrestify: a query needs a client");
    detail::checkIdentifier(table_, "table name");
  }

  // ---- shaping the query ----
  /// Columns to return (PostgREST `select`, e.g. "id,email" or "*,posts(*)").
  QueryBuilder& select(std::string columns) {
    select_ = std::move(columns);
    return *this;
  }
  /// Adds `column=<condition>`; all filters must hold. `column` may name an embedded resource's
  /// column (`posts.published`); such a filter does not restrict update()/remove(). Throws
  /// std::invalid_argument for names PostgREST reserves (select, columns, on_conflict, order,
  /// limit, offset, and, or).
  QueryBuilder& filter(const std::string& column, const Condition& condition) {
    detail::checkFilterColumn(column);
    filters_.emplace_back(column, condition.value());
    return *this;
  }
  QueryBuilder& where(const Where& criteria) {
    for (const auto& [column, condition] : criteria) filter(column, condition);
    return *this;
  }
  template <class V>
  QueryBuilder& eq(const std::string& c, V&& v) {
    return filter(c, pgrestify::eq(std::forward<V>(v)));
  }
  template <class V>
  QueryBuilder& neq(const std::string& c, V&& v) {
    return filter(c, pgrestify::neq(std::forward<V>(v)));
  }
  template <class V>
  QueryBuilder& gt(const std::string& c, V&& v) {
    return filter(c, pgrestify::gt(std::forward<V>(v)));
  }
  template <class V>
  QueryBuilder& gte(const std::string& c, V&& v) {
    return filter(c, pgrestify::gte(std::forward<V>(v)));
  }
  template <class V>
  QueryBuilder& lt(const std::string& c, V&& v) {
    return filter(c, pgrestify::lt(std::forward<V>(v)));
  }
  template <class V>
  QueryBuilder& lte(const std::string& c, V&& v) {
    return filter(c, pgrestify::lte(std::forward<V>(v)));
  }
  QueryBuilder& like(const std::string& c, std::string pattern) {
    return filter(c, pgrestify::like(std::move(pattern)));
  }
  QueryBuilder& ilike(const std::string& c, std::string pattern) {
    return filter(c, pgrestify::ilike(std::move(pattern)));
  }
  QueryBuilder& is(const std::string& c, std::nullptr_t) { return filter(c, pgrestify::is(nullptr)); }
  QueryBuilder& is(const std::string& c, bool value) { return filter(c, pgrestify::is(value)); }
  template <std::ranges::input_range R>
  QueryBuilder& in(const std::string& c, const R& values) {
    return filter(c, pgrestify::in(values));
  }
  template <class V>
  QueryBuilder& in(const std::string& c, std::initializer_list<V> values) {
    return filter(c, pgrestify::in(values));
  }
  /// NOT of a condition: `.not_("role", pgrestify::eq("admin"))` sends `role=not.eq.admin`.
  QueryBuilder& not_(const std::string& c, const Condition& condition) { return filter(c, condition.negate()); }
  /// ORDER BY; several calls add further sort keys.
  QueryBuilder& order(const std::string& column, bool ascending = true) {
    if (!order_.empty()) order_ += ",";
    order_ += detail::quoteIdentifier(column) + (ascending ? ".asc" : ".desc");
    return *this;
  }
  QueryBuilder& limit(std::size_t n) {
    limit_ = n;
    return *this;
  }
  QueryBuilder& offset(std::size_t n) {
    offset_ = n;
    return *this;
  }
  /// An extra header for this query's requests, simple and bulk. Throws std::invalid_argument for
  /// a name that is not an HTTP token, a value with CR/LF, and the headers pgrestify sets itself
  /// (Prefer, Accept, Content-Type, Accept-/Content-Profile, Range, Host, Content-Length...: the
  /// message names the option to use instead).
  QueryBuilder& header(std::string name, std::string value) {
    detail::checkUserHeader(name, value);
    headers_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  /// The schema of this query's requests, simple and bulk, instead of ClientOptions::schema: sent
  /// as Accept-Profile (reads) or Content-Profile (writes). The schema must be one PostgREST
  /// exposes (`db-schemas`); another is refused by PostgREST (406, PGRST106). Throws
  /// std::invalid_argument for an empty name or one with CR/LF.
  QueryBuilder& schema(std::string name) {
    if (name.empty()) throw std::invalid_argument("pgrestify: schema() needs a schema name");
    detail::checkHeader("Accept-Profile", name);
    std::erase_if(headers_, [](const auto& h) { return h.first == "Accept-Profile"; });
    headers_.emplace_back("Accept-Profile", name);  // ClientState::makeRequest reads it as the schema
    schema_ = std::move(name);
    return *this;
  }
  /// Allows update()/remove() without a filter on the table (they refuse otherwise).
  QueryBuilder& allRows() {
    allRows_ = true;
    return *this;
  }

  // ---- reads (throw pgrestify::Error) ----
  std::vector<T> find() const {
    return detail::rowsOf<T>(detail::requestRows(*state_, "GET", table_, readParams(), "", {}, headers_));
  }
  std::optional<T> findOne() const {
    QueryBuilder copy = *this;
    copy.limit_ = 1;
    auto rows = copy.find();
    if (rows.empty()) return std::nullopt;
    return std::move(rows.front());
  }
  /// Rows matching the filters: `GET ?<filters>&limit=0` with `Prefer: count=exact` (the total is
  /// in Content-Range). Not HEAD: PostgREST 12.0.2 resets the keep-alive connection after a HEAD,
  /// which would fail the next request sent on it.
  std::size_t count() const {
    auto params = filterParams();
    params.emplace_back("limit", "0");
    HttpResponse response;
    detail::requestRows(*state_, "GET", table_, params, "count=exact", {}, headers_, &response);
    auto range = response.header("Content-Range");
    long long n = range ? detail::contentRangeTotal(*range) : -1;
    if (n < 0) throw Error(ErrorInfo{.status = response.status, .message = "the server did not report a count"});
    return static_cast<std::size_t>(n);
  }

  // ---- simple writes (one request, throw pgrestify::Error) ----
  /// Inserts one row and returns it as stored (server-filled columns included).
  template <class Row>
  requires(!std::ranges::range<Row> || std::same_as<Row, nlohmann::json>) T insert(const Row& row)
  const {
    auto rows = insertRows(std::vector<nlohmann::json>{nlohmann::json(row)});
    if (rows.empty()) throw Error(ErrorInfo{.status = 201, .message = "the server returned no row"});
    return std::move(rows.front());
  }
  /// Inserts rows in ONE request (all or nothing) and returns them; use bulkInsert for large inputs.
  template <std::ranges::input_range R>
  requires(!std::same_as<std::remove_cvref_t<R>, nlohmann::json>) std::vector<T> insert(const R& rows)
  const {
    std::vector<nlohmann::json> list;
    for (const auto& r : rows) list.emplace_back(r);
    return insertRows(std::move(list));
  }
  /// PATCH the filtered rows with @p values in one request; returns the updated rows. Throws
  /// std::invalid_argument, before sending anything, when no filter restricts the table's rows
  /// (filters on embedded resources do not count) and allRows() was not called.
  template <class V>
  std::vector<T> update(const V& values) const {
    guard("update");
    nlohmann::json body = values;
    if (!body.is_object() || body.empty()) throw std::invalid_argument("pgrestify: update() needs a non-empty object");
    std::string text;
    if (auto e = detail::serializeRow(body, text); !e.empty()) throw std::invalid_argument("pgrestify: " + e);
    auto params = filterParams();
    addSelect(params);
    return detail::rowsOf<T>(
        detail::requestRows(*state_, "PATCH", table_, params, "return=representation", std::move(text), headers_));
  }
  /// DELETE the filtered rows; returns them. Same guard as update().
  std::vector<T> remove() const {
    guard("remove");
    auto params = filterParams();
    addSelect(params);
    return detail::rowsOf<T>(
        detail::requestRows(*state_, "DELETE", table_, params, "return=representation", {}, headers_));
  }

  // ---- bulk operations (never throw for row or batch failures) ----
  /// Inserts any number of rows in batches. See docs/bulk-operations.md. Options not set fall back
  /// to the client's bulk defaults (ClientOptions::bulkDefaults), then to the library's.
  template <std::ranges::input_range R>
  BulkResult<T> bulkInsert(R&& rows, const BulkInsertOptions& options = {}) const {
    auto call = detail::validate(options, detail::bulkDefaults(*state_));
    detail::InsertSpec spec;
    spec.table = table_;
    spec.onConflict = options.onConflict;
    spec.conflictColumns = options.conflictColumns.names();
    spec.missing = options.missing;
    spec.returning = options.returning;
    spec.select = options.select.empty() ? select_ : options.select;
    spec.maxBatchBytes = call.maxBatchBytes;
    spec.headers = headers_;
    return runInsert(rows, std::move(spec), call.engine, detail::rowChecks(options, table_, headers_, true));
  }
  /// Inserts rows, or updates the existing row with the same conflict columns (last row wins).
  template <std::ranges::input_range R>
  BulkResult<T> bulkUpsert(R&& rows, const BulkUpsertOptions& options = {}) const {
    auto call = detail::validate(options, detail::bulkDefaults(*state_));
    detail::InsertSpec spec;
    spec.table = table_;
    spec.onConflict = options.ignoreDuplicates ? OnConflict::Ignore : OnConflict::Update;
    spec.conflictColumns = options.conflictColumns.names();
    spec.missing = options.missing;
    spec.returning = options.returning;
    spec.select = options.select.empty() ? select_ : options.select;
    spec.maxBatchBytes = call.maxBatchBytes;
    spec.headers = headers_;
    return runInsert(rows, std::move(spec), call.engine, detail::rowChecks(options, table_, headers_, true));
  }
  /// Updates rows by key: each input row holds the match column(s) and its new values.
  template <std::ranges::input_range R>
  BulkResult<T> bulkUpdate(R&& rows, const BulkUpdateOptions& options = {}) const {
    static_assert(!std::same_as<std::remove_cvref_t<std::ranges::range_reference_t<R>>, RawJson>,
                  "pgrestify: RawJson rows are for bulkInsert/bulkUpsert; give nlohmann::json rows here");
    auto call = detail::validate(options, detail::bulkDefaults(*state_));
    detail::UpdateSpec spec;
    spec.table = table_;
    spec.matchColumns = options.matchColumn.names();
    spec.strategy = options.strategy;
    spec.returning = options.returning;
    spec.select = options.select.empty() ? select_ : options.select;
    spec.maxUrlBytes = call.maxUrlBytes;
    spec.maxBatchBytes = call.maxBatchBytes;
    spec.headers = headers_;
    const auto checks = detail::rowChecks(options, table_, headers_, false);
    return detail::typedResult<T>(detail::runUpdate(*state_, std::move(spec),
                                                    detail::checkedSource(detail::rangeSource(rows), checks),
                                                    detail::rangeSize(rows), call.engine, checks));
  }
  /// Deletes rows by key. Keys are values (numbers, strings, json) or objects holding the match columns.
  template <std::ranges::input_range R>
  BulkResult<T> bulkDelete(R&& keys, const BulkDeleteOptions& options = {}) const {
    static_assert(!std::same_as<std::remove_cvref_t<std::ranges::range_reference_t<R>>, RawJson>,
                  "pgrestify: RawJson rows are for bulkInsert/bulkUpsert; give nlohmann::json rows here");
    auto call = detail::validate(options, detail::bulkDefaults(*state_));
    detail::DeleteSpec spec;
    spec.table = table_;
    spec.matchColumns = options.matchColumn.names();
    spec.returning = options.returning;
    spec.select = options.select.empty() ? select_ : options.select;
    spec.maxUrlBytes = call.maxUrlBytes;
    spec.headers = headers_;
    spec.notFoundOk = options.notFoundOk;
    const auto checks = detail::rowChecks(options, table_, headers_, false);
    return detail::typedResult<T>(detail::runDelete(*state_, std::move(spec),
                                                    detail::checkedSource(detail::rangeSource(keys), checks),
                                                    detail::rangeSize(keys), call.engine, checks));
  }

  // ---- async forms (include/pgrestify/detail/async.hpp; docs/bulk-writer.md, "Async bulk calls") ----
  // Each takes ownership of its input and runs the blocking call on the process's async pool (at
  // most kAsyncThreads threads; further calls queue). The future holds the BulkResult, or the
  // exception the blocking call would have thrown; the overload with `done` hands either to it on
  // the pool thread. Invalid engine settings throw std::invalid_argument here, before queueing.
  /// The completion callback of the async forms: the result, or the exception (then a default result).
  using AsyncDone = std::function<void(BulkResult<T>, std::exception_ptr)>;

  template <std::ranges::input_range R>
  std::future<BulkResult<T>> bulkInsertAsync(R rows, BulkInsertOptions options = {}) const {
    return detail::runAsync<BulkResult<T>>(asyncCall(std::move(rows), std::move(options), kInsert));
  }
  template <std::ranges::input_range R>
  void bulkInsertAsync(R rows, BulkInsertOptions options, AsyncDone done) const {
    detail::runAsync<BulkResult<T>>(asyncCall(std::move(rows), std::move(options), kInsert), std::move(done));
  }
  template <std::ranges::input_range R>
  std::future<BulkResult<T>> bulkUpsertAsync(R rows, BulkUpsertOptions options = {}) const {
    return detail::runAsync<BulkResult<T>>(asyncCall(std::move(rows), std::move(options), kUpsert));
  }
  template <std::ranges::input_range R>
  void bulkUpsertAsync(R rows, BulkUpsertOptions options, AsyncDone done) const {
    detail::runAsync<BulkResult<T>>(asyncCall(std::move(rows), std::move(options), kUpsert), std::move(done));
  }
  template <std::ranges::input_range R>
  std::future<BulkResult<T>> bulkUpdateAsync(R rows, BulkUpdateOptions options = {}) const {
    return detail::runAsync<BulkResult<T>>(asyncCall(std::move(rows), std::move(options), kUpdate));
  }
  template <std::ranges::input_range R>
  void bulkUpdateAsync(R rows, BulkUpdateOptions options, AsyncDone done) const {
    detail::runAsync<BulkResult<T>>(asyncCall(std::move(rows), std::move(options), kUpdate), std::move(done));
  }
  template <std::ranges::input_range R>
  std::future<BulkResult<T>> bulkDeleteAsync(R keys, BulkDeleteOptions options = {}) const {
    return detail::runAsync<BulkResult<T>>(asyncCall(std::move(keys), std::move(options), kDelete));
  }
  template <std::ranges::input_range R>
  void bulkDeleteAsync(R keys, BulkDeleteOptions options, AsyncDone done) const {
    detail::runAsync<BulkResult<T>>(asyncCall(std::move(keys), std::move(options), kDelete), std::move(done));
  }
  // ---- long-lived writer (include/pgrestify/bulk_writer.hpp, docs/bulk-writer.md) ----
  /// A thread-safe writer of rows to this table, added one at a time and sent in batches through
  /// the bulk engine; each accepted row's outcome goes to @p onOutcome with its context. Uses this
  /// query's headers and schema. Throws std::invalid_argument for invalid options.
  template <class Context = std::uint64_t>
  BulkWriter<T, Context> bulkWriter(BulkWriterOptions options = {},
                                    typename BulkWriter<T, Context>::Callback onOutcome = {}) const {
    return BulkWriter<T, Context>(detail::WriterTarget{state_, table_, headers_, schema_}, std::move(options),
                                  std::move(onOutcome));
  }

  const std::string& table() const noexcept { return table_; }
  bool hasFilters() const noexcept { return !filters_.empty(); }
  /// True when a filter restricts the table's own rows (what update()/remove() require).
  bool hasTableFilters() const noexcept {
    return std::any_of(filters_.begin(), filters_.end(), [](const auto& f) { return detail::restrictsTable(f.first); });
  }

 private:
  static constexpr auto kInsert = [](const QueryBuilder& q, auto& rows, const auto& o) {
    return q.bulkInsert(rows, o);
  };
  static constexpr auto kUpsert = [](const QueryBuilder& q, auto& rows, const auto& o) {
    return q.bulkUpsert(rows, o);
  };
  static constexpr auto kUpdate = [](const QueryBuilder& q, auto& rows, const auto& o) {
    return q.bulkUpdate(rows, o);
  };
  static constexpr auto kDelete = [](const QueryBuilder& q, auto& rows, const auto& o) {
    return q.bulkDelete(rows, o);
  };
  /// The work of an async call: owns a copy of this builder, the input and the options. The
  /// options are checked here, so that misuse throws from the ...Async call itself.
  template <class R, class Options, class Call>
  auto asyncCall(R&& rows, Options&& options, Call call) const {
    (void)detail::validate(options, detail::bulkDefaults(*state_));
    return [q = *this, rows = std::forward<R>(rows), o = std::forward<Options>(options), call]() mutable {
      return call(q, rows, o);
    };
  }

  template <class R>
  BulkResult<T> runInsert(R& rows, detail::InsertSpec spec, const detail::EngineSettings& settings,
                          const detail::RowChecks& checks) const {
    if (spec.onConflict != OnConflict::Error && spec.conflictColumns.empty()) {
      spec.conflictColumns = detail::exposedPrimaryKey(*state_, table_, schema_);
      if (spec.conflictColumns.empty()) {
        throw std::invalid_argument("pgrestify: table '" + table_ +
                                    "' has no primary key PostgREST reports; set conflictColumns");
      }
    }
    return detail::typedResult<T>(detail::runInsert(*state_, std::move(spec),
                                                    detail::checkedSource(detail::rowWriterSource(rows), checks),
                                                    detail::rangeSize(rows), settings, checks));
  }

  std::vector<T> insertRows(std::vector<nlohmann::json> rows) const {
    std::string body = "[";
    std::vector<std::string> columns;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::string text;
      if (auto e = detail::serializeRow(rows[i], text); !e.empty()) {
        throw std::invalid_argument("pgrestify: row " + std::to_string(i) + ": " + e);
      }
      for (auto it = rows[i].begin(); it != rows[i].end(); ++it) {
        if (std::find(columns.begin(), columns.end(), it.key()) == columns.end()) columns.push_back(it.key());
      }
      if (i) body += ",";
      body += text;
    }
    body += "]";
    if (rows.empty()) return {};
    detail::Params params;
    params.emplace_back("columns", detail::joinIdentifiers(columns));
    addSelect(params);
    return detail::rowsOf<T>(detail::requestRows(*state_, "POST", table_, params,
                                                 "return=representation,missing=default", std::move(body), headers_));
  }

  void guard(const char* what) const {
    if (!hasTableFilters() && !allRows_) {
      throw std::invalid_argument(std::string("pgrestify: refusing to ") + what + " every row of '" + table_ +
                                  "' without a filter; call allRows() to mean it");
    }
  }

  detail::Params filterParams() const { return filters_; }

  void addSelect(detail::Params& params) const {
    if (!select_.empty()) params.emplace_back("select", select_);
  }

  detail::Params readParams() const {
    detail::Params params = filterParams();
    addSelect(params);
    if (!order_.empty()) params.emplace_back("order", order_);
    if (limit_) params.emplace_back("limit", std::to_string(*limit_));
    if (offset_) params.emplace_back("offset", std::to_string(*offset_));
    return params;
  }

  std::shared_ptr<const detail::ClientState> state_;
  std::string table_;
  std::string select_;
  detail::Params filters_;
  std::string order_;
  std::optional<std::size_t> limit_;
  std::optional<std::size_t> offset_;
  Headers headers_;
  bool allRows_ = false;
  std::string schema_;  ///< schema(); empty = the client's
};

}  // namespace pgrestify
