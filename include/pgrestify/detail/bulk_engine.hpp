// SPDX-License-Identifier: MIT
// The one bulk engine (src/bulk_engine.cpp): plans batches from a row stream, runs them
// concurrently on one transport session driven from the calling thread, retries what is safe to
// retry, splits and isolates failures, and aggregates the outcome. Every bulk operation
// (insert, upsert, update, delete), the repository and the CLI go through runBulk().
#pragma once

#include <pgrestify/options.hpp>
#include <pgrestify/result.hpp>
#include <pgrestify/transport.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrestify::detail {

/// One input row as the engine carries it.
/// The engine sends the rows of a batch in ascending order of `key` (rows without a key keep their
/// places), so that writers acquire row locks in one order (see docs/reliability.md, "Concurrent
/// writers"); `index` keeps the accounting in input order.
struct WorkRow {
  std::size_t index = 0;    ///< position in the caller's input
  std::string data;         ///< what the operation sends for the row (JSON object text, or a key element)
  std::string key;          ///< conflict/match key; two rows with one key never run concurrently
  std::uint32_t group = 0;  ///< rows of different groups never share a request
  std::uint32_t aux = 0;    ///< operation-specific (payload id, key-set id)
  std::size_t size = 0;     ///< bytes the row adds to the request (body or URL)
  std::string invalid;      ///< non-empty: the row cannot be sent; reported as BulkErrorKind::InvalidRow
};

/// A request's worth of rows. `family` is the input batch it came from (splits keep it).
struct Work {
  std::uint64_t family = 0;
  std::vector<WorkRow> rows;
  std::size_t bytes = 0;
  int attempts = 0;
  bool barrier = false;       ///< wait until every earlier batch is finished (repeated keys)
  bool afterUnknown = false;  ///< an earlier attempt may have been committed
  std::chrono::steady_clock::time_point notBefore{};
  bool dataFollowsRows = false;  ///< BulkOperation::dataFollowsRows() for the request sent
  /// First failure of this work whose request was not executed (RetryPolicy::retryBudget).
  std::optional<std::chrono::steady_clock::time_point> unavailableSince;
  /// First deadlock/serialization failure of this work (RetryPolicy::conflictBudget).
  std::optional<std::chrono::steady_clock::time_point> conflictSince;
};

/// What a successful (2xx) answer meant for a Work.
struct Outcome {
  std::size_t successful = 0;
  std::size_t skipped = 0;
  std::vector<std::size_t> notFound;  ///< positions in Work::rows that matched nothing
  std::vector<nlohmann::json> data;   ///< returned rows (when returning)
};

/// The operation-specific half of a bulk call.
class BulkOperation {
 public:
  virtual ~BulkOperation() = default;
  /// Produces the next input row; false at the end of the input.
  virtual bool nextRow(WorkRow& row) = 0;
  /// Input rows in total, when known (for progress and for counting rows never processed).
  virtual std::optional<std::size_t> totalRows() const { return std::nullopt; }
  /// Byte limit of one request's rows (WorkRow::size summed).
  virtual std::size_t maxBytes() const = 0;
  /// Builds the request for @p work. May throw (std::invalid_argument) for a row it cannot encode:
  /// nothing is sent, the engine bisects the batch and reports the row(s) as InvalidRow.
  virtual HttpRequest request(const Work& work) const = 0;
  /// Interprets a 2xx answer. Should not throw; if it does, the engine reports the work's rows as
  /// failed with outcomeUnknown (the server said it committed them). The engine also makes the
  /// counts consistent: every row ends up successful, skipped or not found, exactly once.
  virtual void accept(const Work& work, const HttpResponse& response, Outcome& out) const = 0;
  /// Sending the same request twice leaves the same table (safe to retry an unknown outcome).
  virtual bool idempotent() const = 0;
  /// Whether splitting a failed request can separate good rows from bad ones.
  virtual bool isolatable(const Work& work) const = 0;
  /// The row as a JSON object, to match an error's `details` (`Key (email)=(x)`) to a row, and
  /// to tell which rows carry a column the server refused (PGRST204, 428C9).
  virtual nlohmann::json rowObject(const WorkRow& row) const;
  /// Whether the rows of a 2xx answer to @p request correspond one to one, in order, to the
  /// work's rows as sent, when there are as many of them: the engine then puts them back in input
  /// order. Default: a POST (INSERT ... RETURNING returns rows in the order of the body); a
  /// PATCH/DELETE returns rows in the server's scan order.
  virtual bool dataFollowsRows(const HttpRequest& request) const { return request.method == "POST"; }
};

