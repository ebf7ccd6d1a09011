// SPDX-License-Identifier: MIT
// Helpers shared by the bulk operations (src/*_op.cpp); internal, not installed.
#pragma once

#include "bulk_engine.hpp"
#include "client_state.hpp"
#include "operations.hpp"
#include "retry.hpp"
#include "row_text.hpp"

#include <pgrestify/detail/bulk_ops.hpp>
#include <pgrestify/detail/encode.hpp>
#include <pgrestify/detail/row_writer.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgrestify::detail {

/// Interns the key sets of rows so a batch's `columns=` is the union of a few small sets.
class KeySets {
 public:
  /// The id of a key set given as RowWriter::signature() (each column followed by '\0').
  std::uint32_t internSignature(std::string_view signature);
  /// The id of the key set of a JSON object.
  std::uint32_t intern(const nlohmann::json& object);
  /// Union of the key sets (WorkRow::aux) of @p rows in first-seen order.
  std::vector<std::string> columnsOf(const std::vector<WorkRow>& rows) const;

 private:
  std::string last_;
  std::string scratch_;
  std::uint32_t lastId_ = 0;
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::vector<std::vector<std::string>> sets_;
};

/// The POST of an insert-shaped batch (bulkInsert, bulkUpsert, bulkUpdate's Upsert strategy):
/// `columns=` the union of the rows' key sets (WorkRow::aux interned in @p keySets),
/// `on_conflict=` for Ignore/Update with conflict columns, `select=` when returning, `Prefer:
/// return=...,count=exact` with the resolution, and `missing=default` (Missing::Default) when the
/// batch's rows differ in key sets; the rows as the body.
HttpRequest insertRequest(const ClientState& client, const InsertSpec& spec, const KeySets& keySets, const Work& work);
/// The insert that bulkUpdate's Upsert strategy sends: OnConflict::Update on the match columns.
InsertSpec upsertOf(const UpdateSpec& spec);
/// `[row,row,...]` of the rows' data.
std::string joinRows(const std::vector<WorkRow>& rows, std::size_t bytes);
/// `return=...,count=exact[,extra]`.
std::string preferOf(bool representation, const std::string& extra);
/// `select` that returns the match columns too (needed to tell which keys matched).
std::string selectWith(const std::string& select, const std::vector<std::string>& matchColumns, bool returning);
/// Parses a JSON array answer; empty on anything else.
std::vector<nlohmann::json> parseRows(const std::string& body);
/// The total of the answer's Content-Range, -1 when absent.
long long affected(const HttpResponse& response);
/// An error text when a key value of @p row cannot be sent (NaN/Infinity, a string that is not
/// valid UTF-8: PostgREST fails the whole request with a 500), empty when fine.
std::string checkKeyValues(const nlohmann::json& row, const std::vector<std::string>& columns);
/// Checks the match columns of bulkUpdate/bulkDelete: at least one, each a name PostgREST reads
/// as a filter on the table itself (not reserved, no embedded `a.b`). Throws std::invalid_argument.
void checkMatchColumns(const std::vector<std::string>& columns);
/// Filter selecting the keys of @p rows: `col=in.(...)` or `or=(and(a.eq.x,b.eq.y),...)`.
/// Throws std::logic_error for an empty @p rows (a key-less PATCH/DELETE would reach every row).
void keyFilter(const std::vector<std::string>& columns, const std::vector<WorkRow>& rows, Params& params);
/// Encodes a key for keyFilter: a list element, or an `and(...)` for composite keys.
std::string keyElement(const std::vector<std::string>& columns, const nlohmann::json& row);
/// What PostgREST 12.0.2 answers to a write the library sent (always with `Prefer: count=exact`).
struct ExpectedAnswer {
  int status = 201;     ///< the status expected
  int otherStatus = 0;  ///< another acceptable status (merge-duplicates: 200 when nothing was inserted)
  bool body = false;    ///< a JSON array of objects (return=representation), else no body
  std::size_t maxCount = static_cast<std::size_t>(-1);  ///< the count can be no larger (rows sent, for inserts)
};
/// A checked answer: the Content-Range count and the returned rows.
struct Answer {
  std::size_t count = 0;
  std::vector<nlohmann::json> rows;
};
/// Reads a 2xx answer, checking that it is PostgREST's answer to the request sent: the status,
/// a `Content-Range` with a count, the count within bounds, and (when a body is expected)
/// `Content-Type: application/json` with a JSON array of as many objects as counted, else no
/// body. Throws std::runtime_error("the answer is not PostgREST's: expected ..., got ...") when
/// not; the engine then fails the request's rows with outcomeUnknown (the server may or may not
/// have written anything).
Answer readAnswer(const HttpResponse& response, const ExpectedAnswer& expected);
/// Parses a `Content-Range` of a mutation strictly: `*/N` or `A-B/N` (A <= B < N); nullopt else.
std::optional<std::size_t> contentRangeCount(std::string_view header);

/// Tells which input keys of a key-filtered PATCH/DELETE matched, by the value the database
/// compared (see docs/bulk-operations.md, "Which keys matched"): first by the key text, then, for
/// returned rows spelled differently, by each match column's canonical value for its type (read
/// from the table's description, once, only when needed), then by counting. Thread-compatible:
/// used from the engine's thread.
class KeyMatcher {
 public:
  KeyMatcher(const ClientState& client, std::string table, std::vector<std::string> columns);
  /// Fills out.notFound (positions in work.rows), out.successful and, when @p returning, out.data
  /// ordered by input row (rows matched to one key in the server's order, after the rows of the
  /// keys before it). Throws std::runtime_error when the returned rows cannot be told apart.
  void match(const Work& work, Answer answer, bool returning, bool countMissingAsDone, Outcome& out) const;

 private:
  std::optional<std::string> canonicalKey(const std::vector<std::string>& parts) const;
  const std::vector<int>& types() const;

  const ClientState& client_;
  std::string table_;
  std::vector<std::string> columns_;
  mutable bool typesRead_ = false;
  mutable std::vector<int> types_;  // KeyType per column (src/key_match.hpp)
};

/// Adds to the hint of each row-level-security failure (42501 "... row-level security ...") why
/// reading rows back can cause it: PostgreSQL applies the table's SELECT policies to RETURNING.
/// @p how says how this call reads rows back and how to write without it.
void addReturningHint(BulkResult<nlohmann::json>& result, std::string_view how);

/// Implemented by the operations that add to the result after the engine ran (warnings, hints).
class ResultNotes {
 public:
  virtual ~ResultNotes() = default;
  virtual void annotate(BulkResult<nlohmann::json>& result) const = 0;
};
/// An InvalidRow message when the key element alone does not fit in @p budget bytes of URL
/// ("the key is N bytes in a URL; maxUrlBytes allows M"), empty when it fits.
std::string keyFitsUrl(const std::string& element, std::size_t budget);
/// Room left for keys in a URL of at most @p maxUrl bytes.
std::size_t urlBudget(const ClientState& client, const std::string& table, std::size_t maxUrl,
                      const std::string& select);
/// The key of a WorkRow as an object, for locating a row from an error's details.
nlohmann::json keyObject(const WorkRow& row, const std::vector<std::string>& columns);

}  // namespace pgrestify::detail
