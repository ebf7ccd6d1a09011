// SPDX-License-Identifier: MIT
#include <pgrestify/pgrestify.hpp>

#include <gtest/gtest.h>

using namespace pgrestify;

TEST(Encode, PercentEncodeKeepsUnreservedAndEncodesPlus) {
  EXPECT_EQ(detail::percentEncode("a-b_c.d~"), "a-b_c.d~");
  EXPECT_EQ(detail::percentEncode("a+b c"), "a%2Bb%20c");
  EXPECT_EQ(detail::percentDecode(detail::percentEncode("ü,()\"\\%&=#\r\n")), "ü,()\"\\%&=#\r\n");
}
