// SPDX-License-Identifier: MIT
// Failure classification, backoff and error-to-row location for the bulk engine.
#include "retry.hpp"

#include <pgrestify/detail/encode.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace pgrestify::detail {

namespace {

bool startsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// Errors caused by the data of some row(s): splitting the request separates good rows from bad.
bool isDataError(const ErrorInfo& info) {
  const auto& c = info.code;
  if (startsWith(c, "22") || startsWith(c, "23") || startsWith(c, "21")) return true;
  // Raised by user code in the database (triggers, functions): RAISE EXCEPTION (P0001),
  // no_data_found / too_many_rows (P0002, P0003), ASSERT (P0004). They depend on the row.
  if (c == "P0001" || c == "P0002" || c == "P0003" || c == "P0004") return true;
  // A view's WITH CHECK OPTION refused the new row.
  if (c == "44000") return true;
  // 42501 is a row-level-security WITH CHECK violation ("new row violates row-level security
  // policy ...") when it names the policy; a grant-level "permission denied for table ..."
  // concerns every row and is final.
  if (c == "42501") return info.message.find("row-level security") != std::string::npos;
  // PGRST102: invalid body / keys.
  return c == "PGRST102";
}

// Text between @p open and the LAST @p close after it, when @p message starts with @p lead.
std::optional<std::string> between(const std::string& message, std::string_view lead, std::string_view close) {
  if (!startsWith(message, lead)) return std::nullopt;
  auto end = message.rfind(close);
  if (end == std::string::npos || end < lead.size()) return std::nullopt;
  return message.substr(lead.size(), end - lead.size());
}

}  // namespace

Decision classify(const HttpResponse& response, const ErrorInfo& info, bool idempotent, const RetryPolicy& policy) {
  const bool unknownRetryAllowed = idempotent && policy.retryUnknownOutcome;
  if (response.transportFailed()) {
    // Connect failures and failures before the whole body was sent were not executed (PostgREST
    // reads the whole body before it starts a transaction): safe to send again. `Other` (TLS, bad
    // URL...) is not transient; sending again cannot help.
    if (response.error == TransportErrorKind::Connect) return Decision::Retry;
    if (!response.bodySent) return response.error == TransportErrorKind::Other ? Decision::Fail : Decision::Retry;
    return unknownRetryAllowed ? Decision::RetryUnknown : Decision::FailUnknown;
  }
  const int status = response.status;
  const auto& code = info.code;
  // The JWT expired (or is invalid): PostgREST refused the request before running it. With a
  // token provider the engine sends it once more with a fresh token; without, it is final.
  if (status == 401 && code == "PGRST301") return Decision::Reauthorize;
  if (status == 503 || status == 429) return Decision::Retry;       // PGRST000-002, 08*, 53*: not executed
  if (status == 504 && code == "PGRST003") return Decision::Retry;  // no pool connection: not executed
  // Deadlock or serialization failure: rolled back, caused by another writer, not by the rows.
  if (status == 500 && (code == "40001" || code == "40P01")) return Decision::RetryConflict;
  // Too large (body 413, request line 414, headers 431) or statement timeout: not executed or
  // rolled back; smaller requests may pass.
  if (status == 413 || status == 414 || status == 431 || code == "57014") return Decision::Split;
  if (status == 502 || status == 504 || (status >= 520 && status <= 524) ||
      (code.empty() && lostDatabaseConnection(status, response.body))) {
    // A proxy lost the upstream answer, or PostgREST lost the database connection while the
    // statement ran: the database may or may not have committed.
    return unknownRetryAllowed ? Decision::RetryUnknown : Decision::FailUnknown;
  }
  // A key that is not a column, or a value for a GENERATED ALWAYS column: caused by the rows that
  // carry that column, whatever their values.
  if (code == "PGRST204" || code == "428C9") return Decision::IsolateColumn;
  if (isDataError(info)) return Decision::Isolate;
  return Decision::Fail;
}

std::optional<std::string> refusedColumn(const ErrorInfo& info) {
  const std::string& m = info.message;
  std::optional<std::string> column;
  if (info.code == "PGRST204") {
    column = between(m, "Column '", "' of relation '");                         // 12.0.2
    if (!column) column = between(m, "Could not find the '", "' column of '");  // 12.0.3+
  } else if (info.code == "428C9") {
    column = between(m, "cannot insert a non-DEFAULT value into column \"", "\"");
    if (!column) column = between(m, "column \"", "\" can only be updated to DEFAULT");
  }
  if (column && column->empty()) column.reset();
  return column;
}

namespace {

constexpr long long kMaxRetryAfterSeconds = 24 * 3600;  // bounds absurd values (no overflow)

// An unsigned decimal of exactly @p digits digits at @p pos.
std::optional<int> digitsAt(std::string_view s, std::size_t pos, std::size_t digits) {
  if (pos + digits > s.size()) return std::nullopt;
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data() + pos, s.data() + pos + digits, v);
  if (ec != std::errc() || ptr != s.data() + pos + digits) return std::nullopt;
  return v;
}

