// SPDX-License-Identifier: MIT
// The retry policy pieces: classify(), Retry-After, backoffDelay(), locateRow().
#include "retry.hpp"
#include "fake_transport.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

using namespace pgrestify;
using namespace pgrestify::test;
using detail::Decision;
using namespace std::chrono_literals;

namespace {

Decision classifyResponse(const HttpResponse& r, bool idempotent, RetryPolicy policy = {}) {
  return detail::classify(r, detail::errorInfo(r), idempotent, policy);
}

std::string name(Decision d) {
  switch (d) {
    case Decision::Retry:
      return "Retry";
    case Decision::RetryUnknown:
      return "RetryUnknown";
    case Decision::RetryConflict:
      return "RetryConflict";
    case Decision::IsolateColumn:
      return "IsolateColumn";
    case Decision::Split:
      return "Split";
    case Decision::Isolate:
      return "Isolate";
    case Decision::Fail:
      return "Fail";
    case Decision::FailUnknown:
      return "FailUnknown";
    case Decision::Reauthorize:
      return "Reauthorize";
  }
  return "?";
}

struct Case {
  const char* label;
  HttpResponse response;
  Decision nonIdempotent;
  Decision idempotent;
};

}  // namespace

TEST(Classify, Matrix) {
  const std::vector<Case> cases = {
      // not executed: always retried
      {"connect", transportFailure(TransportErrorKind::Connect, false), Decision::Retry, Decision::Retry},
      {"connect (bodySent ignored)", transportFailure(TransportErrorKind::Connect, true), Decision::Retry,
       Decision::Retry},
      {"reset before body sent", transportFailure(TransportErrorKind::Reset, false), Decision::Retry, Decision::Retry},
      {"timeout before body sent", transportFailure(TransportErrorKind::Timeout, false), Decision::Retry,
       Decision::Retry},
      {"send error", transportFailure(TransportErrorKind::Send, false), Decision::Retry, Decision::Retry},
      {"503 PGRST000", pgError(503, "PGRST000", "Database connection error", {}, {{"Retry-After", "1"}}),
       Decision::Retry, Decision::Retry},
      {"503 PGRST001", pgError(503, "PGRST001"), Decision::Retry, Decision::Retry},
      {"503 PGRST002", pgError(503, "PGRST002"), Decision::Retry, Decision::Retry},
      {"503 08006", pgError(503, "08006"), Decision::Retry, Decision::Retry},
      {"503 53300", pgError(503, "53300"), Decision::Retry, Decision::Retry},
      {"503 empty body", status(503), Decision::Retry, Decision::Retry},
      {"504 PGRST003", pgError(504, "PGRST003"), Decision::Retry, Decision::Retry},
      {"429", status(429, "Too Many Requests"), Decision::Retry, Decision::Retry},
      // rolled back because of another writer: retried on their own budget, never isolated
      {"500 40001", pgError(500, "40001"), Decision::RetryConflict, Decision::RetryConflict},
      {"500 40P01", pgError(500, "40P01", "deadlock detected"), Decision::RetryConflict, Decision::RetryConflict},
      // maybe executed: only idempotent writes are sent again
      {"timeout after body sent", transportFailure(TransportErrorKind::Timeout, true), Decision::FailUnknown,
       Decision::RetryUnknown},
      {"reset after body sent", transportFailure(TransportErrorKind::Reset, true), Decision::FailUnknown,
       Decision::RetryUnknown},
      {"502 html", status(502, "<html>Bad Gateway</html>"), Decision::FailUnknown, Decision::RetryUnknown},
      {"504 from a proxy", status(504, "<html>Gateway Timeout</html>"), Decision::FailUnknown, Decision::RetryUnknown},
      // PostgREST 12.0.2 when the database connection breaks mid-statement (PostgreSQL restarting)
      {"400 lost db connection", status(400, R"({"code":"","details":null,"hint":null,"message":""})"),
       Decision::FailUnknown, Decision::RetryUnknown},
      // too big / too slow: split
      {"413", status(413, "Payload Too Large"), Decision::Split, Decision::Split},
      {"414", status(414), Decision::Split, Decision::Split},
      {"500 57014", pgError(500, "57014", "canceling statement due to statement timeout"), Decision::Split,
       Decision::Split},
      // data errors: isolate
      {"409 23505", pgError(409, "23505"), Decision::Isolate, Decision::Isolate},
      {"409 23503", pgError(409, "23503"), Decision::Isolate, Decision::Isolate},
      {"400 23502", pgError(400, "23502"), Decision::Isolate, Decision::Isolate},
      {"400 23514", pgError(400, "23514"), Decision::Isolate, Decision::Isolate},
      {"400 22P02", pgError(400, "22P02"), Decision::Isolate, Decision::Isolate},
      {"400 21000", pgError(400, "21000"), Decision::Isolate, Decision::Isolate},
      {"400 PGRST102", pgError(400, "PGRST102"), Decision::Isolate, Decision::Isolate},
      // raised by user code in the database (triggers, functions): depends on the row
      {"400 P0001", pgError(400, "P0001", "row 7 rejected"), Decision::Isolate, Decision::Isolate},
      {"500 P0001", pgError(500, "P0001"), Decision::Isolate, Decision::Isolate},
      {"500 P0002", pgError(500, "P0002"), Decision::Isolate, Decision::Isolate},
      {"500 P0003", pgError(500, "P0003"), Decision::Isolate, Decision::Isolate},
      {"500 P0004", pgError(500, "P0004", "assertion failed"), Decision::Isolate, Decision::Isolate},
      {"400 44000 view check option", pgError(400, "44000", "new row violates check option for view \"v\""),
       Decision::Isolate, Decision::Isolate},
      // row-level security WITH CHECK: depends on the row
      {"403 42501 RLS", pgError(403, "42501", "new row violates row-level security policy for table \"t\""),
       Decision::Isolate, Decision::Isolate},
      {"401 42501 RLS",
       pgError(401, "42501", "new row violates row-level security policy (USING expression) for table \"t\""),
       Decision::Isolate, Decision::Isolate},
      // a column the rows carry is refused: the rows carrying it fail together
      {"400 PGRST204", pgError(400, "PGRST204", "Column 'bogus' of relation 't' does not exist"),
       Decision::IsolateColumn, Decision::IsolateColumn},
      {"400 428C9", pgError(400, "428C9", "cannot insert a non-DEFAULT value into column \"id\""),
       Decision::IsolateColumn, Decision::IsolateColumn},
      // final
      {"500 XX000", pgError(500, "XX000"), Decision::Fail, Decision::Fail},
      {"401 42501", pgError(401, "42501"), Decision::Fail, Decision::Fail},
      {"403 42501", pgError(403, "42501"), Decision::Fail, Decision::Fail},
      {"403 42501 grant", pgError(403, "42501", "permission denied for table t"), Decision::Fail, Decision::Fail},
      {"400 42703", pgError(400, "42703", "column \"x\" does not exist"), Decision::Fail, Decision::Fail},
      {"401 PGRST301", pgError(401, "PGRST301", "JWT expired"), Decision::Reauthorize, Decision::Reauthorize},
      {"404 {}", status(404, "{}"), Decision::Fail, Decision::Fail},
      {"404 42P01", pgError(404, "42P01"), Decision::Fail, Decision::Fail},
      {"400 42P10", pgError(400, "42P10"), Decision::Fail, Decision::Fail},
      {"400 PGRST100", pgError(400, "PGRST100"), Decision::Fail, Decision::Fail},
      {"400 plain Bad Request", status(400, "Bad Request"), Decision::Fail, Decision::Fail},
      {"400 {}", status(400, "{}"), Decision::Fail, Decision::Fail},
      {"400 empty message, real code", status(400, R"({"code":"PGRST100","message":""})"), Decision::Fail,
       Decision::Fail},
      {"404 empty code and message", status(404, R"({"code":"","message":""})"), Decision::Fail, Decision::Fail},
      {"other transport failure (TLS)", transportFailure(TransportErrorKind::Other, false), Decision::Fail,
       Decision::Fail},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(name(classifyResponse(c.response, false)), name(c.nonIdempotent)) << c.label << " (not idempotent)";
    EXPECT_EQ(name(classifyResponse(c.response, true)), name(c.idempotent)) << c.label << " (idempotent)";
  }
}

