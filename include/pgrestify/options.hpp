// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/result.hpp>

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
  Auto,      ///< `Function` when PostgREST exposes it (and 8+ rows would go alone), else rows with identical new
             ///< values share one `PATCH ?key=in.(...)` and the rest go one PATCH each
  PerRow,    ///< one `PATCH ?key=eq.X` per row (concurrently)
  Upsert,    ///< `POST` + `resolution=merge-duplicates`: fastest, but INSERTS rows that do not exist
  Function,  ///< `POST /rpc/pgrestify_bulk_update` (sql/pgrestify_bulk_update.sql): one UPDATE per request, any values
};

/// A list of column names; converts from "id", std::string or {"warehouse", "sku"}.
class Columns {
 public:
  Columns() = default;
  Columns(const char* name) : names_{std::string(name)} {}  // NOLINT(google-explicit-constructor)
  Columns(std::string name) : names_{std::move(name)} {}    // NOLINT(google-explicit-constructor)
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

/// A retry policy whose fields may be left unset: a call's `retry` and
/// ClientOptions::bulkDefaults.retry. Each unset field comes from the client's default, else from
/// RetryPolicy's default (see RetryPolicy for the meaning of each). A RetryPolicy converts to it
/// with every field set, so `{.retry = {.maxAttempts = 1}}` and `.retry = policy` both compile.
struct RetryOptions {
  std::optional<int> maxAttempts;
  std::optional<std::chrono::milliseconds> initialBackoff;
  std::optional<std::chrono::milliseconds> maxBackoff;
  std::optional<double> multiplier;
  std::optional<std::chrono::milliseconds> maxRetryAfter;
  std::optional<bool> retryUnknownOutcome;
  std::optional<std::chrono::milliseconds> retryBudget;
  std::optional<std::chrono::milliseconds> conflictBudget;
};

/// Retries of failed requests: exponential backoff with full jitter, capped, honouring
/// `Retry-After`. Only failures that are safe to retry are retried (see docs/reliability.md).
/// `maxAttempts = 1` turns every retry off, the time budgets included.
struct RetryPolicy {
  int maxAttempts = 5;                             ///< attempts per request, including the first (1 = no retry)
  std::chrono::milliseconds initialBackoff{100};   ///< cap of the first retry's random delay
  std::chrono::milliseconds maxBackoff{10000};     ///< cap of any backoff delay
  double multiplier = 2.0;                         ///< growth of the cap per attempt
  std::chrono::milliseconds maxRetryAfter{60000};  ///< longest `Retry-After` honoured
  bool retryUnknownOutcome = true;  ///< retry timeouts/resets after the body was sent, when the write is idempotent
  /// Failures where the request was not executed (connection refused, reset before the body was
  /// sent, 503, 429, 504 PGRST003) are retried beyond maxAttempts until this long after the
  /// outage began (the call's first such failure since the server last answered): rides out a
  /// PostgREST restart, and a longer outage ends the call after about this long. 0 = maxAttempts alone.
  std::chrono::milliseconds retryBudget{30000};
  /// Deadlocks and serialization failures (40P01, 40001: rolled back, caused by another writer)
  /// are retried beyond maxAttempts until this long after the request's first one, with their own
  /// short backoff (detail::conflictDelay). 0 = maxAttempts alone.
  std::chrono::milliseconds conflictBudget{60000};