// RFC 9110 IMF-fixdate, the form servers must send: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<std::chrono::sys_seconds> parseImfFixdate(std::string_view s) {
  static constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // 0123456789012345678901234567 8
  // Sun, 06 Nov 1994 08:49:37 GMT
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
      s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  if (std::find(std::begin(kDays), std::end(kDays), s.substr(0, 3)) == std::end(kDays)) return std::nullopt;
  auto month = std::find(std::begin(kMonths), std::end(kMonths), s.substr(8, 3));
  if (month == std::end(kMonths)) return std::nullopt;
  auto day = digitsAt(s, 5, 2), year = digitsAt(s, 12, 4), hour = digitsAt(s, 17, 2), minute = digitsAt(s, 20, 2),
       second = digitsAt(s, 23, 2);
  if (!day || !year || !hour || !minute || !second || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year{*year},
                                         std::chrono::month{static_cast<unsigned>(month - std::begin(kMonths) + 1)},
                                         std::chrono::day{static_cast<unsigned>(*day)}};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days{date} + std::chrono::hours{*hour} + std::chrono::minutes{*minute} +
         std::chrono::seconds{*second};
}

}  // namespace

std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value,
                                                         std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  long long seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && ptr == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    return std::chrono::milliseconds(std::min(seconds, kMaxRetryAfterSeconds) * 1000);
  }
  auto at = parseImfFixdate(value);
  if (!at) return std::nullopt;  // RFC 850 and asctime dates (obsolete) are not read
  // In seconds: system_clock counts nanoseconds, which cannot span the years a date may name.
  const long long delta = (*at - std::chrono::time_point_cast<std::chrono::seconds>(now)).count();
  return std::chrono::milliseconds(std::clamp(delta, 0LL, kMaxRetryAfterSeconds) * 1000);
}

std::chrono::milliseconds backoffDelay(const RetryPolicy& policy, int retry,
                                       std::optional<std::chrono::milliseconds> retryAfter, double random01) {
  double cap = static_cast<double>(policy.initialBackoff.count()) *
               std::pow(std::max(1.0, policy.multiplier), std::max(0, retry - 1));
  cap = std::min(cap, static_cast<double>(policy.maxBackoff.count()));
  random01 = std::clamp(random01, 0.0, 1.0);
  auto delay = std::chrono::milliseconds(static_cast<long long>(cap * random01));
  if (retryAfter) delay = std::max(delay, std::min(*retryAfter, policy.maxRetryAfter));
  return delay;
}

std::chrono::milliseconds conflictDelay(const RetryPolicy& policy, int retry, double random01) {
  const double growth = std::pow(2.0, std::clamp(retry - 1, 0, 16));
  double cap = std::min({10.0 * growth, 500.0, static_cast<double>(policy.maxBackoff.count())});
  random01 = std::clamp(random01, 0.0, 1.0);
  return std::chrono::milliseconds(std::max(1LL, static_cast<long long>(cap * random01)));
}

std::optional<std::size_t> locateRow(const ErrorInfo& info, const std::vector<nlohmann::json>& rows) {
  // "Key (a, b)=(1, x) already exists." / "Key (user_id)=(7) is not present in table \"users\"."
  const std::string& d = info.details;
  if (!startsWith(d, "Key (")) return std::nullopt;
  auto colsEnd = d.find(")=(");
  if (colsEnd == std::string::npos) return std::nullopt;
  std::string cols = d.substr(5, colsEnd - 5);
  auto valuesStart = colsEnd + 3;
  std::size_t valuesEnd = std::string::npos;
  for (const char* tail : {") already exists", ") is not present", ") is still referenced", ") conflicts"}) {
    auto p = d.find(tail, valuesStart);
    if (p != std::string::npos) {
      valuesEnd = p;
      break;
    }
  }
  if (valuesEnd == std::string::npos) return std::nullopt;
  std::string values = d.substr(valuesStart, valuesEnd - valuesStart);

  std::vector<std::string> names;
  std::size_t start = 0;
  for (;;) {
    auto comma = cols.find(", ", start);
    std::string name = cols.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
    names.push_back(std::move(name));
    if (comma == std::string::npos) break;
    start = comma + 2;
  }

  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    if (!row.is_object()) continue;
    std::string text;
    bool complete = true;
    for (std::size_t k = 0; k < names.size(); ++k) {
      auto it = row.find(names[k]);
      if (it == row.end() || it->is_null()) {
        complete = false;
        break;
      }
      if (k) text += ", ";
      text += scalarText(*it);
    }
    if (complete && text == values) found = i;
  }
  return found;
}

}  // namespace pgrestify::detail
