// SPDX-License-Identifier: MIT
// Checks and key text of a JSON row (src/ops_common.cpp), shared by the operations and the row
// writer. Internal: not installed.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace pgrestify::detail {

/// An error text for values no JSON/SQL can carry (NaN, Infinity), empty when fine.
std::string checkValues(const nlohmann::json& j);
/// Key text of @p columns in @p row (kKeySeparator before each column's scalarText, so an empty
/// string is a key too); empty when one is absent/null.
std::string keyOf(const nlohmann::json& row, const std::vector<std::string>& columns);

}  // namespace pgrestify::detail
