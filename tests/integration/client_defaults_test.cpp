// SPDX-License-Identifier: MIT
// Client-wide bulk defaults (ClientOptions::bulkDefaults) against the real PostgREST: they apply
// to the query builder's and the repository's bulk calls, a call's own value overrides them, and
// invalid defaults are refused when the client is created.
#include "models.hpp"
#include "test_env.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace pgrestify::test {
namespace {

class ClientDefaults : public IntegrationTest {
 protected:
  static std::vector<User> makeUsers(int n, const std::string& prefix) {
    std::vector<User> users;
    for (int i = 0; i < n; ++i) {
      users.push_back({.name = prefix + std::to_string(i), .email = prefix + std::to_string(i) + "@x.io"});
    }
    return users;
  }
};

TEST_F(ClientDefaults, BatchSizeAppliesToBuilderAndRepositoryAndACallOverridesIt) {
  auto client = makeClient({.bulkDefaults = {.batchSize = 2, .concurrency = 1}});
  auto users = client.from<User>("users");

  auto r = users.bulkInsert(makeUsers(5, "a"));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.successful, 5u);
  EXPECT_EQ(r.batches, 3u);
  EXPECT_EQ(counting_->count("POST"), 3u);

  auto r2 = users.bulkInsert(makeUsers(5, "b"), {.batchSize = 5});
  EXPECT_EQ(r2.successful, 5u);
  EXPECT_EQ(r2.batches, 1u);
  EXPECT_EQ(counting_->count("POST"), 4u);

  auto inserted = client.getRepository<User>("users").bulkInsert(makeUsers(5, "c"));
  EXPECT_EQ(inserted.size(), 5u);
  EXPECT_EQ(counting_->count("POST"), 7u);  // the repository resolves the same defaults

  std::vector<long long> ids;
  for (const auto& u : inserted) ids.push_back(*u.id);
  auto d = users.bulkDelete(ids);
  EXPECT_EQ(d.successful, 5u);
  EXPECT_EQ(counting_->count("DELETE"), 3u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 10);
  EXPECT_EQ(sqlCount("select count(*) from api.users where email like 'c%'"), 0);
}

TEST_F(ClientDefaults, RetryDefaultAppliesAndACallOverridesIt) {
  // A table that does not exist: 404 PGRST205 is final, never retried, whatever the policy; a
  // duplicate is final too. What a retry default changes is visible on a server that is down.
  auto down = makeClient({.url = "http://127.0.0.1:9",
                          .bulkDefaults = {.retry = {.maxAttempts = 2,
                                                     .initialBackoff = std::chrono::milliseconds(1),
                                                     .maxBackoff = std::chrono::milliseconds(2),
                                                     .retryBudget = std::chrono::milliseconds(0)}}});
  auto rows = makeUsers(1, "d");
  auto r = down.from<User>("users").bulkInsert(rows);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::Transport);
  EXPECT_EQ(r.errors[0].attempts, 2);
  auto r2 = down.from<User>("users").bulkInsert(rows, {.retry = {.maxAttempts = 3}});
  ASSERT_EQ(r2.errors.size(), 1u);
  EXPECT_EQ(r2.errors[0].attempts, 3);  // the call's maxAttempts, the client's (zero) retryBudget
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 0);
}

TEST_F(ClientDefaults, InvalidDefaultsThrowAtClientCreationBeforeAnyRequest) {
  EXPECT_THROW(makeClient({.bulkDefaults = {.batchSize = 0}}), std::invalid_argument);
  EXPECT_THROW(makeClient({.bulkDefaults = {.concurrency = 0}}), std::invalid_argument);
  EXPECT_THROW(makeClient({.bulkDefaults = {.retry = {.maxAttempts = 0}}}), std::invalid_argument);
  EXPECT_EQ(counting_->count("POST") + counting_->count("GET"), 0u);
}

}  // namespace
}  // namespace pgrestify::test
