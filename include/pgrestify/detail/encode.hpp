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

/// Checks a column or table name: non-empty, no control characters. Throws std::invalid_argument.
/// (Names with `"`, `\`, spaces, dots, commas or non-ASCII letters are valid: quoteIdentifier
/// quotes them the way PostgREST 12 reads them.)
void checkIdentifier(std::string_view name, std::string_view what);

/// A column name as PostgREST's query grammar accepts it: bare when it is [A-Za-z0-9_$] only,
/// double-quoted otherwise, with `"` and `\` backslash-escaped (`q"uote` -> `"q\"uote"`).
/// Throws std::invalid_argument for an empty name or one with control characters.
std::string quoteIdentifier(std::string_view name);

/// Comma-joined quoteIdentifier of each name (for `columns=`, `on_conflict=`, `select=`).
std::string joinIdentifiers(const std::vector<std::string>& names);

/// The text PostgreSQL sees for a JSON scalar: strings raw, numbers and booleans as written,
/// null as `null`. Arrays/objects are dumped.
std::string scalarText(const nlohmann::json& value);

/// One element of an `in.(...)` list or a logic-tree value: numbers and booleans bare, everything
/// else double-quoted with `"` and `\` escaped (PostgREST 12's quoted-value grammar). Throws
/// std::invalid_argument for null: PostgREST reads `null` (quoted or not) in a list as the text
/// 'null', so no list element can mean SQL NULL.
std::string listElement(const nlohmann::json& value);

/// `(e1,e2,...)` from listElement of each value.
std::string inList(const std::vector<nlohmann::json>& values);

/// Query string from (key, value) pairs: each key and value percent-encoded, joined with `&`.
std::string buildQuery(const std::vector<std::pair<std::string, std::string>>& params);

/// Rejects a header name that is not an HTTP token (spaces, ':', control characters...) and a value
/// with CR, LF, NUL or another control character (header injection). Throws std::invalid_argument
/// whose message never quotes the value, nor a malformed name ("Authorization Bearer <jwt>").
void checkHeader(std::string_view name, std::string_view value);

/// The built-in names of credential-bearing headers (compared case-insensitively): Authorization,
/// Proxy-Authorization, apikey, X-Api-Key, Api-Key, X-Auth-Token, X-Access-Token,
/// X-Amz-Security-Token, Cookie, Set-Cookie, X-CSRF-Token, X-Supabase-Api-Key.
const std::vector<std::string_view>& credentialHeaders();
/// True when @p name is one of credentialHeaders() or of @p declared (case-insensitive).
bool isCredentialHeader(std::string_view name, const std::vector<std::string>& declared);

/// Why the caller may not set header @p name (empty when it may): headers whose value pgrestify
/// decides because they change what a request does or what its answer means (Prefer, Accept,
/// Content-Type, Accept-Profile/Content-Profile, Range, Host, Content-Length...).
std::string_view ownedHeaderAdvice(std::string_view name) noexcept;
/// checkHeader, and refuses the headers of ownedHeaderAdvice naming the option to use instead.
/// Throws std::invalid_argument.
void checkUserHeader(std::string_view name, std::string_view value);

/// Checks an absolute URL: http:// or https://, no spaces or control characters, no user info
/// (`user:password@`); with @p base, no query string or fragment either. The message names
/// @p what and never quotes the URL. Throws std::invalid_argument.
void checkUrl(std::string_view url, std::string_view what, bool base);

/// Parses `Content-Range` (`0-9/10`, `*/42`, `*/*`): returns the total after the slash, or -1 when absent/`*`.
long long contentRangeTotal(std::string_view header) noexcept;

}  // namespace pgrestify::detail
