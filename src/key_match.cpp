// SPDX-License-Identifier: MIT
// Canonical key values: two spellings PostgreSQL reads as the same value of a type get the same text.
#include "key_match.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <system_error>

namespace pgrestify::detail {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// ---- numbers ----

// Decimal text as digits x 10^exponent, without leading/trailing zeros: "1.50" and "0015e-1"
// both give "15e-1". NaN and infinities by name (numeric accepts them since PostgreSQL 14).
std::optional<std::string> canonicalDecimal(std::string_view text) {
  std::string_view s = trim(text);
  std::string l = lowered(s);
  if (l == "nan") return std::string("nan");
  if (l == "infinity" || l == "+infinity" || l == "inf" || l == "+inf") return std::string("inf");
  if (l == "-infinity" || l == "-inf") return std::string("-inf");
  bool negative = false;
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  std::string digits;
  long long exponent = 0;
  bool any = false;
  while (i < s.size() && isDigit(s[i])) {
    digits.push_back(s[i++]);
    any = true;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && isDigit(s[i])) {
      digits.push_back(s[i++]);
      --exponent;
      any = true;
    }
  }
  if (!any) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool expNegative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) expNegative = s[i++] == '-';
    long long e = 0;
    std::size_t start = i;
    while (i < s.size() && isDigit(s[i])) {
      if (i - start > 9) return std::nullopt;
      e = e * 10 + (s[i++] - '0');
    }
    if (i == start) return std::nullopt;
    exponent += expNegative ? -e : e;
  }
  if (i != s.size()) return std::nullopt;
  std::size_t lead = digits.find_first_not_of('0');
  if (lead == std::string::npos) return std::string("0");
  digits.erase(0, lead);
  while (!digits.empty() && digits.back() == '0') {
    digits.pop_back();
    ++exponent;
  }
  return (negative ? "-" : "") + digits + "e" + std::to_string(exponent);
}

template <class Float>
std::optional<std::string> canonicalFloat(std::string_view text) {
  std::string_view s = trim(text);
  std::string l = lowered(s);
  if (l == "nan") return std::string("nan");
  if (l == "infinity" || l == "+infinity" || l == "inf" || l == "+inf") return std::string("inf");
  if (l == "-infinity" || l == "-inf") return std::string("-inf");
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  Float value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (std::isnan(value)) return std::string("nan");
  if (value == Float(0)) return std::string("0");  // -0 equals 0
  char buffer[64];
  auto [out, ec2] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec2 != std::errc()) return std::nullopt;
  return std::string(buffer, out);
}

// ---- boolean ----

std::optional<std::string> canonicalBoolean(std::string_view text) {
  std::string l = lowered(trim(text));
  static constexpr std::string_view yes[] = {"t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"};
  static constexpr std::string_view no[] = {"f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"};
  for (auto v : yes) {
    if (l == v) return std::string("t");
  }
  for (auto v : no) {
    if (l == v) return std::string("f");
  }
  return std::nullopt;
}

// ---- uuid ----

std::optional<std::string> canonicalUuid(std::string_view text) {
  std::string_view s = trim(text);
  if (!s.empty() && s.front() == '{') {
    if (s.back() != '}') return std::nullopt;
    s = s.substr(1, s.size() - 2);
  }
  std::string hex;
  for (char c : s) {
    if (c == '-') continue;
    c = lower(c);
    if (!(isDigit(c) || (c >= 'a' && c <= 'f'))) return std::nullopt;
    hex.push_back(c);
  }
  if (hex.size() != 32) return std::nullopt;
  return hex;
}

