// SPDX-License-Identifier: MIT
// URL, identifier and PostgREST filter-value encoding (implemented in src/encode.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrestify::detail {

/// Percent-encodes everything except RFC 3986 unreserved characters (so `+` arrives as `+`).
std::string percentEncode(std::string_view s);
/// Inverse of percentEncode (for tests and parsers).
std::string percentDecode(std::string_view s);

/// Checks a column or table name: non-empty, no `"`, no control characters. Throws std::invalid_argument.
void checkIdentifier(std::string_view name, std::string_view what);

/// A column name as PostgREST's query grammar accepts it: bare when it is [A-Za-z0-9_$] only,
/// double-quoted otherwise. Throws std::invalid_argument for names PostgREST cannot express.
std::string quoteIdentifier(std::string_view name);

/// Comma-joined quoteIdentifier of each name (for `columns=`, `on_conflict=`, `select=`).
std::string joinIdentifiers(const std::vector<std::string>& names);

/// The text PostgreSQL sees for a JSON scalar: strings raw, numbers and booleans as written,
/// null as `null`. Arrays/objects are dumped.
std::string scalarText(const nlohmann::json& value);

/// One element of an `in.(...)` list or a logic-tree value: numbers and booleans bare, everything
/// else double-quoted with `"` and `\` escaped (PostgREST 12's quoted-value grammar).
std::string listElement(const nlohmann::json& value);

/// `(e1,e2,...)` from listElement of each value.
std::string inList(const std::vector<nlohmann::json>& values);

/// Query string from (key, value) pairs: each key and value percent-encoded, joined with `&`.
std::string buildQuery(const std::vector<std::pair<std::string, std::string>>& params);

/// Rejects header names/values that contain CR, LF or NUL (header injection). Throws std::invalid_argument.
void checkHeader(std::string_view name, std::string_view value);

/// Parses `Content-Range` (`0-9/10`, `*/42`, `*/*`): returns the total after the slash, or -1 when absent/`*`.
long long contentRangeTotal(std::string_view header) noexcept;

}  // namespace pgrestify::detail
