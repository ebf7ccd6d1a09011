// SPDX-License-Identifier: MIT
#include <pgrestify/detail/encode.hpp>

#include <charconv>
#include <stdexcept>

namespace pgrestify::detail {

namespace {
constexpr char kHex[] = "0123456789ABCDEF";

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string percentEncode(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

void checkIdentifier(std::string_view name, std::string_view what) {
  if (name.empty()) throw std::invalid_argument(std::string(what) + " must not be empty");
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      throw std::invalid_argument(std::string(what) + " contains a control character");
    }
    if (ch == '"') throw std::invalid_argument(std::string(what) + " contains '\"', which PostgREST cannot express");
  }
}

std::string quoteIdentifier(std::string_view name) {
  checkIdentifier(name, "column name");
  bool bare = true;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$')) {
      bare = false;
      break;
    }
  }
  if (bare) return std::string(name);
  std::string quoted;  // built by hand: GCC 12 -O2 reports a false -Wrestrict on "\"" + name + "\""
  quoted.reserve(name.size() + 2);
  quoted.push_back('"');
  quoted.append(name);
  quoted.push_back('"');
  return quoted;
}

std::string joinIdentifiers(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out.push_back(',');
    out += quoteIdentifier(n);
  }
  return out;
}

std::string scalarText(const nlohmann::json& value) {
  if (value.is_string()) return value.get_ref<const std::string&>();
  return value.dump();
}

std::string listElement(const nlohmann::json& value) {
  if (value.is_number() || value.is_boolean()) return value.dump();
  if (value.is_null()) return "null";
  std::string text = scalarText(value);
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string inList(const std::vector<nlohmann::json>& values) {
  std::string out = "(";
  bool first = true;
  for (const auto& v : values) {
    if (!first) out.push_back(',');
    first = false;
    out += listElement(v);
  }
  out.push_back(')');
  return out;
}

std::string buildQuery(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += percentEncode(k);
    out.push_back('=');
    out += percentEncode(v);
  }
  return out;
}

void checkHeader(std::string_view name, std::string_view value) {
  auto bad = [](std::string_view s) {
    for (char c : s) {
      if (c == '\r' || c == '\n' || c == '\0') return true;
    }
    return false;
  };
  if (name.empty() || bad(name) || name.find(':') != std::string_view::npos) {
    throw std::invalid_argument("invalid HTTP header name");
  }
  if (bad(value)) throw std::invalid_argument("HTTP header value for '" + std::string(name) + "' contains CR, LF or NUL");
}

long long contentRangeTotal(std::string_view header) noexcept {
  auto slash = header.rfind('/');
  if (slash == std::string_view::npos) return -1;
  auto total = header.substr(slash + 1);
  while (!total.empty() && (total.back() == ' ' || total.back() == '\r')) total.remove_suffix(1);
  if (total.empty() || total == "*") return -1;
  for (char c : total) {
    if (c < '0' || c > '9') return -1;  // from_chars would accept "-0"
  }
  long long n = -1;
  auto [ptr, ec] = std::from_chars(total.data(), total.data() + total.size(), n);
  if (ec != std::errc() || ptr != total.data() + total.size() || n < 0) return -1;
  return n;
}

}  // namespace pgrestify::detail