TEST(Classify, UnknownOutcomeRetryCanBeTurnedOff) {
  RetryPolicy noUnknown;
  noUnknown.retryUnknownOutcome = false;
  EXPECT_EQ(classifyResponse(transportFailure(TransportErrorKind::Timeout, true), true, noUnknown),
            Decision::FailUnknown);
  EXPECT_EQ(classifyResponse(status(502), true, noUnknown), Decision::FailUnknown);
  // Not-executed failures are still retried.
  EXPECT_EQ(classifyResponse(pgError(503, "PGRST000"), true, noUnknown), Decision::Retry);
}

TEST(RetryAfter, DeltaSeconds) {
  EXPECT_EQ(detail::parseRetryAfter("1"), std::optional<std::chrono::milliseconds>(1000ms));
  EXPECT_EQ(detail::parseRetryAfter(" 2 "), std::optional<std::chrono::milliseconds>(2000ms));
  EXPECT_EQ(detail::parseRetryAfter("0"), std::optional<std::chrono::milliseconds>(0ms));
  EXPECT_EQ(detail::parseRetryAfter(""), std::nullopt);
  EXPECT_EQ(detail::parseRetryAfter("abc"), std::nullopt);
  EXPECT_EQ(detail::parseRetryAfter("-1"), std::nullopt);
  EXPECT_EQ(detail::parseRetryAfter("1.5"), std::nullopt);
  // Absurd values are bounded (no overflow).
  auto huge = detail::parseRetryAfter("99999999999999");
  ASSERT_TRUE(huge.has_value());
  EXPECT_GT(huge->count(), 0);
}

