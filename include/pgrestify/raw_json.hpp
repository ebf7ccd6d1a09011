// SPDX-License-Identifier: MIT
// RawJson: a JSON value kept as its text, sent verbatim.
//
// nlohmann::json reads every number into a 64-bit integer or a double, so a number such as
// 12345678901234567890.123456789, 1e-400 or a 30-digit integer changes on the way in. A RawJson
// holds validated JSON text instead and the bulk inserts write it as it is: numbers keep exactly
// the digits written (PostgreSQL then reads them into numeric, text or jsonb as they are).
//
//   - as a member of a PGRESTIFY_ROW struct: that column receives the JSON value (a json/jsonb
//     column gets the object, a numeric column the exact number);
//   - as a whole row of bulkInsert/bulkUpsert: the text must be a JSON object, one key per column.
//
// The text is validated on construction (std::invalid_argument when it is not exactly one JSON
// value, or holds text that is not valid UTF-8) and kept byte for byte (only whitespace around the
// whole value is dropped): numbers, string escapes and the spacing inside, which a `json` column
// (unlike jsonb) stores as it receives it.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrestify {

class RawJson {
 public:
  /// One top-level member of an object: its (decoded) name and where its value is in text().
  struct Member {
    std::string name;
    std::size_t offset = 0;
    std::size_t size = 0;
  };

  /// JSON `null`.
  RawJson() = default;
  /// Validates @p text; throws std::invalid_argument (with the parser's message) when it is not
  /// one valid JSON value.
  explicit RawJson(std::string_view text) {
    std::string error;
    if (!assign(text, error)) throw std::invalid_argument("pgrestify: RawJson: " + error);
  }
  /// Like the constructor, without throwing: nullopt (and the reason in @p error) when invalid.
  static std::optional<RawJson> parse(std::string_view text, std::string* error = nullptr) {
    RawJson r;
    std::string e;
    if (!r.assign(text, e)) {
      if (error) *error = std::move(e);
      return std::nullopt;
    }
    return r;
  }

