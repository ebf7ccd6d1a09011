// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/error.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace pgrestify {

/// Why rows failed.
enum class BulkErrorKind {
  Server,      ///< the server answered with an error (see status/code/message)
  Transport,   ///< no answer: connection refused, reset or timed out
  NotFound,    ///< update/delete: no row matches the key
  InvalidRow,  ///< the row could not be sent (not a JSON object, NaN, invalid UTF-8, no match column)
};

/// One failure: a row, or a batch when it could not be narrowed down (isolation off, stopOnError,
/// transport failures). The server's answer (`status`, `code`, `message`, `details`, `hint`) and the
/// transport failure (`transport`, `bodySent`) are the ErrorInfo it derives from.
struct BulkError : ErrorInfo {
  BulkErrorKind kind = BulkErrorKind::Server;
  std::vector<std::size_t> indexes;  ///< input row indexes (0-based) this error covers
  std::size_t batchIndex = 0;        ///< the input batch the rows belonged to
  int attempts = 0;                  ///< requests made for these rows
  bool outcomeUnknown =
      false;  ///< the server may have committed the rows (timeout after sending, an answer that is not PostgREST's)
};

/// The outcome of a bulk operation. Invariant: `count == successful + skipped + failed`, and every
/// input row is counted exactly once in `count` or in `notProcessed`.
template <class T>
struct BulkResult {
  /// Rows returned by the server when `returning`, in input order of their batches (update and
  /// delete: in the order of the input keys they matched).
  std::vector<T> data;
  std::size_t count = 0;  ///< rows processed
  /// Rows PostgreSQL reported as written (inserted / updated; update and delete: keys that matched).
  std::size_t successful = 0;
  /// Rows accepted without an error but not reported as written: duplicates left alone
  /// (OnConflict::Ignore), or rows a trigger discarded or redirected (see `warnings`).
  std::size_t skipped = 0;
  std::size_t failed = 0;         ///< rows that failed; each is in exactly one of `errors`
  std::size_t notProcessed = 0;   ///< rows never attempted (cancelled, deadline, stopOnError)
  std::vector<BulkError> errors;  ///< sorted by first row index
  bool cancelled = false;         ///< stopped by stopToken or deadline
  std::size_t batches = 0;        ///< input batches planned
  std::size_t requests = 0;       ///< HTTP requests sent (retries and splits included)
  std::size_t retries = 0;
  std::chrono::milliseconds elapsed{0};
  /// Problems that lost no row, e.g. a returned row that did not convert to T (it is left out of
  /// `data`; the row itself was written and is counted in `successful`), or rows counted in
  /// `skipped` that may have been discarded or redirected by a trigger rather than duplicates.
  std::vector<std::string> warnings;

  /// True when every input row was written or skipped.
  bool ok() const noexcept { return failed == 0 && notProcessed == 0; }
};

}  // namespace pgrestify