/// Engine settings common to every bulk operation.
struct EngineSettings {
  std::size_t batchSize = kDefaultBatchSize;
  std::size_t concurrency = kDefaultConcurrency;
  /// `concurrency` was chosen (a call's option or the client's default) rather than left to the
  /// library default: an explicit choice is kept as it is.
  bool concurrencySet = false;
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
/// delay, an empty conflict column, an empty matchColumn or one naming an embedded resource.
CallSettings validate(const BulkInsertOptions& options, const BulkDefaults& defaults = {});
CallSettings validate(const BulkUpsertOptions& options, const BulkDefaults& defaults = {});
CallSettings validate(const BulkUpdateOptions& options, const BulkDefaults& defaults = {});
CallSettings validate(const BulkDeleteOptions& options, const BulkDefaults& defaults = {});

/// Runs a bulk operation to the end (or to cancellation) and returns the aggregate.
/// Rows are returned as JSON (`data`), in input order of their batches.
/// @p settings come from validate() (checked there, not again here). Never throws for row
/// or batch failures, including a transport or operation that throws for one request (see the
/// top of src/bulk_engine.cpp); exceptions from the caller's input range and callbacks propagate.
/// When the input size is unknown (a generator) and the call is cancelled, rows never read from
/// the input are not counted in `notProcessed`.
BulkResult<nlohmann::json> runBulk(Transport& transport, BulkOperation& op, const EngineSettings& settings);

// ---- retry policy pieces (src/retry.cpp), exposed for unit tests ----

/// What to do with a failed request.
enum class Decision {
  Retry,          ///< not executed: send again after a backoff (maxAttempts, then retryBudget)
  RetryUnknown,   ///< may have been executed; send again (only chosen for idempotent writes)
  RetryConflict,  ///< deadlock/serialization failure (rolled back): send again (conflictBudget), never isolate
  Split,          ///< too large or too slow: send the halves
  Isolate,        ///< a data error in some row: find the row(s)
  IsolateColumn,  ///< a column some rows carry is refused (PGRST204, 428C9): fail those rows, resend the rest
  Fail,           ///< final
  FailUnknown,    ///< final, and the server may have committed the rows
};

/// Classifies a failed answer (not 2xx) or transport failure.
Decision classify(const HttpResponse& response, const ErrorInfo& info, bool idempotent, const RetryPolicy& policy);

/// The error fields for a failed response (parses the body, or describes the transport failure).
ErrorInfo errorInfo(const HttpResponse& response);

/// PostgREST's answer when its database connection broke while the statement ran: 400 with an
/// error object whose `code` and `message` are empty strings (src/error.cpp). Unknown outcome.
bool lostDatabaseConnection(int status, std::string_view body);

/// `Retry-After` as a delay: delta-seconds, or an HTTP-date (IMF-fixdate, "Wed, 21 Oct 2015
/// 07:28:00 GMT") taken relative to @p now (a date in the past is 0). At most 24 hours.
std::optional<std::chrono::milliseconds> parseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Backoff before retry number @p retry (1 = first retry): uniform in [0, min(maxBackoff,
/// initialBackoff * multiplier^(retry-1))] using @p random01 in [0,1), and at least the
/// server's Retry-After (capped by maxRetryAfter).
std::chrono::milliseconds backoffDelay(const RetryPolicy& policy, int retry,
                                       std::optional<std::chrono::milliseconds> retryAfter, double random01);

/// Backoff before retry number @p retry after a deadlock/serialization failure: uniform in
/// [1 ms, min(maxBackoff, 500 ms, 10 ms * 2^(retry-1))] using @p random01. Conflicts clear in
/// milliseconds; the other writer's transaction is about to commit.
std::chrono::milliseconds conflictDelay(const RetryPolicy& policy, int retry, double random01);

/// The column an error refuses, from PGRST204 (`Column 'x' of relation 't' does not exist`, or
/// 12.0.3+ `Could not find the 'x' column of 't' in the schema cache`) or 428C9 (`cannot insert a
/// non-DEFAULT value into column "x"`, `column "x" can only be updated to DEFAULT`).
std::optional<std::string> refusedColumn(const ErrorInfo& info);

/// Finds the row an error is about from `details` such as `Key (a, b)=(1, x) already exists.` or
/// `Key (user_id)=(7) is not present in table "users".`; returns the position in @p rows of the
/// LAST row whose values match (the earlier duplicate is the one that was written first).
std::optional<std::size_t> locateRow(const ErrorInfo& info, const std::vector<nlohmann::json>& rows);

}  // namespace pgrestify::detail
