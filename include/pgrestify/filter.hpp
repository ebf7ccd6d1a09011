// SPDX-License-Identifier: MIT
#pragma once

#include <pgrestify/detail/encode.hpp>

#include <nlohmann/json.hpp>

#include <concepts>
#include <initializer_list>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrestify {

/// A PostgREST filter condition on one column: an operator and its value, encoded the way
/// PostgREST 12 parses it. Build one with eq(), neq(), gt(), gte(), lt(), lte(), like(), ilike(),
/// is(), in(), and negate it with notOf().
class Condition {
 public:
  /// `eq` on @p value (what a bare value in a Where means); a null value means `is.null`.
  template <class V>
  requires(!std::same_as<std::remove_cvref_t<V>, Condition> && std::constructible_from<nlohmann::json, V>)
      Condition(V&& value)  // NOLINT(google-explicit-constructor)
      : Condition(fromJson(nlohmann::json(std::forward<V>(value)))) {}

  /// A raw condition: `op` is a PostgREST operator ("eq", "in", "cs"...), `text` its already-formatted value.
  static Condition raw(std::string op, std::string text) {
    Condition c;
    c.op_ = std::move(op);
    c.text_ = std::move(text);
    return c;
  }

  /// The query value: `[not.]op.text`.
  std::string value() const { return (negated_ ? "not." : "") + op_ + "." + text_; }
  const std::string& op() const noexcept { return op_; }
  bool negated() const noexcept { return negated_; }
  Condition negate() const {
    Condition c = *this;
    c.negated_ = !c.negated_;
    return c;
  }

 private:
  Condition() = default;
  static Condition fromJson(const nlohmann::json& value) {
    if (value.is_null()) return raw("is", "null");
    return raw("eq", detail::scalarText(value));
  }
  std::string op_;
  std::string text_;
  bool negated_ = false;
};

namespace detail {
template <class V>
Condition compare(const char* op, V&& value) {
  nlohmann::json j(std::forward<V>(value));
  // PostgREST reads `eq.null` as the text 'null', never as SQL NULL: refuse instead of matching the wrong rows.
  if (j.is_null()) {
    throw std::invalid_argument(std::string("pgrestify: ") + op +
                                "(null) would compare with the text 'null'; use is(nullptr)");
  }
  return Condition::raw(op, scalarText(j));
}

/// Query parameters PostgREST 12 does not read as filters (alone, or as the last `.` part of an
/// embedded key such as `posts.order`). A "filter" on one of them would be ignored or misread,
/// and a PATCH/DELETE would then reach every row: `DELETE /t?columns=in.(1)` empties the table.
inline bool reservedParam(std::string_view name) {
  auto last = name.substr(name.rfind('.') == std::string_view::npos ? 0 : name.rfind('.') + 1);
  for (std::string_view r : {"select", "columns", "on_conflict"}) {
    if (name == r) return true;
  }
  for (std::string_view r : {"order", "limit", "offset", "and", "or"}) {
    if (last == r) return true;
  }
  return false;
}

/// Checks a filter column: a valid name PostgREST reads as a filter. Throws std::invalid_argument.
inline void checkFilterColumn(std::string_view column) {
  checkIdentifier(column, "column name");
  if (reservedParam(column)) {
    throw std::invalid_argument("pgrestify: '" + std::string(column) +
                                "' is a reserved PostgREST query parameter, not a filter column");
  }
}

/// A filter on the table itself: `posts.id=eq.1` only filters an embedded resource and does not
/// restrict which rows a PATCH or DELETE reaches. A dot inside a quoted name (`"a.b"`, a column
/// whose name holds a dot) is part of the name.
inline bool restrictsTable(std::string_view column) {
  bool quoted = false;
  for (std::size_t i = 0; i < column.size(); ++i) {
    char c = column[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '.' && !quoted) {
      return false;
    }
  }
  return true;
}
}  // namespace detail

template <class V>
Condition eq(V&& v) {
  return detail::compare("eq", std::forward<V>(v));
}
template <class V>
Condition neq(V&& v) {
  return detail::compare("neq", std::forward<V>(v));
}
template <class V>
Condition gt(V&& v) {
  return detail::compare("gt", std::forward<V>(v));
}
template <class V>
Condition gte(V&& v) {
  return detail::compare("gte", std::forward<V>(v));
}
template <class V>
Condition lt(V&& v) {
  return detail::compare("lt", std::forward<V>(v));
}
template <class V>
Condition lte(V&& v) {
  return detail::compare("lte", std::forward<V>(v));
}
/// LIKE; `*` or `%` are wildcards.
inline Condition like(std::string pattern) { return Condition::raw("like", std::move(pattern)); }
inline Condition ilike(std::string pattern) { return Condition::raw("ilike", std::move(pattern)); }
/// IS null / true / false / unknown.
inline Condition is(std::nullptr_t) { return Condition::raw("is", "null"); }
inline Condition is(bool value) { return Condition::raw("is", value ? "true" : "false"); }
/// IN (...): every value quoted and escaped as PostgREST 12 expects. An empty list matches nothing.
/// A null element throws std::invalid_argument: PostgREST reads null in a list as the text 'null'
/// (it would match the string "null" and never SQL NULL); filter SQL NULL with is(nullptr). The
/// string "null" is a text value like any other (`in({"null"})` matches the text 'null').
template <std::ranges::input_range R>
Condition in(const R& values) {
  std::vector<nlohmann::json> list;
  for (const auto& v : values) {
    list.emplace_back(v);
    if (list.back().is_null()) {
      throw std::invalid_argument(
          "pgrestify: in() with a null element would match the text 'null', not SQL NULL; "
          "filter SQL NULL with is(nullptr) in a separate query");
    }
  }
  // PostgREST 12 reads `in.("")` as an empty list (matches nothing); `in.("","")` matches ''.
  if (list.size() == 1 && list.front().is_string() && list.front().get_ref<const std::string&>().empty()) {
    list.push_back(list.front());
  }
  return Condition::raw("in", detail::inList(list));
}
template <class V>
Condition in(std::initializer_list<V> values) {
  return in(std::vector<V>(values));
}
/// NOT of a condition: `notOf(eq(1))` is `not.eq.1`. (`not` is a C++ keyword.)
inline Condition notOf(const Condition& c) { return c.negate(); }

/// Criteria for repository calls: `{{"active", false}, {"id", pgrestify::in(ids)}}`; all must hold.
using Where = std::vector<std::pair<std::string, Condition>>;

}  // namespace pgrestify
