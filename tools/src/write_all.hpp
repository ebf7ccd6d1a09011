// SPDX-License-Identifier: MIT
// Writing a whole buffer to a file descriptor, through short writes and EINTR (the reject file,
// the --resume state file).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string_view>

namespace pgrestify::cli {

/// Writes all of @p bytes to @p fd; false when a write fails (errno says why).
inline bool writeAll(int fd, std::string_view bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace pgrestify::cli
