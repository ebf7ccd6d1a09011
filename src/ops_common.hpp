// SPDX-License-Identifier: MIT
// Helpers shared by the bulk operations (src/*_op.cpp); internal, not installed.
#pragma once

#include <pgrestify/detail/bulk_engine.hpp>
#include <pgrestify/detail/bulk_ops.hpp>
#include <pgrestify/detail/client_state.hpp>
#include <pgrestify/detail/encode.hpp>
#include <pgrestify/detail/row_writer.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgrestify::detail {

/// An error text for values no JSON/SQL can carry (NaN, Infinity), empty when fine.
std::string checkValues(const nlohmann::json& j);
/// Key text of @p columns in @p row (kKeySeparator before each column's scalarText, so an empty
/// string is a key too); empty when one is absent/null.
std::string keyOf(const nlohmann::json& row, const std::vector<std::string>& columns);

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
/// Which rows of a key-filtered request matched (Content-Range, else the returned keys).
void matchReturned(const Work& work, const HttpResponse& response, const std::vector<std::string>& columns,
                   bool returning, bool countMissingAsDone, Outcome& out);
/// Room left for keys in a URL of at most @p maxUrl bytes.
std::size_t urlBudget(const ClientState& client, const std::string& table, std::size_t maxUrl,
                      const std::string& select);
/// The key of a WorkRow as an object, for locating a row from an error's details.
nlohmann::json keyObject(const WorkRow& row, const std::vector<std::string>& columns);

}  // namespace pgrestify::detail
