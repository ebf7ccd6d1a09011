// SPDX-License-Identifier: MIT
// Fuzz target: filter values and `in.(...)` lists. Properties:
//   - percentDecode(percentEncode(s)) == s, and percentEncode emits only unreserved bytes and %XX;
//   - pgrestify::in(values) parses back, with PostgREST 12's quoted-value grammar, to the values;
//   - buildQuery() of hostile keys and values gives exactly those parameters after decoding.
// Input: values separated by 0x01 bytes; a value starting with 0x02 is used as a number when it
// parses as one.
#include "fuzz_check.hpp"
#include "postgrest_grammar.hpp"

#include <pgrestify/detail/encode.hpp>
#include <pgrestify/filter.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

bool unreservedOrPercent(std::string_view e) {
  for (std::size_t i = 0; i < e.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(e[i]);
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_' || c == '~';
    if (ok) continue;
    if (c != '%' || i + 2 >= e.size() + 0 || !std::isxdigit(static_cast<unsigned char>(e[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(e[i + 2]))) {
      return false;
    }
    i += 2;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using pgrestify::detail::percentDecode;
  using pgrestify::detail::percentEncode;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  std::vector<std::string> texts;
  std::vector<nlohmann::json> values;
  std::vector<std::string> expected;  // what PostgreSQL must see for each list element
  std::size_t start = 0;
  for (;;) {
    auto sep = input.find('\x01', start);
    std::string s(input.substr(start, sep == std::string_view::npos ? std::string_view::npos : sep - start));
    if (!s.empty() && s.front() == '\x02') {
      s.erase(0, 1);
      char* end = nullptr;
      long long n = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && end == s.c_str() + s.size() && std::to_string(n) == s) {
        values.emplace_back(n);
        expected.push_back(std::to_string(n));
      } else {
        values.emplace_back(s);
        expected.push_back(s);
      }
    } else {
      values.emplace_back(s);
      expected.push_back(s);
    }
    texts.push_back(s);
    if (sep == std::string_view::npos) break;
    start = sep + 1;
  }

  for (const auto& s : texts) {
    std::string e = percentEncode(s);
    FUZZ_CHECK(unreservedOrPercent(e));
    FUZZ_CHECK(percentDecode(e) == s);
  }

  // The detail encoder's list parses back to the values with the quoted-value grammar.
  std::string list = pgrestify::detail::inList(values);
  auto parsed = pgrestify::fuzz::parseInList(list);
  FUZZ_CHECK(parsed.has_value());
  FUZZ_CHECK(*parsed == expected);
  // The public in() means, for PostgREST 12, exactly the set of values. PostgREST reads `in.("")`
  // as an EMPTY list, so a list of one empty string must be spelled differently.
  std::string pub = pgrestify::in(values).value();
  FUZZ_CHECK(pub.rfind("in.", 0) == 0);
  auto pubParsed = pgrestify::fuzz::parseInList(std::string_view(pub).substr(3));
  FUZZ_CHECK(pubParsed.has_value());
  FUZZ_CHECK(pub != "in.(\"\")");
  std::vector<std::string> a = *pubParsed, b = expected;
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  FUZZ_CHECK(a == b);

  // eq.<value>: the value travels verbatim.
  FUZZ_CHECK(pgrestify::eq(texts.front()).value() == "eq." + texts.front());

  // A query of hostile keys and values: exactly these parameters after decoding.
  std::vector<std::pair<std::string, std::string>> params;
  for (std::size_t i = 0; i < texts.size(); ++i) params.emplace_back(texts[i], i % 2 ? "in." + list : texts[i]);
  std::string query = pgrestify::detail::buildQuery(params);
  std::vector<std::pair<std::string, std::string>> back;
  std::size_t pos = 0;
  for (;;) {
    auto amp = query.find('&', pos);
    std::string part = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    auto eq = part.find('=');
    FUZZ_CHECK(eq != std::string::npos);
    FUZZ_CHECK(part.find('=', eq + 1) == std::string::npos);
    FUZZ_CHECK(part.find('#') == std::string::npos && part.find('+') == std::string::npos);
    back.emplace_back(percentDecode(part.substr(0, eq)), percentDecode(part.substr(eq + 1)));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  FUZZ_CHECK(back == params);
  return 0;
}
