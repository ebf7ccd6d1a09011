// SPDX-License-Identifier: MIT
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

namespace pgrestify {

/// What happens when an inserted row collides with an existing row on the conflict columns.
enum class OnConflict {
  Error,   ///< the row fails with 23505 and is reported in BulkResult::errors (default)
  Ignore,  ///< the existing row is kept; the input row is counted in `skipped`
  Update,  ///< the existing row is updated with the input row (an upsert)
};

/// What a column listed for the batch but absent from a row becomes.
enum class Missing {
  Default,  ///< the column's DEFAULT (PostgREST `Prefer: missing=default`), like TypeScript's Partial<T>
  Null,     ///< SQL NULL
};

/// How bulkUpdate sends rows.
enum class UpdateStrategy {
  Auto,     ///< `Function` when PostgREST exposes it (and 8+ rows would go alone), else rows with identical new
            ///< values share one `PATCH ?key=in.(...)` and the rest go one PATCH each
  PerRow,   ///< one `PATCH ?key=eq.X` per row (concurrently)
  Upsert,   ///< `POST` + `resolution=merge-duplicates`: fastest, but INSERTS rows that do not exist
  Function, ///< `POST /rpc/pgrestify_bulk_update` (sql/pgrestify_bulk_update.sql): one UPDATE per request, any values
};

/// A list of column names; converts from "id", std::string or {"warehouse", "sku"}.
class Columns {
 public:
  Columns() = default;
  Columns(const char* name) : names_{std::string(name)} {}           // NOLINT(google-explicit-constructor)
  Columns(std::string name) : names_{std::move(name)} {}             // NOLINT(google-explicit-constructor)
  Columns(std::initializer_list<std::string> names) : names_(names) {}
  Columns(std::vector<std::string> names) : names_(std::move(names)) {}  // NOLINT(google-explicit-constructor)

  const std::vector<std::string>& names() const noexcept { return names_; }
  bool empty() const noexcept { return names_.empty(); }
  std::size_t size() const noexcept { return names_.size(); }
  auto begin() const noexcept { return names_.begin(); }
  auto end() const noexcept { return names_.end(); }
  const std::string& operator[](std::size_t i) const { return names_[i]; }