TEST(RetryAfter, HttpDate) {
  using namespace std::chrono;
  const sys_seconds now = sys_days{year{2015} / October / 21} + 7h + 27min + 30s;
  EXPECT_EQ(detail::parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now), std::optional<milliseconds>(30000ms));
  EXPECT_EQ(detail::parseRetryAfter("Thu, 22 Oct 2015 07:27:30 GMT", now), std::optional<milliseconds>(24h));
  EXPECT_EQ(detail::parseRetryAfter(" Wed, 21 Oct 2015 07:28:00 GMT\r", now), std::optional<milliseconds>(30000ms));
  // In the past: retry at once. Far in the future: bounded like delta-seconds.
  EXPECT_EQ(detail::parseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", now), std::optional<milliseconds>(0ms));
  EXPECT_EQ(detail::parseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now), std::optional<milliseconds>(24h));
  // Not IMF-fixdate: ignored (the engine then uses its own backoff).
  for (const char* bad :
       {"Wednesday, 21-Oct-15 07:28:00 GMT", "Wed Oct 21 07:28:00 2015", "Wed, 21 Oct 2015 07:28:00 UTC",
        "Wed, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Foo 2015 07:28:00 GMT", "Xyz, 21 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 24:00:00 GMT", "Wed, 2x Oct 2015 07:28:00 GMT"}) {
    EXPECT_EQ(detail::parseRetryAfter(bad, now), std::nullopt) << bad;
  }
}

TEST(Backoff, ExponentialCapAndJitterBounds) {
  RetryPolicy p;
  p.initialBackoff = 100ms;
  p.maxBackoff = 1000ms;
  p.multiplier = 2.0;
  // The upper end of the random range gives the cap of each retry.
  EXPECT_EQ(detail::backoffDelay(p, 1, std::nullopt, 1.0), 100ms);
  EXPECT_EQ(detail::backoffDelay(p, 2, std::nullopt, 1.0), 200ms);
  EXPECT_EQ(detail::backoffDelay(p, 3, std::nullopt, 1.0), 400ms);
  EXPECT_EQ(detail::backoffDelay(p, 4, std::nullopt, 1.0), 800ms);
  EXPECT_EQ(detail::backoffDelay(p, 5, std::nullopt, 1.0), 1000ms);    // capped
  EXPECT_EQ(detail::backoffDelay(p, 500, std::nullopt, 1.0), 1000ms);  // no overflow
  // Full jitter: uniform in [0, cap].
  EXPECT_EQ(detail::backoffDelay(p, 3, std::nullopt, 0.0), 0ms);
  EXPECT_EQ(detail::backoffDelay(p, 3, std::nullopt, 0.5), 200ms);
  for (double r : {0.0, 0.1, 0.37, 0.5, 0.99, 0.999999}) {
    for (int retry = 1; retry <= 10; ++retry) {
      auto d = detail::backoffDelay(p, retry, std::nullopt, r);
      EXPECT_GE(d, 0ms);
      EXPECT_LE(d, 1000ms);
    }
  }
  // Out-of-range random input is clamped.
  EXPECT_EQ(detail::backoffDelay(p, 1, std::nullopt, 7.0), 100ms);
  EXPECT_EQ(detail::backoffDelay(p, 1, std::nullopt, -1.0), 0ms);
}

TEST(Backoff, RetryAfterIsALowerBoundCappedByMaxRetryAfter) {
  RetryPolicy p;
  p.initialBackoff = 100ms;
  p.maxBackoff = 1000ms;
  p.maxRetryAfter = 5000ms;
  EXPECT_EQ(detail::backoffDelay(p, 1, 2000ms, 0.0), 2000ms);
  EXPECT_EQ(detail::backoffDelay(p, 1, 2000ms, 1.0), 2000ms);
  EXPECT_EQ(detail::backoffDelay(p, 5, 10ms, 1.0), 1000ms);  // the backoff is longer anyway
  EXPECT_EQ(detail::backoffDelay(p, 1, 3600000ms, 0.0), 5000ms);
}

