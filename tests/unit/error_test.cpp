// SPDX-License-Identifier: MIT
#include <pgrestify/pgrestify.hpp>

#include "retry.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace pgrestify;

TEST(ErrorBody, JsonFields) {
  auto info = parseErrorBody(409, R"({"code":"23505","details":"Key (email)=(a@b) already exists.","hint":null,)"
                                  R"("message":"duplicate key value violates unique constraint \"users_email_key\""})");
  EXPECT_EQ(info.status, 409);
  EXPECT_EQ(info.code, "23505");
  EXPECT_EQ(info.details, "Key (email)=(a@b) already exists.");
  EXPECT_EQ(info.hint, "");
  EXPECT_EQ(info.message, "duplicate key value violates unique constraint \"users_email_key\"");
  EXPECT_TRUE(info.isHttp());
}

TEST(ErrorBody, NonStringFieldsAreKeptAsText) {
  auto info = parseErrorBody(400, R"({"code":"PGRST100","message":"m","details":{"a":1},"hint":7})");
  EXPECT_EQ(info.code, "PGRST100");
  EXPECT_EQ(info.details, R"({"a":1})");
  EXPECT_EQ(info.hint, "7");
}

TEST(ErrorBody, PlainTextBadRequest) {
  auto info = parseErrorBody(400, "Bad Request");
  EXPECT_EQ(info.status, 400);
  EXPECT_EQ(info.code, "");
  EXPECT_EQ(info.message, "Bad Request");
}

TEST(ErrorBody, EmptyObjectFor404) {
  auto info = parseErrorBody(404, "{}");
  EXPECT_EQ(info.status, 404);
  EXPECT_EQ(info.code, "");
  EXPECT_NE(info.message.find("Not Found"), std::string::npos) << info.message;
  auto other = parseErrorBody(500, "{}");
  EXPECT_NE(other.message.find("500"), std::string::npos) << other.message;
}

// PostgREST 12.0.2's answer when the database connection breaks while a statement runs.
TEST(ErrorBody, LostDatabaseConnectionSaysSo) {
  auto info = parseErrorBody(400, R"({"code":"","details":null,"hint":null,"message":""})");
  EXPECT_EQ(info.status, 400);
  EXPECT_EQ(info.code, "");
  EXPECT_NE(info.message.find("lost its database connection"), std::string::npos) << info.message;
  EXPECT_TRUE(detail::lostDatabaseConnection(400, R"({"code":"","details":null,"hint":null,"message":""})"));
  EXPECT_FALSE(detail::lostDatabaseConnection(400, "{}"));
  EXPECT_FALSE(detail::lostDatabaseConnection(400, R"({"code":"22P02","message":""})"));
  EXPECT_FALSE(detail::lostDatabaseConnection(404, R"({"code":"","message":""})"));
  EXPECT_FALSE(detail::lostDatabaseConnection(400, "Bad Request"));
}

TEST(ErrorBody, HtmlFromAProxy) {
  std::string html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n";
  auto info = parseErrorBody(502, html);
  EXPECT_EQ(info.status, 502);
  EXPECT_EQ(info.code, "");
  EXPECT_EQ(info.message, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>");
}

TEST(ErrorBody, EmptyAndBlankBodies) {
  auto info = parseErrorBody(503, "");
  EXPECT_EQ(info.code, "");
  EXPECT_NE(info.message.find("503"), std::string::npos);
  EXPECT_NE(info.message.find("empty"), std::string::npos);
  EXPECT_EQ(parseErrorBody(503, " \r\n ").message, info.message);
}

TEST(ErrorBody, InvalidJsonKeepsText) {
  auto info = parseErrorBody(500, R"({"code":"XX000","message":)");
  EXPECT_EQ(info.code, "");
  EXPECT_EQ(info.message, R"({"code":"XX000","message":)");
  EXPECT_EQ(parseErrorBody(400, "[1,2]").message, "[1,2]");
  EXPECT_EQ(parseErrorBody(400, "null").message, "null");
}

TEST(ErrorBody, LongTextIsBoundedWithoutSplittingUtf8) {
  std::string body(511, 'a');
  body += "ü";  // bytes 511 and 512: a cut at 512 would split it
  body += std::string(100, 'b');
  auto info = parseErrorBody(502, body);
  EXPECT_LE(info.message.size(), 515u);
  EXPECT_EQ(info.message.substr(info.message.size() - 3), "...");
  // The message is valid UTF-8: nlohmann refuses to dump invalid UTF-8.
  EXPECT_NO_THROW((void)nlohmann::json(info.message).dump());
  EXPECT_EQ(info.message, std::string(511, 'a') + "...");
}

TEST(ErrorInfoOf, TransportFailure) {
  HttpResponse r;
  r.error = TransportErrorKind::Timeout;
  r.bodySent = true;
  r.errorMessage = "Operation timed out";
  auto info = detail::errorInfo(r);
  EXPECT_FALSE(info.isHttp());
  EXPECT_EQ(info.transport, TransportErrorKind::Timeout);
  EXPECT_TRUE(info.bodySent);
  EXPECT_EQ(info.status, 0);
  EXPECT_EQ(info.message, "Operation timed out");
}

TEST(ErrorInfoOf, HttpAnswer) {
  HttpResponse r;
  r.status = 503;
  r.body = R"({"code":"PGRST001","message":"Database client error. Retrying the connection."})";
  auto info = detail::errorInfo(r);
  EXPECT_TRUE(info.isHttp());
  EXPECT_EQ(info.status, 503);
  EXPECT_EQ(info.code, "PGRST001");
}

TEST(ErrorException, WhatAndTypes) {
  ErrorInfo info{409, "23505", "duplicate key", "Key (id)=(1) already exists.", "a hint", {}, false};
  Error e(info);
  std::string what = e.what();
  EXPECT_NE(what.find("409"), std::string::npos);
  EXPECT_NE(what.find("23505"), std::string::npos);
  EXPECT_NE(what.find("duplicate key"), std::string::npos);
  EXPECT_NE(what.find("Key (id)=(1)"), std::string::npos);
  EXPECT_NE(what.find("a hint"), std::string::npos);
  EXPECT_FALSE(e.isTransport());
  EXPECT_THROW(throwError(info), Error);

  ErrorInfo t;
  t.transport = TransportErrorKind::Connect;
  t.message = "Connection refused";
  try {
    throwError(t);
    FAIL() << "throwError returned";
  } catch (const TransportError& te) {
    EXPECT_TRUE(te.isTransport());
    EXPECT_EQ(te.transportKind(), TransportErrorKind::Connect);
    EXPECT_NE(std::string(te.what()).find("connect"), std::string::npos);
  }
}

TEST(ErrorException, KindNames) {
  EXPECT_STREQ(toString(TransportErrorKind::None), "none");
  EXPECT_STREQ(toString(TransportErrorKind::Connect), "connect");
  EXPECT_STREQ(toString(TransportErrorKind::Timeout), "timeout");
  EXPECT_STREQ(toString(TransportErrorKind::Reset), "reset");
  EXPECT_STREQ(toString(TransportErrorKind::Send), "send");
  EXPECT_STREQ(toString(TransportErrorKind::Other), "other");
}
