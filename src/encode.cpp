// SPDX-License-Identifier: MIT
#include <pgrestify/detail/encode.hpp>

#include <cctype>
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
  // PostgREST 12's quoted names read `\x` as `x` (as in quoted values): `"q\"uote"` is q"uote.
  std::string quoted;  // built by hand: GCC 12 -O2 reports a false -Wrestrict on "\"" + name + "\""
  quoted.reserve(name.size() + 2);
  quoted.push_back('"');
  for (char c : name) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
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
  if (value.is_null()) {
    // PostgREST reads null (quoted or not) in a list as the text 'null', never as SQL NULL.
    throw std::invalid_argument(
        "pgrestify: null has no form in an in.() list (PostgREST would read it as the "
        "text 'null'); filter SQL NULL with is(nullptr)");
  }
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

namespace {
// RFC 9110 token characters (a header name).
bool tokenChar(unsigned char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

// A header name as messages may quote it: a valid token short enough not to be a credential
// pasted in the wrong place (a JWT or an API key is longer).
std::string nameForMessage(std::string_view name) {
  if (name.size() <= 40) return "'" + std::string(name) + "'";
  return "of " + std::to_string(name.size()) + " characters (not shown)";
}
}  // namespace

void checkHeader(std::string_view name, std::string_view value) {
  // Neither the name nor the value is ever quoted when it is malformed: a header given as
  // "Authorization Bearer <jwt>" (no colon) must not print the token in the message.
  if (name.empty()) throw std::invalid_argument("invalid HTTP header name: empty");
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!tokenChar(static_cast<unsigned char>(name[i]))) {
      throw std::invalid_argument(
          "invalid HTTP header name (" + std::to_string(name.size()) + " characters; character " +
          std::to_string(i + 1) +
          " is not allowed: a name is letters, digits and !#$%&'*+-.^_`|~, without ':' or spaces); the name and "
          "its value are not shown, as they may hold a credential");
    }
  }
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      throw std::invalid_argument("HTTP header value for " + nameForMessage(name) +
                                  " contains CR, LF, NUL or another control character (the value is not shown)");
    }
  }
}

const std::vector<std::string_view>& credentialHeaders() {
  static const std::vector<std::string_view> names = {
      "Authorization",  "Proxy-Authorization",  "apikey", "X-Api-Key",  "Api-Key",      "X-Auth-Token",
      "X-Access-Token", "X-Amz-Security-Token", "Cookie", "Set-Cookie", "X-CSRF-Token", "X-Supabase-Api-Key"};
  return names;
}

bool isCredentialHeader(std::string_view name, const std::vector<std::string>& declared) {
  for (auto n : credentialHeaders()) {
    if (equalsIgnoreCase(n, name)) return true;
  }
  for (const auto& n : declared) {
    if (equalsIgnoreCase(n, name)) return true;
  }
  return false;
}

std::string_view ownedHeaderAdvice(std::string_view name) noexcept {
  struct Owned {
    std::string_view name;
    std::string_view advice;
  };
  static constexpr Owned owned[] = {
      {"Prefer",
       "it decides what the results mean; use the call's options instead (returning, onConflict / "
       "ignoreDuplicates, missing; counts are always exact)"},
      {"Accept-Profile", "use ClientOptions::schema"},
      {"Content-Profile", "use ClientOptions::schema"},
      {"Accept", "the library reads JSON answers"},
      {"Content-Type", "the library sends JSON bodies"},
      {"Content-Encoding", "the library sends plain JSON bodies"},
      {"Accept-Encoding", "the transport negotiates compression"},
      {"Content-Length", "the transport sets it"},
      {"Transfer-Encoding", "the transport sets it"},
      {"Host", "it comes from ClientOptions::url"},
      {"Range", "use limit() and offset()"},
      {"Range-Unit", "use limit() and offset()"},
      {"Expect", "the transport sets it"},
      {"Connection", "the transport manages connections"},
      {"Keep-Alive", "the transport manages connections"},
      {"Upgrade", "the transport manages connections"},
      {"TE", "the transport manages connections"},
      {"Trailer", "the transport manages connections"},
      {"X-HTTP-Method-Override", "a proxy could change the request's method"},
      {"X-HTTP-Method", "a proxy could change the request's method"},
      {"X-Method-Override", "a proxy could change the request's method"},
  };
  for (const auto& o : owned) {
    if (equalsIgnoreCase(o.name, name)) return o.advice;
  }
  return {};
}

void checkUserHeader(std::string_view name, std::string_view value) {
  checkHeader(name, value);
  if (auto advice = ownedHeaderAdvice(name); !advice.empty()) {
    throw std::invalid_argument("pgrestify: the header '" + std::string(name) +
                                "' is set by pgrestify and cannot be given by the caller: " + std::string(advice));
  }
}

void checkUrl(std::string_view url, std::string_view what, bool base) {
  // The URL is never quoted: it may hold a password.
  const std::string w(what);
  std::string_view rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else {
    throw std::invalid_argument("pgrestify: " + w + " must start with http:// or https://");
  }
  for (char ch : url) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f)
      throw std::invalid_argument("pgrestify: " + w + " contains a space or control character");
  }
  auto authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    throw std::invalid_argument("pgrestify: " + w +
                                " must not contain user info ('user:password@host'; the URL is not shown): give "
                                "credentials with ClientOptions::bearerToken or an Authorization header, which are "
                                "redacted from every error");
  }
  if (authority.empty()) throw std::invalid_argument("pgrestify: " + w + " has no host");
  if (base && rest.find_first_of("?#") != std::string_view::npos) {
    throw std::invalid_argument("pgrestify: " + w + " must not contain a query string or fragment ('?', '#')");
  }
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
