// SPDX-License-Identifier: MIT
#include "models.hpp"
#include "test_env.hpp"

namespace pgrestify::test {
namespace {
class SmokeBulk : public IntegrationTest {};

TEST_F(SmokeBulk, TenThousandUsersInBatchesOfHundred) {
  std::vector<User> users;
  for (int i = 0; i < 10000; ++i) users.push_back({.name = "u" + std::to_string(i), .email = "u" + std::to_string(i) + "@x.io"});
  auto r = client_->from<User>("users").bulkInsert(users, {.batchSize = 100});
  EXPECT_EQ(r.successful, 10000u);
  EXPECT_EQ(r.requests, 100u);
  EXPECT_EQ(counting_->count("POST"), 100u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 10000);
}

TEST_F(SmokeBulk, DuplicatesIsolated) {
  std::vector<nlohmann::json> rows;
  std::vector<std::size_t> dups{5, 100, 250, 499, 500, 777, 999};
  for (int i = 0; i < 1000; ++i) rows.push_back({{"name", "n"}, {"email", "e" + std::to_string(i)}});
  for (auto d : dups) rows[d]["email"] = "e" + std::to_string(d - 3);
  auto r = client_->from("users").bulkInsert(rows, {.batchSize = 100, .conflictColumns = {"email"}});
  EXPECT_EQ(r.successful, 993u);
  ASSERT_EQ(r.errors.size(), 7u);
  for (std::size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(r.errors[i].indexes, std::vector<std::size_t>{dups[i]});
    EXPECT_EQ(r.errors[i].code, "23505");
  }
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 993);
  std::cout << "requests " << r.requests << "\n";
}
}  // namespace
}  // namespace pgrestify::test
