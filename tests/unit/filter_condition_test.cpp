// SPDX-License-Identifier: MIT
// The filter conditions of include/pgrestify/filter.hpp: the text PostgREST 12 receives.
#include <pgrestify/pgrestify.hpp>

#include <gtest/gtest.h>

using namespace pgrestify;

TEST(FilterCondition, ComparisonsTakeTheValueVerbatim) {
  EXPECT_EQ(eq("a,b(c)").value(), "eq.a,b(c)");
  EXPECT_EQ(neq(5).value(), "neq.5");
  EXPECT_EQ(gt(1.5).value(), "gt.1.5");
  EXPECT_EQ(lte(false).value(), "lte.false");
  EXPECT_EQ(eq("").value(), "eq.");
  EXPECT_EQ(like("a*b").value(), "like.a*b");
  EXPECT_EQ(is(nullptr).value(), "is.null");
  EXPECT_EQ(is(true).value(), "is.true");
  EXPECT_EQ(notOf(eq("x")).value(), "not.eq.x");
  EXPECT_EQ(notOf(notOf(eq("x"))).value(), "eq.x");
}

TEST(FilterCondition, InQuotesAndEscapesStrings) {
  EXPECT_EQ(in(std::vector<std::string>{"a,b", "q\"x", "b\\x", " sp "}).value(), R"(in.("a,b","q\"x","b\\x"," sp "))");
  EXPECT_EQ(in(std::vector<int>{1, 2}).value(), "in.(1,2)");
  EXPECT_EQ(in(std::vector<int>{}).value(), "in.()");
  // PostgREST 12 reads in.("") as an empty list.
  EXPECT_EQ(in(std::vector<std::string>{""}).value(), R"(in.("",""))");
  EXPECT_EQ(in(std::vector<std::string>{"", "a"}).value(), R"(in.("","a"))");
}

TEST(FilterCondition, NullAndReservedNames) {
  EXPECT_THROW(eq(nullptr), std::invalid_argument);
  EXPECT_THROW(lt(nlohmann::json()), std::invalid_argument);
  EXPECT_EQ(Condition(nullptr).value(), "is.null");
  EXPECT_EQ(Condition("x").value(), "eq.x");
  for (const char* name :
       {"select", "columns", "on_conflict", "order", "limit", "offset", "and", "or", "posts.limit", "not.or"}) {
    EXPECT_TRUE(detail::reservedParam(name)) << name;
  }
  for (const char* name : {"id", "orders", "posts.id", "selected", "order_id"})
    EXPECT_FALSE(detail::reservedParam(name)) << name;
  EXPECT_TRUE(detail::restrictsTable("id"));
  EXPECT_FALSE(detail::restrictsTable("posts.id"));
  // A dot inside a quoted name is part of the column's name (issue #13 point 11).
  EXPECT_TRUE(detail::restrictsTable("\"a.b\""));
  EXPECT_TRUE(detail::restrictsTable(R"("q\".x")"));
  EXPECT_FALSE(detail::restrictsTable("\"posts\".id"));
}

// Issue #13 point 4: PostgREST reads null in in.() as the text 'null'; a null element is refused,
// while the string "null" stays a text value in every operator.
TEST(FilterCondition, NullInAListIsRefusedAndTheTextNullIsText) {
  EXPECT_THROW(in(std::vector<nlohmann::json>{nullptr}), std::invalid_argument);
  EXPECT_THROW(in(std::vector<nlohmann::json>{"a", nullptr}), std::invalid_argument);
  EXPECT_THROW(notOf(in(std::vector<nlohmann::json>{1, nullptr})), std::invalid_argument);
  EXPECT_EQ(in(std::vector<std::string>{"null", "NULL"}).value(), R"(in.("null","NULL"))");
  EXPECT_EQ(eq("null").value(), "eq.null");  // PostgREST: eq.null compares with the text 'null'
  EXPECT_EQ(neq("NULL").value(), "neq.NULL");
  for (auto op : {eq<std::nullptr_t>, neq<std::nullptr_t>, gt<std::nullptr_t>, gte<std::nullptr_t>, lt<std::nullptr_t>,
                  lte<std::nullptr_t>}) {
    EXPECT_THROW(op(nullptr), std::invalid_argument);
  }
  EXPECT_EQ(Condition(nlohmann::json()).value(), "is.null");  // a bare null in a Where is SQL NULL
}

TEST(FilterCondition, QueryStringIsPercentEncoded) {
  // What the request line carries for a filter value with reserved characters.
  EXPECT_EQ(detail::buildQuery({{"key", in(std::vector<std::string>{"a+b", "%", "ü"}).value()}}),
            "key=in.%28%22a%2Bb%22%2C%22%25%22%2C%22%C3%BC%22%29");
}
