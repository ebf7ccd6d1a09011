// SPDX-License-Identifier: MIT
// Key values as the database compares them (src/key_match.cpp): used to match the rows a
// PATCH/DELETE returned to the input keys when the server spells a key differently from the
// caller (an uppercase UUID, a timestamp written with `Z`, `1.50` for a numeric 1.5...).
// Internal, not installed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgrestify::detail {

/// How PostgreSQL compares values of a column type, as far as key matching needs to know.
enum class KeyType {
  Exact,            ///< text, varchar, name: byte for byte
  Blank,            ///< character(n): trailing spaces do not count
  CaseInsensitive,  ///< citext (ASCII letters folded)
  Uuid,
  Integer,  ///< smallint, integer, bigint
  Numeric,
  Real,    ///< float4
  Double,  ///< float8
  Boolean,
  Timestamptz,
  Timestamp,  ///< without time zone: a written offset is ignored, as PostgreSQL does
  Date,
  Time,     ///< without time zone
  Unknown,  ///< anything else (domains, enums, unknown formats): no canonical form
};

/// The KeyType of a column from its PostgREST OpenAPI `format` ("uuid", "timestamp with time zone"...).
KeyType keyTypeOf(std::string_view format) noexcept;

/// The canonical text of @p text as a value of @p type: two spellings PostgreSQL reads as equal
/// values give the same canonical text. nullopt when the type is Unknown or the text does not
/// parse (then only byte equality can be trusted).
std::optional<std::string> canonicalValue(KeyType type, std::string_view text);

}  // namespace pgrestify::detail
