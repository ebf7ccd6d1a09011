// SPDX-License-Identifier: MIT
#include <pgrestify/pgrestify.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

using namespace pgrestify;
using nlohmann::json;

TEST(Encode, PercentEncodeKeepsUnreservedAndEncodesPlus) {
  EXPECT_EQ(detail::percentEncode("a-b_c.d~"), "a-b_c.d~");
  EXPECT_EQ(detail::percentEncode("a+b c"), "a%2Bb%20c");
  EXPECT_EQ(detail::percentDecode(detail::percentEncode("ü,()\"\\%&=#\r\n")), "ü,()\"\\%&=#\r\n");
}

TEST(Encode, PercentEncodeReservedAndUnicode) {
  EXPECT_EQ(detail::percentEncode(""), "");
  EXPECT_EQ(detail::percentEncode("ü"), "%C3%BC");
  EXPECT_EQ(detail::percentEncode("€"), "%E2%82%AC");
  EXPECT_EQ(detail::percentEncode("a,b(c)\"d\""), "a%2Cb%28c%29%22d%22");
  EXPECT_EQ(detail::percentEncode("&=#?/%"), "%26%3D%23%3F%2F%25");
  std::string nul("a\0b", 3);
  EXPECT_EQ(detail::percentEncode(nul), "a%00b");
}

TEST(Encode, PercentDecodeLeavesMalformedEscapes) {
  EXPECT_EQ(detail::percentDecode("%41%2b%2B"), "A++");
  EXPECT_EQ(detail::percentDecode("%G1"), "%G1");
  EXPECT_EQ(detail::percentDecode("50%"), "50%");
  EXPECT_EQ(detail::percentDecode("%4"), "%4");
  EXPECT_EQ(detail::percentDecode("a+b"), "a+b");  // `+` is not a space here
}

TEST(Encode, QuoteIdentifier) {
  EXPECT_EQ(detail::quoteIdentifier("id"), "id");
  EXPECT_EQ(detail::quoteIdentifier("user_id$2"), "user_id$2");
  EXPECT_EQ(detail::quoteIdentifier("first name"), "\"first name\"");
  EXPECT_EQ(detail::quoteIdentifier("größe"), "\"größe\"");
  EXPECT_EQ(detail::quoteIdentifier("a,b"), "\"a,b\"");
  EXPECT_EQ(detail::quoteIdentifier("a.b"), "\"a.b\"");
  EXPECT_THROW(detail::quoteIdentifier(""), std::invalid_argument);
  // PostgREST 12 reads `\x` inside a quoted name as `x` (issue #13 point 11: names with `"` were refused).
  EXPECT_EQ(detail::quoteIdentifier("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(detail::quoteIdentifier("b\\s"), "\"b\\\\s\"");
  EXPECT_NO_THROW(detail::checkIdentifier("q\"uote", "column name"));
  EXPECT_THROW(detail::quoteIdentifier("a\nb"), std::invalid_argument);
  EXPECT_THROW(detail::quoteIdentifier(std::string("a\0b", 3)), std::invalid_argument);
  EXPECT_EQ(detail::joinIdentifiers({"id", "first name", "email"}), "id,\"first name\",email");
  EXPECT_EQ(detail::joinIdentifiers({}), "");
}

TEST(Encode, ListElementQuotesAndEscapes) {
  EXPECT_EQ(detail::listElement(1), "1");
  EXPECT_EQ(detail::listElement(-7), "-7");
  EXPECT_EQ(detail::listElement(1.5), "1.5");
  EXPECT_EQ(detail::listElement(true), "true");
  EXPECT_EQ(detail::listElement("abc"), "\"abc\"");
  EXPECT_EQ(detail::listElement("a,b"), "\"a,b\"");
  EXPECT_EQ(detail::listElement("p(x)"), "\"p(x)\"");
  EXPECT_EQ(detail::listElement("q\"x"), "\"q\\\"x\"");
  EXPECT_EQ(detail::listElement("b\\x"), "\"b\\\\x\"");
  EXPECT_EQ(detail::listElement(""), "\"\"");
  EXPECT_EQ(detail::listElement("ü"), "\"ü\"");
  EXPECT_EQ(detail::listElement("123"), "\"123\"");  // a string stays a string
}

TEST(Encode, ListElementRefusesNull) {
  // PostgREST reads null (quoted or not) in a list as the text 'null' (issue #13 point 4).
  EXPECT_THROW(detail::listElement(nullptr), std::invalid_argument);
  EXPECT_THROW(detail::inList({json(1), json(nullptr)}), std::invalid_argument);
  EXPECT_EQ(detail::listElement("null"), "\"null\"");  // the text 'null' is a value like any other
}

TEST(Encode, InList) {
  EXPECT_EQ(detail::inList({}), "()");
  EXPECT_EQ(detail::inList({json(1), json("a,b"), json(""), json("q\"x\\")}), "(1,\"a,b\",\"\",\"q\\\"x\\\\\")");
}

TEST(Encode, BuildQueryEncodesKeysAndValues) {
  EXPECT_EQ(detail::buildQuery({}), "");
  EXPECT_EQ(detail::buildQuery({{"columns", "a,\"b c\""}, {"id", "in.(1,2)"}}),
            "columns=a%2C%22b%20c%22&id=in.%281%2C2%29");
  EXPECT_EQ(detail::buildQuery({{"email", "eq.a+b@x.io"}}), "email=eq.a%2Bb%40x.io");
  EXPECT_EQ(detail::buildQuery({{"a&b", "c=d"}}), "a%26b=c%3Dd");
}

TEST(Encode, ScalarText) {
  EXPECT_EQ(detail::scalarText("x y"), "x y");
  EXPECT_EQ(detail::scalarText(42), "42");
  EXPECT_EQ(detail::scalarText(false), "false");
  EXPECT_EQ(detail::scalarText(nullptr), "null");
}

TEST(Encode, CheckHeaderRejectsInjection) {
  EXPECT_NO_THROW(detail::checkHeader("X-Ok", "value with spaces"));
  EXPECT_THROW(detail::checkHeader("X-A", "v\r\nX-Injected: 1"), std::invalid_argument);
  EXPECT_THROW(detail::checkHeader("X-A", "v\nw"), std::invalid_argument);
  EXPECT_THROW(detail::checkHeader("X-A", "v\rw"), std::invalid_argument);
  EXPECT_THROW(detail::checkHeader("X-A", std::string("v\0w", 3)), std::invalid_argument);
  EXPECT_THROW(detail::checkHeader("X-A\r\nB", "v"), std::invalid_argument);
  EXPECT_THROW(detail::checkHeader("X:A", "v"), std::invalid_argument);
  EXPECT_THROW(detail::checkHeader("", "v"), std::invalid_argument);
}

// A malformed header never prints its value (issue #13 point 7): "Authorization Bearer <jwt>"
// without a colon is a name with spaces.
TEST(Encode, HeaderMessagesNeverQuoteTheValueOrAMalformedName) {
  const std::string jwt = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoid2ViX3VzZXIifQ.c2lnbmF0dXJl";
  auto messageOf = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no exception";
  };
  for (const std::string& name :
       {"Authorization Bearer " + jwt, "Authorization\t" + jwt, "X-" + jwt + ":", "Authorization=" + jwt + "\r\n"}) {
    auto m = messageOf([&] { detail::checkHeader(name, ""); });
    EXPECT_NE(m, "no exception");
    EXPECT_EQ(m.find(jwt), std::string::npos) << m;
    EXPECT_EQ(m.find("eyJ"), std::string::npos) << m;
  }
  for (const std::string& value : {"Bearer " + jwt + "\r\nX-Evil: 1", jwt + "\n", std::string("\x01") + jwt}) {
    auto m = messageOf([&] { detail::checkHeader("Authorization", value); });
    EXPECT_NE(m, "no exception");
    EXPECT_EQ(m.find(jwt), std::string::npos) << m;
    EXPECT_NE(m.find("'Authorization'"), std::string::npos) << m;
  }
  // A credential pasted as a (valid token) name is not quoted either.
  auto m = messageOf([&] { detail::checkHeader(jwt, "v\n"); });
  EXPECT_EQ(m.find(jwt), std::string::npos) << m;
  EXPECT_NO_THROW(detail::checkHeader("X-Ok", "tab\tis allowed"));
}

