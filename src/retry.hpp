// SPDX-License-Identifier: MIT
// The retry policy pieces of the bulk engine (src/retry.cpp): how a failed request is classified,
// how long to wait before the next attempt, and which row an error is about. Internal: not
// installed; unit-tested on their own.
#pragma once

#include "error_info.hpp"

#include <pgrestify/error.hpp>
#include <pgrestify/options.hpp>
#include <pgrestify/transport.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgrestify::detail {

/// What to do with a failed request.
enum class Decision {
  Retry,          ///< not executed: send again after a backoff (maxAttempts, then retryBudget)
  RetryUnknown,   ///< may have been executed; send again (only chosen for idempotent writes)
  RetryConflict,  ///< deadlock/serialization failure (rolled back): send again (conflictBudget), never isolate
  Reauthorize,    ///< 401 PGRST301 (JWT expired/invalid), not executed: resend once with a fresh token, else final
  Split,          ///< too large or too slow: send the halves
  Isolate,        ///< a data error in some row: find the row(s)
  IsolateColumn,  ///< a column some rows carry is refused (PGRST204, 428C9): fail those rows, resend the rest
  Fail,           ///< final
  FailUnknown,    ///< final, and the server may have committed the rows
};

/// Classifies a failed answer (not 2xx) or transport failure.
Decision classify(const HttpResponse& response, const ErrorInfo& info, bool idempotent, const RetryPolicy& policy);

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
