// SPDX-License-Identifier: MIT
// The transport-independent parts of include/pgrestify/transport.hpp.
#include <pgrestify/transport.hpp>

#include <algorithm>
#include <cctype>

namespace pgrestify {

std::optional<std::string_view> findHeader(const Headers& headers, std::string_view name) noexcept {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

HttpResponse Transport::send(HttpRequest request) {
  auto session = openSession();
  session->start(0, std::move(request));
  for (;;) {
    auto done = session->poll(std::chrono::milliseconds(1000));
    if (!done.empty()) return std::move(done.front().second);
  }
}

}  // namespace pgrestify