TEST(LocateRow, SingleColumnPicksTheLastMatchingRow) {
  ErrorInfo info;
  info.code = "23505";
  info.details = "Key (email)=(b@x.io) already exists.";
  std::vector<nlohmann::json> rows = {
      {{"email", "a@x.io"}}, {{"email", "b@x.io"}}, {{"email", "c@x.io"}}, {{"email", "b@x.io"}}};
  EXPECT_EQ(detail::locateRow(info, rows), std::optional<std::size_t>(3));
  rows.pop_back();
  EXPECT_EQ(detail::locateRow(info, rows), std::optional<std::size_t>(1));
}

TEST(LocateRow, CompositeAndQuotedColumns) {
  ErrorInfo info;
  info.details = "Key (warehouse, \"SKU\")=(w1, s 2) already exists.";
  std::vector<nlohmann::json> rows = {{{"warehouse", "w1"}, {"SKU", "s 1"}},
                                      {{"warehouse", "w1"}, {"SKU", "s 2"}},
                                      {{"warehouse", "w2"}, {"SKU", "s 2"}}};
  EXPECT_EQ(detail::locateRow(info, rows), std::optional<std::size_t>(1));
}

TEST(LocateRow, ForeignKeyAndNumbers) {
  ErrorInfo info;
  info.details = "Key (user_id)=(7) is not present in table \"users\".";
  std::vector<nlohmann::json> rows = {{{"user_id", 6}}, {{"user_id", 7}}, {{"user_id", 8}}};
  EXPECT_EQ(detail::locateRow(info, rows), std::optional<std::size_t>(1));
  info.details = "Key (id)=(2) is still referenced from table \"posts\".";
  std::vector<nlohmann::json> keys = {{{"id", "1"}}, {{"id", "2"}}};
  EXPECT_EQ(detail::locateRow(info, keys), std::optional<std::size_t>(1));
}

TEST(LocateRow, NothingUsable) {
  ErrorInfo info;
  std::vector<nlohmann::json> rows = {{{"email", "a"}}, nlohmann::json(5), {{"name", nullptr}}};
  info.details = "Failing row contains (7, null, 1, null).";
  EXPECT_EQ(detail::locateRow(info, rows), std::nullopt);
  info.details = "";
  EXPECT_EQ(detail::locateRow(info, rows), std::nullopt);
  info.details = "Key (email)=(zzz) already exists.";
  EXPECT_EQ(detail::locateRow(info, rows), std::nullopt);
  info.details = "Key (email)=(a";  // truncated
  EXPECT_EQ(detail::locateRow(info, rows), std::nullopt);
}

TEST(RefusedColumn, NamesTheColumnOfBothPostgrestWordingsAndOf428C9) {
  auto column = [](const std::string& code, const std::string& message) {
    ErrorInfo info;
    info.code = code;
    info.message = message;
    return detail::refusedColumn(info);
  };
  EXPECT_EQ(column("PGRST204", "Column 'bogus' of relation 'items' does not exist"), "bogus");
  EXPECT_EQ(column("PGRST204", "Column ' qty' of relation 'items' does not exist"), " qty");
  EXPECT_EQ(column("PGRST204", "Column 'it's' of relation 'it's' of relation 'x' does not exist"),
            "it's' of relation 'it's");  // ambiguous names: the longest reading (the row check decides)
  EXPECT_EQ(column("PGRST204", "Could not find the 'bogus' column of 'items' in the schema cache"), "bogus");
  EXPECT_EQ(column("428C9", "cannot insert a non-DEFAULT value into column \"id\""), "id");
  EXPECT_EQ(column("428C9", "column \"id\" can only be updated to DEFAULT"), "id");
  EXPECT_EQ(column("PGRST204", "something else"), std::nullopt);
  EXPECT_EQ(column("PGRST204", "Column '' of relation 'items' does not exist"), std::nullopt);
  EXPECT_EQ(column("23505", "Column 'bogus' of relation 'items' does not exist"), std::nullopt);
}

TEST(ConflictDelay, ShortGrowingAndCapped) {
  RetryPolicy p;
  EXPECT_EQ(detail::conflictDelay(p, 1, 0.0), 1ms);
  EXPECT_EQ(detail::conflictDelay(p, 1, 1.0), 10ms);
  EXPECT_EQ(detail::conflictDelay(p, 3, 1.0), 40ms);
  EXPECT_EQ(detail::conflictDelay(p, 50, 1.0), 500ms);
  p.maxBackoff = 20ms;
  EXPECT_EQ(detail::conflictDelay(p, 50, 1.0), 20ms);
}
