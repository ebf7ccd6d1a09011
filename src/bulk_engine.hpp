// SPDX-License-Identifier: MIT
// The one bulk engine (src/bulk_engine.cpp): plans batches from a row stream, runs them
// concurrently on one transport session driven from the calling thread, retries what is safe to
// retry, splits and isolates failures, and aggregates the outcome. Every bulk operation
// (insert, upsert, update, delete), the repository and the CLI go through runBulk().
// Internal: not installed.
#pragma once

#include <pgrestify/detail/bulk_ops.hpp>
#include <pgrestify/options.hpp>
#include <pgrestify/result.hpp>
#include <pgrestify/transport.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
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
  bool reauthorized = false;  ///< sent again once already after `401 PGRST301` with a fresh token
  /// The last send: when, its size, and the requests in flight then (itself included) and allowed.
  std::chrono::steady_clock::time_point sentAt{};
  std::size_t sentBytes = 0;
  std::size_t inFlightAtSend = 0;
  std::size_t limitAtSend = 0;
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

/// Runs a bulk operation to the end (or to cancellation) and returns the aggregate.
/// Rows are returned as JSON (`data`), in input order of their batches.
/// @p settings come from detail::validate (src/options.cpp: checked there, not again here).
/// Never throws for row or batch failures, including a transport or operation that throws for one request (see the
/// top of src/bulk_engine.cpp); exceptions from the caller's input range and callbacks propagate.
/// When the input size is unknown (a generator) and the call is cancelled, rows never read from
/// the input are not counted in `notProcessed`.
BulkResult<nlohmann::json> runBulk(Transport& transport, BulkOperation& op, const EngineSettings& settings);

}  // namespace pgrestify::detail
