// SPDX-License-Identifier: MIT
// --token-command: a token provider that runs a shell command (docs/cli.md).
#pragma once

#include <pgrestify/client_options.hpp>

#include <string>

namespace pgrestify::cli {

/// A token provider that runs @p command with /bin/sh -c and returns its standard output without
/// leading and trailing white space. Throws std::runtime_error when the command cannot be run,
/// exits with a status other than 0, or prints nothing; the message never quotes its output.
TokenProvider tokenCommandProvider(std::string command);

}  // namespace pgrestify::cli
