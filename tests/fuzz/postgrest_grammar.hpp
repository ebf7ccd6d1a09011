// SPDX-License-Identifier: MIT
// A reference parser of PostgREST 12's `in.(...)` list grammar, used by the fuzz targets to
// check that the encoder's output means exactly the values that went in.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgrestify::fuzz {

/// Parses `(e1,e2,...)`: each element is either double-quoted (a backslash escapes the next
/// character) or bare (no `,`, `(`, `)`, `"`). Returns nullopt for text the grammar rejects.
inline std::optional<std::vector<std::string>> parseInList(std::string_view v) {
  if (v.size() < 2 || v.front() != '(' || v.back() != ')') return std::nullopt;
  v = v.substr(1, v.size() - 2);
  std::vector<std::string> out;
  if (v.empty()) return out;
  std::size_t i = 0;
  for (;;) {
    std::string e;
    if (i < v.size() && v[i] == '"') {
      ++i;
      for (;;) {
        if (i >= v.size()) return std::nullopt;
        if (v[i] == '\\') {
          if (++i >= v.size()) return std::nullopt;
          e.push_back(v[i++]);
        } else if (v[i] == '"') {
          ++i;
          break;
        } else {
          e.push_back(v[i++]);
        }
      }
    } else {
      while (i < v.size() && v[i] != ',') {
        if (v[i] == '(' || v[i] == ')' || v[i] == '"') return std::nullopt;
        e.push_back(v[i++]);
      }
    }
    out.push_back(std::move(e));
    if (i == v.size()) return out;
    if (v[i] != ',') return std::nullopt;
    ++i;
  }
}

}  // namespace pgrestify::fuzz
