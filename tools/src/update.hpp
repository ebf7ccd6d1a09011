// SPDX-License-Identifier: MIT
// `pgrestify update` (per-row updates from a file, through the import's run) and `pgrestify sql`
// (prints sql/pgrestify_bulk_update.sql for a schema).
#pragma once

#include <pgrestify/options.hpp>

#include <string>
#include <vector>

namespace pgrestify::cli {

/// What `pgrestify update` adds to the import's options (ImportOptions::update).
struct UpdateSettings {
  std::vector<std::string> key = {"id"};  ///< --key: match column(s)
  UpdateStrategy strategy = UpdateStrategy::Auto;
};

/// The strategy named on the command line: auto, function, patch (per row), upsert.
UpdateStrategy updateStrategy(const std::string& name);

/// sql/pgrestify_bulk_update.sql with its function created in @p schema (quoted when needed).
std::string bulkUpdateSql(const std::string& schema);

/// `pgrestify sql`: prints bulkUpdateSql(@p schema) on standard output; 0, or 4 when it could not
/// be written.
int runSql(const std::string& schema);

}  // namespace pgrestify::cli
