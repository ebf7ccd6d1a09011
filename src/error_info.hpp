// SPDX-License-Identifier: MIT
// Reading PostgREST's error answers (src/error.cpp). Internal: not installed.
#pragma once

#include <pgrestify/error.hpp>
#include <pgrestify/transport.hpp>

#include <string_view>

namespace pgrestify::detail {

/// The error fields for a failed response (parses the body, or describes the transport failure).
ErrorInfo errorInfo(const HttpResponse& response);

/// PostgREST's answer when its database connection broke while the statement ran: 400 with an
/// error object whose `code` and `message` are empty strings. Unknown outcome.
bool lostDatabaseConnection(int status, std::string_view body);

}  // namespace pgrestify::detail
