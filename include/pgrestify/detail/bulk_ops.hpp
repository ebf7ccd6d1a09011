// SPDX-License-Identifier: MIT
// What the query builder's and repository's bulk calls hand to the compiled part: the engine
// settings, the specs of the four operations, the input as a row source, and one entry point per
// operation that runs it through the one bulk engine (src/bulk_engine.hpp; the operations are
// src/insert_op.cpp, src/update_op.cpp, src/delete_op.cpp).
#pragma once

#include <pgrestify/client_options.hpp>
#include <pgrestify/detail/row_writer.hpp>
#include <pgrestify/options.hpp>
#include <pgrestify/result.hpp>
#include <pgrestify/transport.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgrestify {
struct BulkWriterOptions;
}  // namespace pgrestify

namespace pgrestify::detail {

class ClientState;

/// Engine settings common to every bulk operation.
struct EngineSettings {
  std::size_t batchSize = kDefaultBatchSize;
  std::size_t concurrency = kDefaultConcurrency;
  /// `concurrency` was chosen (a call's option or the client's default) rather than left to the
  /// library default: an explicit choice is kept as it is.
  bool concurrencySet = false;
  /// > 0: the number of requests in flight adapts to the server (src/adaptive_concurrency.hpp),
  /// starting at `concurrency`, between 1 and this; 0: it is `concurrency`, fixed. Set by
  /// ClientState::runBulk when `concurrencySet` is false.
  std::size_t adaptiveCeiling = 0;
  bool isolateFailures = true;
  bool stopOnError = false;
  RetryPolicy retry;
  ProgressCallback onProgress;
  BatchCallback onBatchComplete;
  std::stop_token stopToken;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  /// Time source and sleep of the engine (backoffs, budgets, deadline, elapsed); empty = the real
  /// steady_clock and std::this_thread::sleep_for. Tests inject a fake clock.
  std::function<std::chrono::steady_clock::time_point()> clock;
  std::function<void(std::chrono::milliseconds)> sleep;
  /// Whole-request timeout set on every request (HttpRequest::timeout); empty = the transport's.
  std::optional<std::chrono::milliseconds> requestTimeout;
  /// Client hooks (ClientState::runBulk); empty = none. `renewToken` is asked after `401 PGRST301`
  /// with the Authorization value the request carried: true = build the request again (with the
  /// fresh token) and send it once more. `observer` receives each request's event, with `path`
  /// holding the request URL without its query (the client makes it relative).
  std::function<bool(std::string_view usedAuthorization)> renewToken;
  std::function<void(RequestEvent&)> observer;
  /// Once this many rows have failed, no new request starts (the options' maxFailures); 0 = no limit.
  std::size_t maxFailures = 0;
};

/// What one bulk call runs with: its options resolved against the client's defaults, checked.
struct CallSettings {
  EngineSettings engine;
  std::size_t maxBatchBytes = kDefaultMaxBatchBytes;  ///< insert, upsert, update (Upsert strategy)
  std::size_t maxUrlBytes = kDefaultMaxUrlBytes;      ///< update, delete
};

/// The one place (src/options.cpp) where a bulk call's options are resolved and checked, once per
/// call, before any request: each field with a client-wide default is the call's value if set,
/// else @p defaults' (ClientOptions::bulkDefaults), else the library's. Throws
/// std::invalid_argument for options no request should be sent with: batchSize, maxBatchBytes,
/// maxUrlBytes or concurrency 0, retry.maxAttempts < 1, retry.multiplier < 1, a negative retry
/// delay, a negative timeout, an empty conflict column, an empty matchColumn or one naming an
/// embedded resource.
CallSettings validate(const BulkInsertOptions& options, const BulkDefaults& defaults = {});
CallSettings validate(const BulkUpsertOptions& options, const BulkDefaults& defaults = {});
CallSettings validate(const BulkUpdateOptions& options, const BulkDefaults& defaults = {});
CallSettings validate(const BulkDeleteOptions& options, const BulkDefaults& defaults = {});
/// A BulkWriter's options (include/pgrestify/bulk_writer.hpp): besides the checks above, the
/// writer's own limits (maxBatchRows, maxInFlight, the buffer caps, linger and its timeouts).
CallSettings validate(const BulkWriterOptions& options, const BulkDefaults& defaults = {});
/// The client's ClientOptions::bulkDefaults (checked when the client was created).
const BulkDefaults& bulkDefaults(const ClientState& client);

/// Produces the next input row as JSON; returns false at the end of the input.
using RowSource = std::function<bool(nlohmann::json& row)>;
/// Writes the next input row into the string through the RowWriter (see writeRow); returns false
/// at the end of the input. The insert/upsert input.
using RowWriterSource = std::function<bool(RowWriter& writer, std::string& out)>;

/// What the insert/upsert operation needs to know.
struct InsertSpec {
  std::string table;
  OnConflict onConflict = OnConflict::Error;
  std::vector<std::string> conflictColumns;  ///< resolved (primary key filled in when empty)
  Missing missing = Missing::Default;
  bool returning = false;
  std::string select;
  std::size_t maxBatchBytes = kDefaultMaxBatchBytes;
  Headers headers;  ///< the builder's extra headers, sent with every request
};

struct UpdateSpec {
  std::string table;
  std::vector<std::string> matchColumns;
  UpdateStrategy strategy = UpdateStrategy::Auto;
  bool returning = false;
  std::string select;
  std::size_t maxUrlBytes = kDefaultMaxUrlBytes;
  std::size_t maxBatchBytes = kDefaultMaxBatchBytes;
  Headers headers;
};

struct DeleteSpec {
  std::string table;
  std::vector<std::string> matchColumns;
  bool returning = false;
  std::string select;
  std::size_t maxUrlBytes = kDefaultMaxUrlBytes;
  Headers headers;
  bool notFoundOk = false;  ///< keys that match no row count as successful
};

/// The `validate` and `dryRun` options of a bulk call (src/ops_common.cpp).
struct RowChecks {
  RowValidator validate;
  bool dryRun = false;
  bool insert = false;  ///< the dry-run check may try `POST []` when the table cannot be read
  std::string table;
  Headers headers;
  /// The validator's messages by input index (set by checkedSource, taken by runChecked's
  /// operation): an operation may read rows ahead of the ones it hands to the engine.
  std::shared_ptr<std::unordered_map<std::size_t, std::string>> verdicts =
      std::make_shared<std::unordered_map<std::size_t, std::string>>();
};
template <class Options>
RowChecks rowChecks(const Options& o, const std::string& table, const Headers& headers, bool insert) {
  RowChecks c;
  c.validate = o.validate;
  c.dryRun = o.dryRun;
  c.insert = insert;
  c.table = table;
  c.headers = headers;
  return c;
}
/// @p source with the checks' validator run on every row it produces (unchanged without one).
RowSource checkedSource(RowSource source, const RowChecks& checks);
RowWriterSource checkedSource(RowWriterSource source, const RowChecks& checks);
/// Runs a bulk insert/upsert of @p source's rows through the engine and returns the aggregate,
/// with what the operation has to say about the outcome (`warnings`: rows accepted but not
/// reported written; hints about row-level security and RETURNING). @p total is the input size
/// when known. @p checks: the `validate` and `dryRun` options (a dry run first proves that the
/// server honours `Prefer: tx=rollback` and throws std::invalid_argument naming PostgREST's
/// `db-tx-end` when it does not). @p settings come from validate() (checked there, not again).
BulkResult<nlohmann::json> runInsert(const ClientState& client, InsertSpec spec, RowWriterSource source,
                                     std::optional<std::size_t> total, const EngineSettings& settings,
                                     const RowChecks& checks = {});
/// Like runInsert, for bulkUpdate.
BulkResult<nlohmann::json> runUpdate(const ClientState& client, UpdateSpec spec, RowSource source,
                                     std::optional<std::size_t> total, const EngineSettings& settings,
                                     const RowChecks& checks = {});
/// Like runInsert, for bulkDelete.
BulkResult<nlohmann::json> runDelete(const ClientState& client, DeleteSpec spec, RowSource source,
                                     std::optional<std::size_t> total, const EngineSettings& settings,
                                     const RowChecks& checks = {});
/// Whether @p response's `Preference-Applied` lists @p preference (e.g. "tx=rollback").
bool preferenceApplied(const HttpResponse& response, std::string_view preference);

/// Serializes a row for a request body. Returns the error text when the row cannot be sent
/// (not an object, NaN/Infinity, invalid UTF-8), empty on success.
std::string serializeRow(const nlohmann::json& row, std::string& out);

}  // namespace pgrestify::detail
