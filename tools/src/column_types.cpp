// SPDX-License-Identifier: MIT
#include "column_types.hpp"

#include <pgrestify/error.hpp>

#include <exception>
#include <string_view>

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

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

/// Sign, significant digits and exponent of a JSON number token: equal for equal values.
struct Decimal {
  bool negative = false;
  std::string digits;      // no leading or trailing zeros; empty for zero
  long long exponent = 0;  // value = 0.digits * 10^exponent
  bool operator==(const Decimal&) const = default;
};

Decimal decimalOf(std::string_view n) {
  Decimal d;
  std::size_t i = 0;
  if (i < n.size() && n[i] == '-') {
    d.negative = true;
    ++i;
  }
  long long pointAt = -1, count = 0;
  for (; i < n.size() && (digit(n[i]) || n[i] == '.'); ++i) {
    if (n[i] == '.') {
      pointAt = count;
      continue;
    }
    d.digits.push_back(n[i]);
    ++count;
  }
  long long exponent = 0;
  if (i < n.size() && (n[i] == 'e' || n[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < n.size() && (n[i] == '+' || n[i] == '-')) negative = n[i++] == '-';
    for (; i < n.size() && digit(n[i]); ++i) {
      if (exponent < 1000000000) exponent = exponent * 10 + (n[i] - '0');
    }
    if (negative) exponent = -exponent;
  }
  const std::size_t lead = d.digits.find_first_not_of('0');
  if (lead == std::string::npos) return Decimal{};  // zero (of either sign)
  d.exponent = (pointAt < 0 ? count : pointAt) - static_cast<long long>(lead) + exponent;
  d.digits.erase(0, lead);
  d.digits.erase(d.digits.find_last_not_of('0') + 1);
  return d;
}

/// How nlohmann::json sends the number @p token: its dump(), or nullopt when it cannot read it (1e400).
std::optional<std::string> nlohmannText(std::string_view token) {
  bool plainInteger = token.size() <= 18 && token != "-0";  // fits 64 bits, read as an integer
  for (std::size_t i = token.front() == '-' ? 1 : 0; i < token.size() && plainInteger; ++i) {
    plainInteger = digit(token[i]);
  }
  if (plainInteger) return std::string(token);
  auto j = nlohmann::json::parse(token, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j.dump();
}

enum class Change { None, Text, Value };

/// @p value (valid JSON text) with every number whose text nlohmann::json would change written as
/// a JSON string of its text; @p change says the worst: the text only (1.50) or the value too.
std::string exactValue(std::string_view value, Change& change) {
  std::string out;
  out.reserve(value.size() + 8);
  for (std::size_t i = 0; i < value.size();) {
    const char c = value[i];
    std::size_t j = i + 1;
    if (c == '"') {
      while (value[j] != '"') j += value[j] == '\\' ? 2 : 1;
      ++j;
      out.append(value.substr(i, j - i));
    } else if (c == '-' || digit(c)) {
      while (j < value.size() && (digit(value[j]) || value[j] == '.' || value[j] == 'e' || value[j] == 'E' ||
                                  value[j] == '+' || value[j] == '-')) {
        ++j;
      }
      const std::string_view token = value.substr(i, j - i);
      const auto sent = nlohmannText(token);
      if (sent && *sent == token) {
        out.append(token);
      } else {
        if (!sent || !(decimalOf(*sent) == decimalOf(token))) {
          change = Change::Value;
        } else if (change == Change::None) {
          change = Change::Text;
        }
        out.push_back('"');
        out.append(token);
        out.push_back('"');
      }
    } else {
      out.push_back(c);
    }
    i = j;
  }
  return out;
}

/// Types whose columns (and arrays of them) PostgreSQL fills from a JSON number's text, exactly as
/// from a string holding it.
bool textFilled(std::string format) {
  while (format.size() > 2 && format.compare(format.size() - 2, 2, "[]") == 0) format.resize(format.size() - 2);
  static const char* const kTypes[] = {
      "numeric", "integer", "bigint", "smallint", "real", "double precision", "text", "character varying", "character"};
  for (const char* t : kTypes) {
    if (format == t) return true;
  }
  return false;
}

}  // namespace

bool ExactRows::takesText(const std::string& column) {
  for (const auto& k : keys_) {
    if (k == column) return false;
  }
  if (!formats_) {
    formats_.emplace();
    try {
      auto schema = client_.describeTable(table_);
      for (const auto& c : schema->columns) (*formats_)[c.name] = c.format;
    } catch (const std::exception&) {  // no description: no column is known to take text
    }
  }
  auto it = formats_->find(column);
  return it != formats_->end() && textFilled(it->second);
}

nlohmann::json ExactRows::convert(const RawJson& row) {
  verdict_.clear();
  Change change = Change::None;
  exactValue(row.text(), change);
  if (change == Change::None || !row.isObject()) return nlohmann::json::parse(row.text(), nullptr, false);
  std::string text = "{";
  for (const auto& m : row.members()) {
    Change here = Change::None;
    std::string value = exactValue(row.valueText(m), here);
    if (here != Change::None && !takesText(m.name)) {
      if (here == Change::Value && verdict_.empty()) {
        verdict_ = "a number in column \"" + m.name +
                   "\" has more digits (or a larger exponent) than update can send into a match column or a "
                   "column of its type (not a number or text column, or its type could not be read); it was not sent";
      }
      value = row.valueText(m);  // nlohmann::json's reading, as before
    }
    if (text.size() > 1) text.push_back(',');
    text += nlohmann::json(m.name).dump();
    text.push_back(':');
    text += value;
  }
  text.push_back('}');
  return nlohmann::json::parse(text, nullptr, false);
}

}  // namespace pgrestify::cli
