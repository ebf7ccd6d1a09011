// SPDX-License-Identifier: MIT
#include "error_info.hpp"

#include <pgrestify/error.hpp>
#include <pgrestify/transport.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace pgrestify {

const char* toString(TransportErrorKind kind) noexcept {
  switch (kind) {
    case TransportErrorKind::None:
      return "none";
    case TransportErrorKind::Connect:
      return "connect";
    case TransportErrorKind::Timeout:
      return "timeout";
    case TransportErrorKind::Reset:
      return "reset";
    case TransportErrorKind::Send:
      return "send";
    case TransportErrorKind::Other:
      return "other";
  }
  return "other";
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string stringField(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string describe(const ErrorInfo& info) {
  if (!info.isHttp()) {
    return fmt::format("pgrestify: transport error ({}): {}", toString(info.transport), info.message);
  }
  std::string what = fmt::format("pgrestify: HTTP {}", info.status);
  if (!info.code.empty()) what += fmt::format(" [{}]", info.code);
  if (!info.message.empty()) what += fmt::format(": {}", info.message);
  if (!info.details.empty()) what += fmt::format(" (details: {})", info.details);
  if (!info.hint.empty()) what += fmt::format(" (hint: {})", info.hint);
  return what;
}

}  // namespace

ErrorInfo parseErrorBody(int status, std::string_view body) {
  ErrorInfo info;
  info.status = status;
  auto text = trim(body);
  if (!text.empty() && text.front() == '{') {
    auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      info.code = stringField(j, "code");
      info.message = stringField(j, "message");
      info.details = stringField(j, "details");
      info.hint = stringField(j, "hint");
      if (detail::lostDatabaseConnection(status, text)) {
        info.message =
            "PostgREST lost its database connection while running the request (HTTP 400 with empty "
            "code and message); the database may or may not have committed it";
      } else if (info.message.empty() && info.code.empty()) {
        // PostgREST 12 answers `{}` for POST/PATCH to an unknown table (404).
        info.message = status == 404 ? "Not Found (the table or view does not exist, or is not exposed)"
                                     : fmt::format("HTTP {} with an empty error object", status);
      }
      return info;
    }
  }
  if (!text.empty()) {
    // Plain text (Warp's "Bad Request" for an over-long URL) or HTML from a proxy: keep a bounded copy.
    constexpr std::size_t kMax = 512;
    std::size_t cut = std::min(kMax, text.size());
    // Do not cut a UTF-8 sequence in half (the message may end up in JSON or a terminal).
    while (cut < text.size() && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    info.message = std::string(text.substr(0, cut));
    if (cut < text.size()) info.message += "...";
  } else {
    info.message = fmt::format("HTTP {} with an empty body", status);
  }
  return info;
}

Error::Error(ErrorInfo info) : std::runtime_error(describe(info)), info_(std::move(info)) {}
Error::Error(ErrorInfo info, const std::string& what) : std::runtime_error(what), info_(std::move(info)) {}

void throwError(const ErrorInfo& info) {
  if (!info.isHttp()) throw TransportError(info);
  throw Error(info);
}

namespace detail {

namespace {

bool isJsonObject(std::string_view body) {
  auto text = trim(body);
  if (text.empty() || text.front() != '{') return false;
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false).is_object();
}

// The text of an error page: every tag replaced by a space (never removed, so that text a tag
// splits is not joined: redaction ran on the raw body), whitespace collapsed, bounded.
std::string pageText(std::string_view body) {
  std::string out;
  bool inTag = false, space = false;
  for (char c : body) {
    if (inTag) {
      if (c == '>') {
        inTag = false;
        space = true;
      }
      continue;
    }
    if (c == '<') {
      inTag = true;
      space = true;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  constexpr std::size_t kMax = 200;
  if (out.size() > kMax) {
    std::size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out += "...";
  }
  return out;
}

bool isHtml(const HttpResponse& response) {
  std::string type(response.header("Content-Type").value_or(""));
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  if (type.find("html") != std::string::npos) return true;
  auto text = trim(response.body);
  return !text.empty() && text.front() == '<';
}

}  // namespace

ErrorInfo errorInfo(const HttpResponse& response) {
  if (response.transportFailed()) {
    ErrorInfo info;
    info.transport = response.error;
    info.message = response.errorMessage;
    info.bodySent = response.bodySent;
    return info;
  }
  ErrorInfo info = parseErrorBody(response.status, response.body);
  // PostgREST answers every error with a JSON object (and Warp a plain-text 400/414). A 502, 503,
  // 504 or 520-524 that is not a JSON object, or any HTML page, comes from a proxy or load
  // balancer in front of it (HAProxy, nginx, a CDN): the message says so, and what it means.
  const int st = response.status;
  const bool gateway = st == 502 || st == 503 || st == 504 || (st >= 520 && st <= 524);
  if (isJsonObject(response.body) || !(gateway || isHtml(response))) return info;
  std::string meaning;
  if (st == 503) {
    meaning = "; no server behind it took the request, so it was not run";
  } else if (gateway) {
    meaning = "; it lost PostgREST's answer, so the request may or may not have been run";
  }
  std::string text = pageText(response.body);
  info.message = fmt::format("HTTP {} from a proxy or load balancer, not PostgREST's own error{}{}{}", st, meaning,
                             text.empty() ? "" : ": ", text);
  return info;
}

// PostgREST 12.0.2 answers `400 {"code":"","details":null,"hint":null,"message":""}` when the
// database connection breaks while a statement runs (seen while PostgreSQL restarts): libpq's
// error carries no SQLSTATE, and PostgREST maps unknown codes to 400. Every real PostgreSQL or
// PostgREST error has a code, so an error object whose code and message are both present and
// empty is this case.
bool lostDatabaseConnection(int status, std::string_view body) {
  if (status != 400) return false;
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  auto code = j.find("code");
  auto message = j.find("message");
  return code != j.end() && message != j.end() && code->is_string() && message->is_string() &&
         code->get_ref<const std::string&>().empty() && message->get_ref<const std::string&>().empty();
}

}  // namespace detail

}  // namespace pgrestify