 private:
  std::vector<std::string> names_;
};

/// Retries of failed requests: exponential backoff with full jitter, capped, honouring
/// `Retry-After`. Only failures that are safe to retry are retried (see docs/reliability.md).
/// `maxAttempts = 1` turns every retry off, the time budgets included.
struct RetryPolicy {
  int maxAttempts = 5;                                 ///< attempts per request, including the first (1 = no retry)
  std::chrono::milliseconds initialBackoff{100};       ///< cap of the first retry's random delay
  std::chrono::milliseconds maxBackoff{10000};         ///< cap of any backoff delay
  double multiplier = 2.0;                             ///< growth of the cap per attempt
  std::chrono::milliseconds maxRetryAfter{60000};      ///< longest `Retry-After` honoured
  bool retryUnknownOutcome = true;  ///< retry timeouts/resets after the body was sent, when the write is idempotent
  /// Failures where the request was not executed (connection refused, reset before the body was
  /// sent, 503, 429, 504 PGRST003) are retried beyond maxAttempts until this long after the
  /// request's first such failure: rides out a PostgREST restart. 0 = maxAttempts alone.
  std::chrono::milliseconds retryBudget{30000};
  /// Deadlocks and serialization failures (40P01, 40001: rolled back, caused by another writer)
  /// are retried beyond maxAttempts until this long after the request's first one, with their own
  /// short backoff (detail::conflictDelay). 0 = maxAttempts alone.
  std::chrono::milliseconds conflictBudget{60000};
};

/// A snapshot handed to `onProgress` after every finished request, on the calling thread.
struct BulkProgress {
  std::size_t processed = 0;    ///< rows with a final outcome (successful + skipped + failed)
  std::size_t successful = 0;
  std::size_t skipped = 0;
  std::size_t failed = 0;
  std::optional<std::size_t> total;  ///< input rows, when the input size is known
  std::size_t batchesDone = 0;
  std::size_t batchesInFlight = 0;
  std::size_t requests = 0;     ///< HTTP requests sent so far (retries and splits included)
  std::size_t retries = 0;
  std::size_t bytesSent = 0;    ///< request bodies and URLs
  std::chrono::milliseconds elapsed{0};
  double rowsPerSecond = 0;
  std::optional<std::chrono::milliseconds> eta;  ///< when `total` is known
};

/// Reported to `onBatchComplete` when every row of an input batch has its final outcome.
struct BatchReport {
  std::size_t batchIndex = 0;
  std::size_t rows = 0;
  std::size_t successful = 0;
  std::size_t skipped = 0;
  std::size_t failed = 0;
  std::size_t requests = 0;  ///< requests this batch needed (retries and isolation splits included)
  std::vector<std::size_t> indexes;  ///< input indexes of the batch's rows, ascending (not contiguous when
                                     ///< key sets interleave; rows refused as InvalidRow belong to no batch)
};

using ProgressCallback = std::function<void(const BulkProgress&)>;
using BatchCallback = std::function<void(const BatchReport&)>;
/// Checks one input row before it is sent (the `validate` option of the bulk calls): returns an
/// error message to refuse the row (reported as BulkErrorKind::InvalidRow with that message, never
/// sent), or std::nullopt to let it through. The row is given as JSON: as the caller gave it for
/// bulkUpdate/bulkDelete (a bulkDelete key may be a plain value), as it will be sent for
/// bulkInsert/bulkUpsert (a PGRESTIFY_ROW struct or RawJson row after serialization).
using RowValidator = std::function<std::optional<std::string>(const nlohmann::json& row)>;

/// Default rows per request; see docs/benchmarks.md for how it was chosen.
inline constexpr std::size_t kDefaultBatchSize = 1000;
/// Default cap of a request body (1 MiB, the default body limit of common reverse proxies; see
/// docs/benchmarks.md); a single larger row is sent alone.
inline constexpr std::size_t kDefaultMaxBatchBytes = 1024 * 1024;
/// Default number of requests in flight at once.
inline constexpr std::size_t kDefaultConcurrency = 4;
/// Default cap of the URL (request line) for key lists; PostgREST rejects request lines and
/// headers over 50 KiB, and proxies often allow less.
inline constexpr std::size_t kDefaultMaxUrlBytes = 16 * 1024;

/// Options of bulkInsert. Field order follows the reference docs: `{.batchSize = 100, .returning = true,
/// .onConflict = OnConflict::Ignore, .conflictColumns = {"email"}}`.
struct BulkInsertOptions {
  std::size_t batchSize = kDefaultBatchSize;  ///< rows per request (> 0)
  bool returning = false;                    ///< return the written rows in BulkResult::data
  OnConflict onConflict = OnConflict::Error;
  Columns conflictColumns;                   ///< `on_conflict` target; empty = the primary key
  Missing missing = Missing::Default;
  std::size_t maxBatchBytes = kDefaultMaxBatchBytes;
  std::size_t concurrency = kDefaultConcurrency;
  bool isolateFailures = true;   ///< split failed batches until each bad row is reported alone
  bool stopOnError = false;      ///< stop at the first failed batch; the rest is not processed
  RetryPolicy retry;
  std::string select;            ///< columns returned when `returning` ("*" when empty)
  ProgressCallback onProgress;
  BatchCallback onBatchComplete;
  std::stop_token stopToken;     ///< cancellation: no new batch starts; requests in flight get 1 s to answer, then are aborted
  std::optional<std::chrono::steady_clock::time_point> deadline;  ///< like stopToken, at a time
  /// Whole-request timeout of this call's requests, overriding ClientOptions::timeout (0 = none).
  std::optional<std::chrono::milliseconds> timeout;
  /// Send every request with `Prefer: tx=rollback`: the server runs each batch and rolls it back,
  /// so the result tells which rows would fail and why, and nothing is committed. Rows that would
  /// be written count as `successful`. Needs PostgREST's `db-tx-end = "commit-allow-override"`:
  /// checked before any row is sent (std::invalid_argument otherwise). See docs/bulk-operations.md.
  bool dryRun = false;
  RowValidator validate;         ///< refuses rows before they are sent (InvalidRow); empty = none
  /// Once this many rows have failed, no new request starts and the rest is counted in
  /// `notProcessed` (requests in flight finish). 0 = no limit.
  std::size_t maxFailures = 0;
};

/// Options of bulkUpsert (insert, or update the row that has the same conflict columns).
struct BulkUpsertOptions {
  Columns conflictColumns;       ///< `on_conflict` target; empty = the primary key
  std::size_t batchSize = kDefaultBatchSize;
  bool returning = false;
  bool ignoreDuplicates = false; ///< keep existing rows instead of updating them
  Missing missing = Missing::Default;
  std::size_t maxBatchBytes = kDefaultMaxBatchBytes;
  std::size_t concurrency = kDefaultConcurrency;
  bool isolateFailures = true;
  bool stopOnError = false;
  RetryPolicy retry;
  std::string select;
  ProgressCallback onProgress;
  BatchCallback onBatchComplete;
  std::stop_token stopToken;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  /// Whole-request timeout of this call's requests, overriding ClientOptions::timeout (0 = none).
  std::optional<std::chrono::milliseconds> timeout;
  /// Send every request with `Prefer: tx=rollback`: the server runs each batch and rolls it back,
  /// so the result tells which rows would fail and why, and nothing is committed. Rows that would
  /// be written count as `successful`. Needs PostgREST's `db-tx-end = "commit-allow-override"`:
  /// checked before any row is sent (std::invalid_argument otherwise). See docs/bulk-operations.md.
  bool dryRun = false;
  RowValidator validate;         ///< refuses rows before they are sent (InvalidRow); empty = none
  /// Once this many rows have failed, no new request starts and the rest is counted in
  /// `notProcessed` (requests in flight finish). 0 = no limit.
  std::size_t maxFailures = 0;
};

/// Options of bulkUpdate. Each input row carries the match column(s) and the new values.
struct BulkUpdateOptions {
  Columns matchColumn = "id";    ///< column(s) identifying the row; never empty
  std::size_t batchSize = kDefaultBatchSize;  ///< keys per grouped PATCH
  bool returning = false;
  UpdateStrategy strategy = UpdateStrategy::Auto;
  std::size_t maxUrlBytes = kDefaultMaxUrlBytes;
  std::size_t maxBatchBytes = kDefaultMaxBatchBytes;
  std::size_t concurrency = kDefaultConcurrency;
  bool isolateFailures = true;
  bool stopOnError = false;
  RetryPolicy retry;
  std::string select;
  ProgressCallback onProgress;
  BatchCallback onBatchComplete;
  std::stop_token stopToken;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  /// Whole-request timeout of this call's requests, overriding ClientOptions::timeout (0 = none).
  std::optional<std::chrono::milliseconds> timeout;
  /// Send every request with `Prefer: tx=rollback`: the server runs each batch and rolls it back,
  /// so the result tells which rows would fail and why, and nothing is committed. Rows that would
  /// be written count as `successful`. Needs PostgREST's `db-tx-end = "commit-allow-override"`:
  /// checked before any row is sent (std::invalid_argument otherwise). See docs/bulk-operations.md.
  bool dryRun = false;
  RowValidator validate;         ///< refuses rows before they are sent (InvalidRow); empty = none
  /// Once this many rows have failed, no new request starts and the rest is counted in
  /// `notProcessed` (requests in flight finish). 0 = no limit.
  std::size_t maxFailures = 0;
};

/// Options of bulkDelete. Input is a range of keys (or of rows holding the match columns).
struct BulkDeleteOptions {
  Columns matchColumn = "id";
  std::size_t batchSize = kDefaultBatchSize;  ///< keys per DELETE
  bool returning = false;                    ///< return the deleted rows (for audit)
  std::size_t maxUrlBytes = kDefaultMaxUrlBytes;
  std::size_t concurrency = kDefaultConcurrency;
  bool isolateFailures = true;
  bool stopOnError = false;
  RetryPolicy retry;
  std::string select;
  ProgressCallback onProgress;
  BatchCallback onBatchComplete;
  std::stop_token stopToken;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  /// Whole-request timeout of this call's requests, overriding ClientOptions::timeout (0 = none).
  std::optional<std::chrono::milliseconds> timeout;
  /// Send every request with `Prefer: tx=rollback`: the server runs each batch and rolls it back,
  /// so the result tells which rows would fail and why, and nothing is committed. Rows that would
  /// be written count as `successful`. Needs PostgREST's `db-tx-end = "commit-allow-override"`:
  /// checked before any row is sent (std::invalid_argument otherwise). See docs/bulk-operations.md.
  bool dryRun = false;
  RowValidator validate;         ///< refuses rows before they are sent (InvalidRow); empty = none
  /// Once this many rows have failed, no new request starts and the rest is counted in
  /// `notProcessed` (requests in flight finish). 0 = no limit.
  std::size_t maxFailures = 0;
  /// Count keys that match no row as successful (the row is gone either way: a delete that can be
  /// repeated) instead of failing them as BulkErrorKind::NotFound.
  bool notFoundOk = false;
};

}  // namespace pgrestify
