// SPDX-License-Identifier: MIT
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace pgrestify {

/// How a request failed before any HTTP answer was read.
enum class TransportErrorKind {
  None,     ///< not a transport failure
  Connect,  ///< could not connect or resolve: the request was never sent (always safe to retry)
  Timeout,  ///< the client gave up waiting (the server may still commit the request)
  Reset,    ///< the connection was reset or closed without an answer
  Send,     ///< the request could not be written completely
  Other,    ///< any other client-side failure (TLS, malformed URL...)
};

/// Returns a stable, lower-case name for @p kind ("connect", "timeout"...).
const char* toString(TransportErrorKind kind) noexcept;

/// The fields of a PostgREST error body: `{"code", "message", "details", "hint"}`.
struct ErrorInfo {
  int status = 0;       ///< HTTP status, 0 for transport failures
  std::string code;     ///< PostgREST / SQLSTATE code: "23505", "PGRST204"... (may be empty)
  std::string message;  ///< PostgREST's message, or the plain-text body when it was not JSON
  std::string details;  ///< PostgREST's details ("Key (email)=(a@b) already exists.")
  std::string hint;     ///< PostgREST's hint
  TransportErrorKind transport = TransportErrorKind::None;
  bool bodySent = false;  ///< transport failures only: the whole request body had been sent

  /// True when the server answered (HTTP error); false for transport failures.
  bool isHttp() const noexcept { return transport == TransportErrorKind::None; }
};

/// Parses an error answer (status + body) into ErrorInfo. Never throws: a body that is not the
/// JSON error object (the plain-text `400 Bad Request` for an over-long URL, the `{}` PostgREST
/// sends for an unknown table on POST, an HTML page from a proxy) keeps the trimmed text as
/// `message`, or a message made from the status when the body says nothing.
ErrorInfo parseErrorBody(int status, std::string_view body);

/// The exception thrown by the simple calls (`find`, `insert`, `save`, repository methods) when
/// the server answers with a non-2xx status or the request cannot be sent.
/// Bulk operations do not throw it for row or batch failures: they report them in BulkResult.
class Error : public std::runtime_error {
 public:
  explicit Error(ErrorInfo info);
  Error(ErrorInfo info, const std::string& what);

  int status() const noexcept { return info_.status; }
  const std::string& code() const noexcept { return info_.code; }
  const std::string& message() const noexcept { return info_.message; }
  const std::string& details() const noexcept { return info_.details; }
  const std::string& hint() const noexcept { return info_.hint; }
  /// The transport failure, or TransportErrorKind::None when the server answered.
  TransportErrorKind transportKind() const noexcept { return info_.transport; }
  /// True when the request failed before an HTTP answer (connection refused, timeout, reset).
  bool isTransport() const noexcept { return !info_.isHttp(); }
  const ErrorInfo& info() const noexcept { return info_; }

 private:
  ErrorInfo info_;
};

/// Thrown for transport failures; a subclass so callers can catch either.
class TransportError : public Error {
 public:
  using Error::Error;
};

/// Throws TransportError or Error for @p info (never returns).
[[noreturn]] void throwError(const ErrorInfo& info);

}  // namespace pgrestify
