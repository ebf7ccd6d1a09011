// SPDX-License-Identifier: MIT
// Fuzz target: pgrestify::parseErrorBody (any server answer) and the Error built from it.
// Properties: never throws; keeps the status; always has a message; a body that is not a JSON
// object keeps a bounded copy; Error::what() names the status.
// Input: two bytes of status, then the body.
#include "fuzz_check.hpp"

#include <pgrestify/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int status = 400;
  if (size >= 2) {
    status = 100 + (data[0] * 256 + data[1]) % 500;
    data += 2;
    size -= 2;
  }
  std::string_view body(reinterpret_cast<const char*>(data), size);
  pgrestify::ErrorInfo info;
  try {
    info = pgrestify::parseErrorBody(status, body);
  } catch (...) {
    FUZZ_CHECK(!"parseErrorBody threw");
  }
  FUZZ_CHECK(info.status == status);
  FUZZ_CHECK(info.isHttp());
  FUZZ_CHECK(!info.message.empty() || !info.code.empty());
  if (info.code.empty() && info.details.empty() && info.hint.empty()) FUZZ_CHECK(info.message.size() <= 4 * size + 64);
  std::size_t first = body.find_first_not_of(" \t\r\n\f\v");
  if (first == std::string_view::npos || body[first] != '{') FUZZ_CHECK(info.message.size() <= 512 + 3);
  try {
    pgrestify::Error e(info);
    std::string what = e.what();
    FUZZ_CHECK(what.find("HTTP " + std::to_string(status)) != std::string::npos);
  } catch (...) {
    FUZZ_CHECK(!"Error(info) threw");
  }
  return 0;
}
