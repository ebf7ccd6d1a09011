// SPDX-License-Identifier: MIT
// The column types a CSV import needs: which columns take JSON (json/jsonb), read once per import
// from PostgREST's OpenAPI description of the table (docs/cli.md, "CSV values"); and `update` rows
// as nlohmann::json without changing a number (ExactRows).
#pragma once

#include <pgrestify/client.hpp>
#include <pgrestify/raw_json.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <optional>

#include <set>
#include <string>
#include <vector>

namespace pgrestify::cli {

struct JsonColumns {
  std::set<std::string> names;  ///< columns whose CSV fields are sent as JSON values
  std::string warning;          ///< non-empty when the description could not be read
  bool tableMissing = false;    ///< the description does not list the table (not exposed to this role)
};

/// The json/jsonb columns of @p table by its description, plus @p declared (--json-columns).
/// When the description cannot be read, `warning` says so and only the declared columns are JSON;
/// when it does not list the table, `tableMissing` is set.
JsonColumns jsonColumns(const Client& client, const std::string& table, const std::vector<std::string>& declared);

/// `update` rows (read as RawJson, numbers as written) as the nlohmann::json rows bulkUpdate takes,
/// without changing a number. nlohmann::json reads a number with a fraction or an exponent, and an
/// integer beyond 64 bits, into a double: 123456789012345678901234567890.123456789 would arrive
/// rounded, 1.50 as 1.5, and 1e400 would not be read at all. PostgreSQL converts a JSON number for
/// a column that is not json/jsonb from its text, exactly as it converts a JSON string holding that
/// text; so, in the value of a column of a type listed in column_types.cpp (numbers, text, and arrays
/// of them), such a number is sent as a string of its text as written. Into any other column (json,
/// jsonb, a domain...) a string would change the value: there a number nlohmann::json cannot hold
/// with the same value refuses its row (verdict()); one it holds (1.50 as 1.5) is sent as before.
/// The table's column types are read from PostgREST's description once, at the first such number.
class ExactRows {
 public:
  /// @p keys: the match columns. Their values are never sent as strings (the returned keys are
  /// matched to the rows' as JSON values): a key number nlohmann::json would change in value
  /// refuses its row.
  ExactRows(const Client& client, std::string table, std::vector<std::string> keys)
      : client_(client), table_(std::move(table)), keys_(std::move(keys)) {}

  /// The row to send; afterwards verdict() is non-empty when the row must be refused instead.
  nlohmann::json convert(const RawJson& row);
  /// Why the last converted row must not be sent (empty when it may).
  const std::string& verdict() const { return verdict_; }

 private:
  bool takesText(const std::string& column);

  const Client& client_;
  std::string table_;
  std::vector<std::string> keys_;
  std::optional<std::map<std::string, std::string>> formats_;  // column -> type, once read
  std::string verdict_;
};

}  // namespace pgrestify::cli