// ---- dates and times ----

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
long long daysFromCivil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  bool take(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  // 1..maxDigits digits.
  std::optional<long long> number(std::size_t minDigits, std::size_t maxDigits) {
    std::size_t start = i_;
    long long v = 0;
    while (!done() && isDigit(s_[i_]) && i_ - start < maxDigits) v = v * 10 + (s_[i_++] - '0');
    if (i_ - start < minDigits) return std::nullopt;
    return v;
  }
  std::string_view rest() const { return s_.substr(std::min(i_, s_.size())); }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

struct Date {
  long long days = 0;
};

std::optional<Date> parseDate(Cursor& c) {
  auto y = c.number(4, 6);
  if (!y || !c.take('-')) return std::nullopt;
  auto m = c.number(1, 2);
  if (!m || !c.take('-')) return std::nullopt;
  auto d = c.number(1, 2);
  if (!d || *m < 1 || *m > 12 || *d < 1 || *d > 31) return std::nullopt;
  return Date{daysFromCivil(*y, static_cast<unsigned>(*m), static_cast<unsigned>(*d))};
}

// HH:MM[:SS[.fraction]] as microseconds of the day (fraction rounded to microseconds).
std::optional<long long> parseTime(Cursor& c) {
  auto h = c.number(1, 2);
  if (!h || !c.take(':')) return std::nullopt;
  auto mi = c.number(2, 2);
  if (!mi) return std::nullopt;
  long long sec = 0;
  long long micros = 0;
  if (c.take(':')) {
    auto s = c.number(2, 2);
    if (!s) return std::nullopt;
    sec = *s;
    if (c.take('.')) {
      long long scale = 100000;
      bool any = false;
      int roundDigit = -1;
      while (!c.done() && isDigit(c.peek())) {
        int digit = c.peek() - '0';
        if (scale >= 1) {
          micros += digit * scale;
          scale /= 10;
        } else if (roundDigit < 0) {
          roundDigit = digit;
        }
        c.take(c.peek());
        any = true;
      }
      if (!any) return std::nullopt;
      if (roundDigit >= 5) ++micros;
    }
  }
  if (*h > 24 || *mi > 59 || sec > 60) return std::nullopt;
  return ((*h * 60 + *mi) * 60 + sec) * 1000000 + micros;
}

// Z, UTC, +HH, +HH:MM, +HHMM, +HH:MM:SS as seconds east of UTC; nullopt when absent or unreadable
// (@p present tells which).
std::optional<long long> parseOffset(Cursor& c, bool& present) {
  present = false;
  while (c.take(' ')) {
  }
  if (c.done()) return std::nullopt;
  present = true;
  std::string l = lowered(c.rest());
  if (l == "z" || l == "utc" || l == "gmt") return 0;
  char sign = c.peek();
  if (sign != '+' && sign != '-') return std::nullopt;
  c.take(sign);
  auto h = c.number(2, 2);
  if (!h) return std::nullopt;
  long long m = 0;
  long long s = 0;
  if (c.take(':')) {
    auto mm = c.number(2, 2);
    if (!mm) return std::nullopt;
    m = *mm;
    if (c.take(':')) {
      auto ss = c.number(2, 2);
      if (!ss) return std::nullopt;
      s = *ss;
    }
  } else if (isDigit(c.peek())) {
    auto mm = c.number(2, 2);
    if (!mm) return std::nullopt;
    m = *mm;
  }
  if (!c.done()) return std::nullopt;
  long long total = (*h * 60 + m) * 60 + s;
  return sign == '-' ? -total : total;
}

// A timestamp as microseconds: of the instant (withZone) or of the written fields (without).
std::optional<std::string> canonicalTimestamp(std::string_view text, bool withZone) {
  std::string_view s = trim(text);
  std::string l = lowered(s);
  if (l == "infinity" || l == "+infinity") return std::string("inf");
  if (l == "-infinity") return std::string("-inf");
  Cursor c(s);
  auto date = parseDate(c);
  if (!date) return std::nullopt;
  long long micros = 0;
  if (c.take('T') || c.take('t') || c.take(' ')) {
    auto t = parseTime(c);
    if (!t) return std::nullopt;
    micros = *t;
  }
  bool present = false;
  auto offset = parseOffset(c, present);
  if (present && !offset) return std::nullopt;
  long long value = date->days * 86400LL * 1000000LL + micros;
  if (withZone) {
    if (!offset) return std::nullopt;  // read in the session's time zone, which the client does not know
    value -= *offset * 1000000LL;
  }
  return std::to_string(value);
}

std::optional<std::string> canonicalDate(std::string_view text) {
  std::string_view s = trim(text);
  Cursor c(s);
  auto date = parseDate(c);
  if (!date || !c.done()) return std::nullopt;
  return std::to_string(date->days);
}

std::optional<std::string> canonicalTime(std::string_view text) {
  Cursor c(trim(text));
  auto t = parseTime(c);
  if (!t || !c.done()) return std::nullopt;
  return std::to_string(*t);
}

}  // namespace

KeyType keyTypeOf(std::string_view format) noexcept {
  if (format == "text" || format == "character varying" || format == "name") return KeyType::Exact;
  if (format == "character" || format == "bpchar") return KeyType::Blank;
  if (format == "citext") return KeyType::CaseInsensitive;
  if (format == "uuid") return KeyType::Uuid;
  if (format == "smallint" || format == "integer" || format == "bigint") return KeyType::Integer;
  if (format == "numeric") return KeyType::Numeric;
  if (format == "real") return KeyType::Real;
  if (format == "double precision") return KeyType::Double;
  if (format == "boolean") return KeyType::Boolean;
  if (format == "timestamp with time zone") return KeyType::Timestamptz;
  if (format == "timestamp without time zone") return KeyType::Timestamp;
  if (format == "date") return KeyType::Date;
  if (format == "time without time zone") return KeyType::Time;
  return KeyType::Unknown;
}

std::optional<std::string> canonicalValue(KeyType type, std::string_view text) {
  switch (type) {
    case KeyType::Exact:
      return std::string(text);
    case KeyType::Blank: {
      std::string_view s = text;
      while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
      return std::string(s);
    }
    case KeyType::CaseInsensitive:
      return lowered(text);
    case KeyType::Uuid:
      return canonicalUuid(text);
    case KeyType::Integer:
    case KeyType::Numeric:
      return canonicalDecimal(text);
    case KeyType::Real:
      return canonicalFloat<float>(text);
    case KeyType::Double:
      return canonicalFloat<double>(text);
    case KeyType::Boolean:
      return canonicalBoolean(text);
    case KeyType::Timestamptz:
      return canonicalTimestamp(text, true);
    case KeyType::Timestamp:
      return canonicalTimestamp(text, false);
    case KeyType::Date:
      return canonicalDate(text);
    case KeyType::Time:
      return canonicalTime(text);
    case KeyType::Unknown:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace pgrestify::detail