  /// The JSON text as given (without surrounding whitespace).
  const std::string& text() const noexcept { return text_; }
  /// @p json (valid JSON text) without the whitespace between its tokens: one line.
  static std::string compact(std::string_view json) {
    std::string out;
    out.reserve(json.size());
    for (std::size_t i = 0; i < json.size(); ++i) {
      const char c = json[i];
      if (c == '"') {
        std::size_t j = i + 1;
        while (j < json.size() && json[j] != '"') j += json[j] == '\\' ? 2 : 1;
        j = std::min(j + 1, json.size());
        out.append(json.substr(i, j - i));
        i = j - 1;
      } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        out.push_back(c);
      }
    }
    return out;
  }
  bool isObject() const noexcept { return !text_.empty() && text_.front() == '{'; }
  bool isString() const noexcept { return !text_.empty() && text_.front() == '"'; }
  bool isNull() const noexcept { return text_ == "null"; }
  /// The members of an object in the order written (empty for other values).
  const std::vector<Member>& members() const noexcept { return members_; }
  /// The text of a member's value.
  std::string_view valueText(const Member& m) const { return std::string_view(text_).substr(m.offset, m.size); }

  /// The text of a scalar as a key: a string's characters, any other value's JSON text.
  static std::string scalarText(std::string_view json) {
    if (json.empty() || json.front() != '"') return std::string(json);
    if (json.find('\\') == std::string_view::npos) return std::string(json.substr(1, json.size() - 2));
    return nlohmann::json::parse(json).get<std::string>();
  }

  friend bool operator==(const RawJson& a, const RawJson& b) noexcept { return a.text_ == b.text_; }

 private:
  // Validates with nlohmann's SAX parser (which also checks UTF-8) and collects the top-level keys.
  struct Validator : nlohmann::json_sax<nlohmann::json> {
    std::vector<Member>* members = nullptr;
    std::string error;
    int depth = 0;
    bool topObject = false;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override {
      if (depth == 0) topObject = true;
      ++depth;
      return true;
    }
    bool key(string_t& k) override {
      if (depth == 1 && topObject) members->push_back(Member{.name = k, .offset = 0, .size = 0});
      return true;
    }
    bool end_object() override {
      --depth;
      return true;
    }
    bool start_array(std::size_t) override {
      ++depth;
      return true;
    }
    bool end_array() override {
      --depth;
      return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
      error = ex.what();
      // "[json.exception.parse_error.101] parse error at ...": keep the part after the tag.
      if (auto tag = error.find("] "); error.rfind("[json.exception.", 0) == 0 && tag != std::string::npos) {
        error.erase(0, tag + 2);
      }
      return false;
    }
  };

  // A JSON number token: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  static bool validNumber(std::string_view n) {
    std::size_t i = 0;
    auto digits = [&] {
      const std::size_t from = i;
      while (i < n.size() && n[i] >= '0' && n[i] <= '9') ++i;
      return i > from;
    };
    if (i < n.size() && n[i] == '-') ++i;
    if (i < n.size() && n[i] == '0') {
      ++i;
    } else if (!digits()) {
      return false;
    }
    if (i < n.size() && n[i] == '.') {
      ++i;
      if (!digits()) return false;
    }
    if (i < n.size() && (n[i] == 'e' || n[i] == 'E')) {
      ++i;
      if (i < n.size() && (n[i] == '+' || n[i] == '-')) ++i;
      if (!digits()) return false;
    }
    return i == n.size();
  }

  static bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

  bool assign(std::string_view text, std::string& error) {
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 BOM, as nlohmann skips it
    while (!text.empty() && space(text.front())) text.remove_prefix(1);
    while (!text.empty() && space(text.back())) text.remove_suffix(1);
    // JSON text never holds a NUL byte (in a string it must be escaped), and nlohmann's parser
    // would take one for the end of the input and accept what comes before it.
    if (text.find('\0') != std::string_view::npos) {
      error = "a NUL byte is not valid in JSON text";
      return false;
    }
    // One lexical pass: where each top-level member's value is, and a probe for the validator in
    // which every number is 0 (nlohmann refuses numbers beyond a double, such as 1e400, which
    // PostgreSQL's numeric and jsonb take).
    std::string probe;
    probe.reserve(text.size());
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // value spans of top-level members
    int depth = 0;
    bool topObject = false;
    bool inValue = false;     // at depth 1 of the top-level object: between ':' and ',' / '}'
    std::size_t lastEnd = 0;  // end of the last token
    auto closeValue = [&] {
      if (depth == 1 && inValue) {
        spans.back().second = lastEnd > spans.back().first ? lastEnd - spans.back().first : 0;
        inValue = false;
      }
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (space(c)) {
        probe.push_back(c);
        continue;
      }
      if (inValue && depth == 1 && spans.back().second == std::string::npos) spans.back() = {i, 0};
      switch (c) {
        case '"': {  // a string, copied as written (the validator checks escapes and UTF-8)
          std::size_t j = i + 1;
          while (j < text.size() && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
          j = std::min(j + 1, text.size());
          probe.append(text.substr(i, j - i));
          i = j - 1;
          lastEnd = j;
          continue;
        }
        case '{':
        case '[':
          if (depth == 0 && c == '{') topObject = true;
          ++depth;
          break;
        case '}':
        case ']':
          closeValue();
          --depth;
          break;
        case ',':
          closeValue();
          break;
        case ':':
          if (depth == 1 && topObject) {
            probe.push_back(c);
            spans.emplace_back(i + 1, std::string::npos);  // npos: the value's first token is next
            inValue = true;
            continue;
          }
          break;
        default:
          if (c == '-' || (c >= '0' && c <= '9')) {
            std::size_t j = i;
            while (j < text.size() && std::string_view("0123456789+-.eE").find(text[j]) != std::string_view::npos) ++j;
            const auto number = text.substr(i, j - i);
            if (!validNumber(number)) {
              error = "invalid number '" + std::string(number.substr(0, 64)) + "'";
              return false;
            }
            probe.push_back('0');
            i = j - 1;
            lastEnd = j;
            continue;
          }
          break;
      }
      probe.push_back(c);
      lastEnd = i + 1;
    }
    // Validates with nlohmann's SAX parser (which also checks UTF-8) and collects the top-level keys.
    std::vector<Member> members;
    Validator v;
    v.members = &members;
    bool ok = false;
    try {
      ok = nlohmann::json::sax_parse(probe, &v);
    } catch (const std::exception& e) {  // not expected with a SAX that reports errors itself
      v.error = e.what();
    }
    if (!ok || members.size() != spans.size()) {
      error = v.error.empty() ? "invalid JSON" : v.error;
      return false;
    }
    for (std::size_t m = 0; m < members.size(); ++m) {
      members[m].offset = spans[m].first;
      members[m].size = spans[m].second;
    }
    text_.assign(text);
    members_ = std::move(members);
    return true;
  }

  std::string text_ = "null";
  std::vector<Member> members_;
};

/// Converts to nlohmann::json when that keeps every number exactly as written; otherwise throws
/// std::invalid_argument (nlohmann::json would change its digits: send the RawJson with
/// bulkInsert/bulkUpsert, or the number as a string).
inline void to_json(nlohmann::json& j, const RawJson& raw) {
  struct Exact : nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
    using nlohmann::detail::json_sax_dom_parser<nlohmann::json>::json_sax_dom_parser;
    std::string lossy;
    bool number_float(double val, const std::string& text) {
      if (lossy.empty() && nlohmann::json(val).dump() != text) lossy = text;
      return json_sax_dom_parser::number_float(val, text);
    }
  };
  nlohmann::json out;
  Exact sax(out, true);
  try {
    nlohmann::json::sax_parse(raw.text(), &sax);
  } catch (const nlohmann::json::exception&) {  // a number beyond a double (1e400)
    sax.lossy = "beyond a double";
  }
  if (!sax.lossy.empty()) {
    throw std::invalid_argument("pgrestify: RawJson number " + sax.lossy.substr(0, 64) +
                                " cannot become a nlohmann::json without changing its digits");
  }
  j = std::move(out);
}

/// A JSON value read back (e.g. rows returned by PostgREST, already parsed by nlohmann) as RawJson.
inline void from_json(const nlohmann::json& j, RawJson& raw) { raw = RawJson(j.dump()); }

}  // namespace pgrestify
