// SPDX-License-Identifier: MIT
#include "column_types.hpp"

#include <pgrestify/error.hpp>

#include <exception>

namespace pgrestify::cli {

JsonColumns jsonColumns(const Client& client, const std::string& table, const std::vector<std::string>& declared) {
  JsonColumns out;
  out.names.insert(declared.begin(), declared.end());
  const std::string fallback =
      "; CSV fields go to json/jsonb columns as JSON strings (name such columns with --json-columns)";
  try {
    auto schema = client.describeTable(table);
    if (!schema->found) {
      out.tableMissing = true;
      return out;
    }
    for (const auto& c : schema->columns) {
      if (c.format == "json" || c.format == "jsonb") out.names.insert(c.name);
    }
  } catch (const std::exception& e) {  // pgrestify::Error: no description (e.g. OpenAPI disabled)
    out.warning = std::string("cannot read the column types of '") + table + "' (" + e.what() + ")" + fallback;
  }
  return out;
}

}  // namespace pgrestify::cli