TEST(Encode, OwnedHeadersAreRefusedNamingTheOption) {
  for (const char* name : {"Prefer", "prefer", "Content-Type", "Accept", "Content-Length", "Transfer-Encoding", "Host",
                           "Accept-Profile", "content-profile", "Range", "X-HTTP-Method-Override"}) {
    EXPECT_THROW(detail::checkUserHeader(name, "x"), std::invalid_argument) << name;
  }
  try {
    detail::checkUserHeader("Content-Profile", "other");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ClientOptions::schema"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(detail::checkUserHeader("Authorization", "Bearer x"));
  EXPECT_NO_THROW(detail::checkUserHeader("X-Tenant", "acme"));
  EXPECT_NO_THROW(detail::checkUserHeader("apikey", "k"));
}

TEST(Encode, UrlsWithUserInfoAreRefusedWithoutQuotingThem) {
  const std::string pw = "s3cretPassw0rd";
  for (const std::string& url : {"http://user:" + pw + "@db.example:3000", "https://" + pw + "@db.example/",
                                 "http://user:" + pw + "@db.example/api?x=1"}) {
    try {
      detail::checkUrl(url, "ClientOptions::url", true);
      ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find(pw), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("user info"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(detail::checkUrl("http://db.example:3000/api", "u", true));
  EXPECT_NO_THROW(detail::checkUrl("http://db.example:3000/t?email=eq.a@b.c", "u", false));  // '@' in the query
  EXPECT_THROW(detail::checkUrl("http://db.example:3000/?apikey=x", "u", true), std::invalid_argument);
  EXPECT_THROW(detail::checkUrl("ftp://db.example", "u", true), std::invalid_argument);
  EXPECT_THROW(detail::checkUrl("http://", "u", true), std::invalid_argument);
}

TEST(Encode, ContentRangeTotal) {
  EXPECT_EQ(detail::contentRangeTotal("0-9/10"), 10);
  EXPECT_EQ(detail::contentRangeTotal("*/42"), 42);
  EXPECT_EQ(detail::contentRangeTotal("*/0"), 0);
  EXPECT_EQ(detail::contentRangeTotal("0-2/3\r"), 3);
  EXPECT_EQ(detail::contentRangeTotal("*/*"), -1);
  EXPECT_EQ(detail::contentRangeTotal("0-2/*"), -1);
  EXPECT_EQ(detail::contentRangeTotal(""), -1);
  EXPECT_EQ(detail::contentRangeTotal("garbage"), -1);
  EXPECT_EQ(detail::contentRangeTotal("0-9/ten"), -1);
  EXPECT_EQ(detail::contentRangeTotal("0-9/10x"), -1);
  EXPECT_EQ(detail::contentRangeTotal("*/-5"), -1);
  EXPECT_EQ(detail::contentRangeTotal("*/"), -1);
  EXPECT_EQ(detail::contentRangeTotal("*/99999999999999999999999"), -1);  // overflow
}
