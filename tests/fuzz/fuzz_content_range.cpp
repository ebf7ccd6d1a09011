// SPDX-License-Identifier: MIT
// Fuzz target: detail::contentRangeTotal against a reference: the text after the last '/', with
// trailing spaces/CR removed, is the total when it is a decimal number that fits a long long;
// anything else (absent, `*`, signs, garbage, overflow) gives -1.
#include "fuzz_check.hpp"

#include <pgrestify/detail/encode.hpp>

#include <cstdint>
#include <limits>
#include <string_view>

namespace {

long long reference(std::string_view h) {
  auto slash = h.rfind('/');
  if (slash == std::string_view::npos) return -1;
  auto t = h.substr(slash + 1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\r')) t.remove_suffix(1);
  if (t.empty()) return -1;
  long long n = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return -1;
    if (n > (std::numeric_limits<long long>::max() - (c - '0')) / 10) return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view h(reinterpret_cast<const char*>(data), size);
  FUZZ_CHECK(pgrestify::detail::contentRangeTotal(h) == reference(h));
  return 0;
}
