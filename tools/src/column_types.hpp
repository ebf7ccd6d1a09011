// SPDX-License-Identifier: MIT
// The column types a CSV import needs: which columns take JSON (json/jsonb), read once per import
// from PostgREST's OpenAPI description of the table (docs/cli.md, "CSV values").
#pragma once

#include <pgrestify/client.hpp>

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

}  // namespace pgrestify::cli
