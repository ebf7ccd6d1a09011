// SPDX-License-Identifier: MIT
#include "token_command.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace pgrestify::cli {

TokenProvider tokenCommandProvider(std::string command) {
  return [command = std::move(command)]() -> std::string {
    std::fflush(nullptr);
    FILE* pipe = ::popen(command.c_str(), "r");  // /bin/sh -c command
    if (!pipe) throw std::runtime_error("--token-command could not be run");
    std::string out;
    std::array<char, 4096> buffer{};
    while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) {
      out.append(buffer.data(), n);
      if (out.size() > (1u << 20)) break;  // a token is not a megabyte
    }
    const int status = ::pclose(pipe);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::string how = status != -1 && WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                                          : std::string("did not exit normally");
      throw std::runtime_error("--token-command " + how + " (its output is not shown)");
    }
    const auto* space = " \t\r\n";
    auto first = out.find_first_not_of(space);
    if (first == std::string::npos) throw std::runtime_error("--token-command printed no token");
    out = out.substr(first, out.find_last_not_of(space) - first + 1);
    if (out.find_first_of("\r\n") != std::string::npos || out.find('\0') != std::string::npos) {
      throw std::runtime_error("--token-command printed more than one line (its output is not shown)");
    }
    return out;
  };
}

}  // namespace pgrestify::cli
