// SPDX-License-Identifier: MIT
// Mapping user structs to PostgREST rows.
//
// Rows are anything nlohmann/json converts through ADL `to_json` / `from_json`. The macro
// PGRESTIFY_ROW(Type, field...) writes both functions with the rules a database row needs:
//   - an empty std::optional member is OMITTED from the JSON (so the column DEFAULT applies,
//     the C++ counterpart of TypeScript's Partial<T>);
//   - on reading, an absent or null column leaves a plain member untouched and empties an optional;
//   - bulkInsert/bulkUpsert write such rows straight to the request body (pgrestifyWriteFields,
//     see detail/row_writer.hpp), columns in the order the macro lists them, without building a
//     nlohmann::json per row. Same JSON as to_json, about ten times less CPU.
// Use it in the namespace of Type, after the struct:
//
//   struct User { std::optional<long long> id; std::string name; std::string email; };
//   PGRESTIFY_ROW(User, id, name, email)
#pragma once

#include <pgrestify/detail/row_writer.hpp>

#include <nlohmann/json.hpp>

#include <optional>

namespace pgrestify::detail {

template <class V>
void putField(nlohmann::json& j, const char* name, const V& v) {
  j[name] = v;
}
template <class V>
void putField(nlohmann::json& j, const char* name, const std::optional<V>& v) {
  if (v) j[name] = *v;
}
template <class V>
void getField(const nlohmann::json& j, const char* name, V& v) {
  auto it = j.find(name);
  if (it != j.end() && !it->is_null()) it->get_to(v);
}
template <class V>
void getField(const nlohmann::json& j, const char* name, std::optional<V>& v) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    v.reset();
  } else {
    v = it->template get<V>();
  }
}

}  // namespace pgrestify::detail

#define PGRESTIFY_DETAIL_PUT(field) ::pgrestify::detail::putField(pgrestify_j, #field, pgrestify_r.field);
#define PGRESTIFY_DETAIL_GET(field) ::pgrestify::detail::getField(pgrestify_j, #field, pgrestify_r.field);
#define PGRESTIFY_DETAIL_WRITE(member) pgrestify_w.field(#member, pgrestify_r.member);

/// Defines to_json/from_json for a row struct (see the top of pgrestify/row.hpp).
#define PGRESTIFY_ROW(Type, ...)                                                                 \
  [[maybe_unused]] inline void to_json(nlohmann::json& pgrestify_j, const Type& pgrestify_r) {   \
    pgrestify_j = nlohmann::json::object();                                                      \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(PGRESTIFY_DETAIL_PUT, __VA_ARGS__))                 \
  }                                                                                              \
  [[maybe_unused]] inline void from_json(const nlohmann::json& pgrestify_j, Type& pgrestify_r) { \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(PGRESTIFY_DETAIL_GET, __VA_ARGS__))                 \
  }                                                                                              \
  [[maybe_unused]] inline void pgrestifyWriteFields(::pgrestify::detail::RowWriter& pgrestify_w, \
                                                    const Type& pgrestify_r) {                   \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(PGRESTIFY_DETAIL_WRITE, __VA_ARGS__))               \
  }