  /// Every field set (a call's `retry = policy` uses exactly this policy).
  operator RetryOptions() const {  // NOLINT(google-explicit-constructor)
    return {.maxAttempts = maxAttempts,
            .initialBackoff = initialBackoff,
            .maxBackoff = maxBackoff,
            .multiplier = multiplier,
            .maxRetryAfter = maxRetryAfter,
            .retryUnknownOutcome = retryUnknownOutcome,
            .retryBudget = retryBudget,
            .conflictBudget = conflictBudget};
  }
};

/// A snapshot handed to `onProgress` after every finished request, on the calling thread.
struct BulkProgress {
  std::size_t processed = 0;  ///< rows with a final outcome (successful + skipped + failed)
  std::size_t successful = 0;
  std::size_t skipped = 0;
  std::size_t failed = 0;
  std::optional<std::size_t> total;  ///< input rows, when the input size is known
  std::size_t batchesDone = 0;
  std::size_t batchesInFlight = 0;
  std::size_t requests = 0;  ///< HTTP requests sent so far (retries and splits included)
  std::size_t retries = 0;
  std::size_t bytesSent = 0;  ///< request bodies and URLs
  std::chrono::milliseconds elapsed{0};
  double rowsPerSecond = 0;
  std::optional<std::chrono::milliseconds> eta;  ///< when `total` is known
  /// Requests the call may keep in flight now: its `concurrency` when one was chosen (by the call
  /// or the client's bulkDefaults), else the adaptive limit (docs/reliability.md#adaptive-concurrency).
  std::size_t concurrency = 0;
};

/// Reported to `onBatchComplete` when every row of an input batch has its final outcome.
struct BatchReport {
  std::size_t batchIndex = 0;
  std::size_t rows = 0;
  std::size_t successful = 0;
  std::size_t skipped = 0;
  std::size_t failed = 0;
  std::size_t requests = 0;          ///< requests this batch needed (retries and isolation splits included)
  std::vector<std::size_t> indexes;  ///< input indexes of the batch's rows, ascending (not contiguous when
                                     ///< key sets interleave; rows refused as InvalidRow belong to no batch)
  /// The errors naming this batch's failed rows (copies of the BulkResult::errors entries of its
  /// pieces), so that a caller can record each failure as soon as its batch is done.
  std::vector<BulkError> errors;
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

// Field order of the four options structs below (designated initialisers must follow it). One
// rule, the order of the reference docs' examples (`{.batchSize = 100, .returning = true,
// .onConflict = OnConflict::Ignore, .conflictColumns = {"email"}}`, `{.conflictColumns =
// {"email"}, .batchSize = 50, .returning = true}`, `{.matchColumn = "id", .batchSize = 50}`):
//   1. the columns that identify the rows, where the operation needs them (upsert
//      `conflictColumns`, update/delete `matchColumn`; insert has none: its conflictColumns
//      belong to onConflict);
//   2. `batchSize`, then `returning`;
//   3. the other operation-specific fields;
//   4. the shared fields, in this order in every struct: maxBatchBytes (not in BulkDeleteOptions:
//      a DELETE has no body), concurrency, isolateFailures, stopOnError, retry, select, onProgress,
//      onBatchComplete, stopToken, deadline;
//   5. fields added after 0.1, at the end: timeout, dryRun, validate, maxFailures (in this order in
//      every struct), then the operation's own (bulkDelete's notFoundOk).
// So `{.batchSize = 100, .concurrency = 2, .retry = policy}` compiles for every operation.
//
// Fields declared std::optional, and each field of `retry` (RetryOptions), have client-wide
// defaults (ClientOptions::bulkDefaults): a value set here wins, else the client's default, else
// the library's (kDefaultBatchSize...). Whether a field was set stays observable (has_value()).
// See docs/api.md, "Client-wide bulk defaults".

/// Client-wide defaults of the bulk options (ClientOptions::bulkDefaults). An unset field falls
/// back to the library default (kDefaultBatchSize, kDefaultMaxBatchBytes, kDefaultMaxUrlBytes,
/// kDefaultConcurrency, `true`, RetryPolicy's fields); a field set in a call's options overrides it.
/// Checked when the client is created (std::invalid_argument: batchSize 0, concurrency 0...).
struct BulkDefaults {
  std::optional<std::size_t> batchSize;      ///< rows (update/delete: keys) per request (> 0)
  std::optional<std::size_t> maxBatchBytes;  ///< cap of a request body (> 0); not used by bulkDelete
  std::optional<std::size_t> maxUrlBytes;    ///< cap of a key-list URL, bulkUpdate/bulkDelete (> 0)
  std::optional<std::size_t> concurrency;    ///< requests in flight at once (> 0)
  std::optional<bool> isolateFailures;       ///< split failed batches until each bad row is reported alone
  RetryOptions retry;                        ///< retries of failed requests
};

/// Options of bulkInsert. Field order: see above (`{.batchSize = 100, .returning = true,
/// .onConflict = OnConflict::Ignore, .conflictColumns = {"email"}}`).
struct BulkInsertOptions {
  std::optional<std::size_t> batchSize;  ///< rows per request (> 0); unset = client default, else kDefaultBatchSize
  bool returning = false;                ///< return the written rows in BulkResult::data
  OnConflict onConflict = OnConflict::Error;
  Columns conflictColumns;  ///< `on_conflict` target; empty = the primary key
  Missing missing = Missing::Default;
  std::optional<std::size_t>
      maxBatchBytes;  ///< cap of a request body (> 0); unset = client default, else kDefaultMaxBatchBytes
  std::optional<std::size_t>
      concurrency;                      ///< requests in flight (> 0); unset = client default, else kDefaultConcurrency
  std::optional<bool> isolateFailures;  ///< split failed batches until each bad row is reported alone; unset = client
                                        ///< default, else true
  bool stopOnError = false;             ///< stop at the first failed batch; the rest is not processed
  RetryOptions retry;                   ///< fields left unset: the client default's, else RetryPolicy's
  std::string select;                   ///< columns returned when `returning` ("*" when empty)
  ProgressCallback onProgress;
  BatchCallback onBatchComplete;
  std::stop_token
      stopToken;  ///< cancellation: no new batch starts; requests in flight get 1 s to answer, then are aborted
  std::optional<std::chrono::steady_clock::time_point> deadline;  ///< like stopToken, at a time
  // ---- fields added after 0.1: here, at the end (designated initialisers keep compiling) ----
  /// Whole-request timeout of this call's requests, overriding ClientOptions::timeout (0 = none;
  /// negative: std::invalid_argument). Unset = ClientOptions::timeout (the client-wide default).
  std::optional<std::chrono::milliseconds> timeout;
  /// Send every request with `Prefer: tx=rollback`: the server runs each batch and rolls it back,
  /// so the result tells which rows would fail and why, and nothing is committed. Rows that would
  /// be written count as `successful`. Needs PostgREST's `db-tx-end = "commit-allow-override"`:
  /// checked before any row is sent (std::invalid_argument otherwise). See docs/bulk-operations.md.
  bool dryRun = false;
  RowValidator validate;  ///< refuses rows before they are sent (InvalidRow); empty = none
  /// Once this many rows have failed, no new request starts and the rest is counted in
  /// `notProcessed` (requests in flight finish). 0 = no limit.
  std::size_t maxFailures = 0;
};

/// Options of bulkUpsert (insert, or update the row that has the same conflict columns).
struct BulkUpsertOptions {
  Columns conflictColumns;  ///< `on_conflict` target; empty = the primary key
  std::optional<std::size_t> batchSize;
  bool returning = false;
  bool ignoreDuplicates = false;  ///< keep existing rows instead of updating them
  Missing missing = Missing::Default;
  std::optional<std::size_t> maxBatchBytes;
  std::optional<std::size_t> concurrency;
  std::optional<bool> isolateFailures;
  bool stopOnError = false;
  RetryOptions retry;
  std::string select;
  ProgressCallback onProgress;
  BatchCallback onBatchComplete;
  std::stop_token stopToken;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // ---- fields added after 0.1: here, at the end (designated initialisers keep compiling) ----
  std::optional<std::chrono::milliseconds> timeout;  ///< as BulkInsertOptions::timeout
  bool dryRun = false;                               ///< as BulkInsertOptions::dryRun
  RowValidator validate;                             ///< as BulkInsertOptions::validate
  std::size_t maxFailures = 0;                       ///< as BulkInsertOptions::maxFailures
};

/// Options of bulkUpdate. Each input row carries the match column(s) and the new values.
struct BulkUpdateOptions {
  Columns matchColumn = "id";            ///< column(s) identifying the row; never empty
  std::optional<std::size_t> batchSize;  ///< keys per grouped PATCH
  bool returning = false;
  UpdateStrategy strategy = UpdateStrategy::Auto;
  std::optional<std::size_t>
      maxUrlBytes;  ///< cap of a key-list URL (> 0); unset = client default, else kDefaultMaxUrlBytes
  std::optional<std::size_t> maxBatchBytes;
  std::optional<std::size_t> concurrency;
  std::optional<bool> isolateFailures;
  bool stopOnError = false;
  RetryOptions retry;
  std::string select;
  ProgressCallback onProgress;
  BatchCallback onBatchComplete;
  std::stop_token stopToken;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // ---- fields added after 0.1: here, at the end (designated initialisers keep compiling) ----
  std::optional<std::chrono::milliseconds> timeout;  ///< as BulkInsertOptions::timeout
  bool dryRun = false;                               ///< as BulkInsertOptions::dryRun
  RowValidator validate;                             ///< as BulkInsertOptions::validate
  std::size_t maxFailures = 0;                       ///< as BulkInsertOptions::maxFailures
};

/// Options of bulkDelete. Input is a range of keys (or of rows holding the match columns).
/// No maxBatchBytes: a DELETE has no body; maxUrlBytes caps its request (the key list).
struct BulkDeleteOptions {
  Columns matchColumn = "id";
  std::optional<std::size_t> batchSize;  ///< keys per DELETE
  bool returning = false;                ///< return the deleted rows (for audit)
  std::optional<std::size_t> maxUrlBytes;
  std::optional<std::size_t> concurrency;
  std::optional<bool> isolateFailures;
  bool stopOnError = false;
  RetryOptions retry;
  std::string select;
  ProgressCallback onProgress;
  BatchCallback onBatchComplete;
  std::stop_token stopToken;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // ---- fields added after 0.1: here, at the end (designated initialisers keep compiling) ----
  std::optional<std::chrono::milliseconds> timeout;  ///< as BulkInsertOptions::timeout
  bool dryRun = false;                               ///< as BulkInsertOptions::dryRun
  RowValidator validate;                             ///< as BulkInsertOptions::validate
  std::size_t maxFailures = 0;                       ///< as BulkInsertOptions::maxFailures
  /// Count keys that match no row as successful (the row is gone either way: a delete that can be
  /// repeated) instead of failing them as BulkErrorKind::NotFound.
  bool notFoundOk = false;
};

}  // namespace pgrestify
