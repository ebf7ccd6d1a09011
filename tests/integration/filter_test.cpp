// SPDX-License-Identifier: MIT
// The filter builder against the real PostgREST 12.0.2: every operator, reads, value encoding
// (awkward and random strings round-trip through eq and in), and the guards of update()/remove().
#include "models.hpp"
#include "test_env.hpp"

#include <algorithm>
#include <random>
#include <set>

namespace pgrestify::test {
namespace {

class Filters : public IntegrationTest {
 protected:
  // Five users: ids 1..5, name n1..n5, role user/admin/guest, active alternating, last_login null for 5.
  void seedUsers() {
    sql("insert into api.users(name, email, role, active, last_login) values "
        "('n1', 'a@x.io', 'user',  true,  '2022-06-01'), "
        "('n2', 'b@x.io', 'admin', false, '2022-12-31'), "
        "('n3', 'c@x.io', 'guest', true,  '2023-01-01'), "
        "('n4', 'D@x.io', 'admin', false, '2023-06-01'), "
        "('n5', 'e@y.io', 'user',  false, null)");
  }

  static std::vector<long long> ids(const std::vector<User>& users) {
    std::vector<long long> out;
    for (const auto& u : users) out.push_back(u.id.value_or(-1));
    return out;
  }
  std::vector<long long> idsWhere(QueryBuilder<User> q) { return ids(q.order("id").find()); }
  QueryBuilder<User> users() { return client_->from<User>("users"); }
};

using Ids = std::vector<long long>;

TEST_F(Filters, ComparisonOperators) {
  seedUsers();
  EXPECT_EQ(idsWhere(users().eq("role", "admin")), (Ids{2, 4}));
  EXPECT_EQ(idsWhere(users().neq("role", "admin")), (Ids{1, 3, 5}));
  EXPECT_EQ(idsWhere(users().gt("id", 3)), (Ids{4, 5}));
  EXPECT_EQ(idsWhere(users().gte("id", 3)), (Ids{3, 4, 5}));
  EXPECT_EQ(idsWhere(users().lt("id", 3)), (Ids{1, 2}));
  EXPECT_EQ(idsWhere(users().lte("id", 3)), (Ids{1, 2, 3}));
  EXPECT_EQ(idsWhere(users().eq("active", false)), (Ids{2, 4, 5}));
  EXPECT_EQ(idsWhere(users().lt("last_login", "2023-01-01")), (Ids{1, 2}));
  // The seed's example: inactive users not seen since 2023.
  EXPECT_EQ(idsWhere(users().select("id,email").eq("active", false).lt("last_login", "2023-01-01")), (Ids{2}));
}

TEST_F(Filters, PatternNullInAndNot) {
  seedUsers();
  EXPECT_EQ(idsWhere(users().like("email", "*@x.io")), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(idsWhere(users().like("email", "%@y.io")), (Ids{5}));
  EXPECT_EQ(idsWhere(users().like("email", "d*")), (Ids{}));  // like is case-sensitive
  EXPECT_EQ(idsWhere(users().ilike("email", "d*")), (Ids{4}));
  EXPECT_EQ(idsWhere(users().is("last_login", nullptr)), (Ids{5}));
  EXPECT_EQ(idsWhere(users().is("active", true)), (Ids{1, 3}));
  EXPECT_EQ(idsWhere(users().in("id", std::vector<long long>{1, 3, 99})), (Ids{1, 3}));
  EXPECT_EQ(idsWhere(users().in("role", {"guest", "admin"})), (Ids{2, 3, 4}));
  EXPECT_EQ(idsWhere(users().in("id", std::vector<long long>{})), (Ids{}));
  EXPECT_EQ(idsWhere(users().not_("role", pgrestify::eq("user"))), (Ids{2, 3, 4}));
  EXPECT_EQ(idsWhere(users().not_("id", pgrestify::in(std::vector<int>{1, 2}))), (Ids{3, 4, 5}));
  EXPECT_EQ(idsWhere(users().filter("last_login", notOf(pgrestify::is(nullptr)))), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(idsWhere(users().where({{"role", "admin"}, {"active", false}})), (Ids{2, 4}));
  EXPECT_EQ(idsWhere(users().where({{"last_login", nullptr}})), (Ids{5}));  // a bare null means IS NULL
}

TEST_F(Filters, OrderLimitOffsetFindOneCount) {
  seedUsers();
  EXPECT_EQ(ids(users().order("role").order("id", false).find()), (Ids{4, 2, 3, 5, 1}));
  EXPECT_EQ(ids(users().order("id", false).limit(2).find()), (Ids{5, 4}));
  EXPECT_EQ(ids(users().order("id").limit(2).offset(3).find()), (Ids{4, 5}));
  auto one = users().eq("email", "c@x.io").findOne();
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->name, "n3");
  EXPECT_FALSE(users().eq("email", "nobody").findOne().has_value());
  EXPECT_EQ(users().count(), 5u);
  EXPECT_EQ(users().eq("active", false).count(), 3u);
  EXPECT_EQ(users().eq("role", "nobody").count(), 0u);
  EXPECT_EQ(counting_->count("PATCH") + counting_->count("DELETE"), 0u);
}

// Values that break naive encodings, each with decoys a wrong encoding would match instead.
std::vector<std::string> awkwardValues() {
  return {"a,b",   "(p)",   "p(x)",    "p(x",   "q\"x", "\"quoted\"", "b\\x", "\\",       " sp ", "a+b",
          "a b",   "100%",  "%25",     "a*b",   "a%b",  "ü/ß&=+?#%",  "é😀",   "",         "NULL", "null",
          "dot.x", "col:x", "x=y&z=w", "#frag", "a\tb", "}{",         "[1]",  "in.(1,2)", "eq.1", "a'b"};
}

TEST_F(Filters, AwkwardValuesRoundTripThroughEqAndIn) {
  const auto values = awkwardValues();
  std::vector<nlohmann::json> rows;
  for (std::size_t i = 0; i < values.size(); ++i)
    rows.push_back({{"key", values[i]}, {"label", "v" + std::to_string(i)}});
  ASSERT_EQ(client_->from("tags").insert(rows).size(), values.size());
  ASSERT_EQ(sqlCount("select count(*) from api.tags"), static_cast<long long>(values.size()));

  auto tags = client_->from("tags");
  for (const auto& v : values) {
    SCOPED_TRACE("value [" + v + "]");
    auto byEq = client_->from("tags").eq("key", v).find();
    ASSERT_EQ(byEq.size(), 1u);
    EXPECT_EQ(byEq[0]["key"], v);
    auto byIn = client_->from("tags").in("key", std::vector<std::string>{v}).find();
    ASSERT_EQ(byIn.size(), 1u);
    EXPECT_EQ(byIn[0]["key"], v);
    EXPECT_EQ(client_->from("tags").in("key", std::vector<std::string>{v, "no such key"}).count(), 1u);
    EXPECT_EQ(client_->from("tags").neq("key", v).count(), values.size() - 1);
    EXPECT_EQ(client_->from("tags").not_("key", pgrestify::in(std::vector<std::string>{v})).count(), values.size() - 1);
  }
  auto all = client_->from("tags").in("key", values).find();
  std::multiset<std::string> found;
  for (const auto& r : all) found.insert(r["key"].get<std::string>());
  EXPECT_EQ(found, std::multiset<std::string>(values.begin(), values.end()));
  // like takes the pattern verbatim: `*` is the wildcard, the rest literal.
  EXPECT_EQ(client_->from("tags").like("key", "p(x*").count(), 2u);
  EXPECT_EQ(client_->from("tags").like("key", "a,b").count(), 1u);
}

std::string randomString(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {",", "(", ")", "\"", "\\", " ", "+", "%", "*", "&",  "=",   "#",
                                                  "?", "/", ".", ":",  "'",  "ü", "ß", "€", "😀", "中", "%2B", "\t"};
  std::uniform_int_distribution<int> len(0, 12), kind(0, 3), ascii(0x20, 0x7e);
  std::uniform_int_distribution<std::size_t> piece(0, pieces.size() - 1);
  std::string s;
  for (int i = len(rng); i > 0; --i) {
    if (kind(rng) == 0) {
      s += pieces[piece(rng)];
    } else {
      s.push_back(static_cast<char>(ascii(rng)));
    }
  }
  return s;
}

TEST_F(Filters, RandomStringsRoundTripAndDeleteExactly) {
  std::mt19937 rng(20240517);
  std::vector<std::string> values;
  std::set<std::string> seen;
  values.push_back("");  // always included: `in.("")` alone is an empty list to PostgREST 12
  seen.insert("");
  while (values.size() < 300) {
    auto s = randomString(rng);
    if (seen.insert(s).second) values.push_back(s);
  }
  std::vector<nlohmann::json> rows;
  for (const auto& v : values) rows.push_back({{"key", v}});
  rows.push_back({{"key", "keep me"}});
  ASSERT_EQ(client_->from("tags").insert(rows).size(), rows.size());

  for (std::size_t i = 0; i < values.size(); ++i) {
    auto found = client_->from("tags").eq("key", values[i]).find();
    ASSERT_EQ(found.size(), 1u) << "eq, value #" << i << " [" << values[i] << "]";
    EXPECT_EQ(found[0]["key"], values[i]) << "value #" << i;
  }
  for (std::size_t start = 0; start < values.size(); start += 40) {
    std::vector<std::string> batch(values.begin() + static_cast<std::ptrdiff_t>(start),
                                   values.begin() + static_cast<std::ptrdiff_t>(std::min(start + 40, values.size())));
    auto found = client_->from("tags").in("key", batch).find();
    std::set<std::string> got;
    for (const auto& r : found) got.insert(r["key"].get<std::string>());
    EXPECT_EQ(got, std::set<std::string>(batch.begin(), batch.end())) << "in.() batch at " << start;
  }
  counting_->reset();
  auto r = client_->from("tags").bulkDelete(values, {.matchColumn = "key", .batchSize = 64});
  EXPECT_EQ(r.successful, values.size());
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.errors.empty()) << r.errors.front().message;
  EXPECT_EQ(counting_->count("DELETE"), 5u);  // 300 keys / 64
  EXPECT_EQ(sql("select string_agg(key, '|') from api.tags"), "keep me");
}

TEST_F(Filters, UpdateAndRemoveRefuseWithoutAFilter) {
  seedUsers();
  auto users = client_->from<User>("users");
  EXPECT_THROW(users.update(nlohmann::json{{"status", "wiped"}}), std::invalid_argument);
  EXPECT_THROW(users.remove(), std::invalid_argument);
  // Shaping is not filtering, and a filter on an embedded resource does not restrict the rows
  // (PostgREST 12 would PATCH/DELETE every row of `users`).
  EXPECT_THROW(users.select("id,posts(id)").order("id").limit(1).remove(), std::invalid_argument);
  EXPECT_THROW(client_->from("users").select("id,posts(id)").eq("posts.id", 1).remove(), std::invalid_argument);
  EXPECT_THROW(client_->from("users").select("id,posts(id)").eq("posts.id", 1).update(nlohmann::json{{"status", "x"}}),
               std::invalid_argument);
  EXPECT_EQ(counting_->total(), 0u);
  EXPECT_EQ(sqlCount("select count(*) from api.users where status is not null"), 0);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 5);
}

TEST_F(Filters, ReservedParameterNamesAreNotFilters) {
  // `DELETE /users?columns=in.(1)` deletes every row on PostgREST 12: such names never become filters.
  for (const char* name :
       {"select", "columns", "on_conflict", "order", "limit", "offset", "and", "or", "posts.order"}) {
    SCOPED_TRACE(name);
    EXPECT_THROW(client_->from("users").eq(name, 1), std::invalid_argument);
    EXPECT_THROW(client_->from("users").bulkDelete(std::vector<int>{1}, {.matchColumn = name}), std::invalid_argument);
    EXPECT_THROW(client_->from("users").bulkUpdate(std::vector<nlohmann::json>{{{name, 1}, {"status", "x"}}},
                                                   {.matchColumn = name}),
                 std::invalid_argument);
  }
  EXPECT_THROW(client_->from("users").bulkDelete(std::vector<int>{1}, {.matchColumn = "posts.id"}),
               std::invalid_argument);
  EXPECT_THROW(client_->from("users").bulkDelete(std::vector<int>{1}, {.matchColumn = std::vector<std::string>{}}),
               std::invalid_argument);
  // eq(null) would compare with the text 'null'.
  EXPECT_THROW(client_->from("users").eq("last_login", nullptr), std::invalid_argument);
  EXPECT_EQ(counting_->total(), 0u);
}

TEST_F(Filters, FilteredUpdateAndRemoveSendOneRequest) {
  seedUsers();
  auto updated = client_->from<User>("users").eq("role", "admin").update(nlohmann::json{{"status", "promoted"}});
  ASSERT_EQ(updated.size(), 2u);
  EXPECT_EQ(updated[0].status.value_or(""), "promoted");
  EXPECT_EQ(counting_->count("PATCH"), 1u);
  EXPECT_EQ(sql("select string_agg(id::text, ',' order by id) from api.users where status = 'promoted'"), "2,4");

  auto removed = client_->from<User>("users").in("id", {1, 3}).remove();
  EXPECT_EQ(removed.size(), 2u);
  EXPECT_EQ(counting_->count("DELETE"), 1u);
  EXPECT_EQ(sql("select string_agg(id::text, ',' order by id) from api.users"), "2,4,5");

  // allRows() is the explicit way to reach every row.
  auto all = client_->from<User>("users").allRows().update(nlohmann::json{{"status", "all"}});
  EXPECT_EQ(all.size(), 3u);
  EXPECT_EQ(sqlCount("select count(*) from api.users where status = 'all'"), 3);
  EXPECT_EQ(client_->from<User>("users").allRows().remove().size(), 3u);
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 0);
  EXPECT_EQ(counting_->count("PATCH"), 2u);
  EXPECT_EQ(counting_->count("DELETE"), 2u);
}

}  // namespace
}  // namespace pgrestify::test
