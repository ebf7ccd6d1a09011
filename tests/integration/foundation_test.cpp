// SPDX-License-Identifier: MIT
// The client core against the real PostgREST 12.0.2: typed rows, reads, errors.
#include "models.hpp"
#include "test_env.hpp"

#include <iostream>

namespace pgrestify::test {
namespace {

class Foundation : public IntegrationTest {};

TEST_F(Foundation, ServerIsPostgrest12) {
  HttpRequest req;
  req.url = server_->url + "/";
  auto response = client_->send(req);
  ASSERT_EQ(response.status, 200);
  auto header = response.header("Server");
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(*header, "postgrest/12.0.2");
  std::cout << "integration server: " << server_->url << " Server: " << *header << std::endl;
}

TEST_F(Foundation, InsertTypedRowsAndReadThemBack) {
  auto users = client_->from<User>("users");
  User ann{.name = "Ann", .email = "ann@example.com"};
  User stored = users.insert(ann);
  ASSERT_TRUE(stored.id.has_value());
  EXPECT_EQ(stored.role.value_or(""), "user");  // column default: the empty optional was omitted
  EXPECT_EQ(stored.active.value_or(false), true);
  EXPECT_TRUE(stored.created_at.has_value());

  std::vector<User> more{{.name = "Bob", .email = "bob@example.com", .role = "admin"},
                         {.name = "Cy", .email = "cy@example.com"}};
  auto inserted = client_->from<User>("users").insert(more);
  ASSERT_EQ(inserted.size(), 2u);

  auto admins = client_->from<User>("users").eq("role", "admin").find();
  ASSERT_EQ(admins.size(), 1u);
  EXPECT_EQ(admins[0].name, "Bob");

  auto all = client_->from<User>("users").select("id,name,email").order("name", false).find();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].name, "Cy");
  EXPECT_FALSE(all[0].role.has_value());  // not selected
  EXPECT_EQ(sqlCount("select count(*) from api.users"), 3);
  EXPECT_EQ(client_->from<User>("users").count(), 3u);
}

TEST_F(Foundation, UniqueViolationCarriesPostgrestFields) {
  client_->from<User>("users").insert(User{.name = "A", .email = "dup@example.com"});
  try {
    client_->from<User>("users").insert(User{.name = "B", .email = "dup@example.com"});
    FAIL() << "expected pgrestify::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 409);
    EXPECT_EQ(e.code(), "23505");
    EXPECT_NE(e.message().find("duplicate key"), std::string::npos);
    EXPECT_EQ(e.details(), "Key (email)=(dup@example.com) already exists.");
    EXPECT_FALSE(e.isTransport());
  }
}

TEST_F(Foundation, NotNullViolationCarriesPostgrestFields) {
  try {
    client_->from("users").insert(nlohmann::json{{"email", "x@example.com"}, {"name", nullptr}});
    FAIL() << "expected pgrestify::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "23502");
    EXPECT_NE(e.message().find("null value in column \"name\""), std::string::npos);
  }
}

TEST_F(Foundation, UnknownTableOnPostIsA404WithAMessage) {
  try {
    client_->from("no_such_table").insert(nlohmann::json{{"a", 1}});
    FAIL() << "expected pgrestify::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_FALSE(e.message().empty());
  }
}

TEST_F(Foundation, RefusedConnectionIsATransportError) {
  auto client = createClient({.url = "http://127.0.0.1:9", .connectTimeout = std::chrono::milliseconds(2000)});
  try {
    client.from("users").find();
    FAIL() << "expected pgrestify::TransportError";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.transportKind(), TransportErrorKind::Connect);
    EXPECT_EQ(e.status(), 0);
  }
}

TEST_F(Foundation, BearerTokenAndSchemaProfile) {
  EXPECT_THROW(client_->from("secrets").find(), Error);
  auto authed = makeClient({.bearerToken = server_->jwt});
  auto secrets = authed.from("secrets").find();
  EXPECT_FALSE(secrets.empty());

  auto other = makeClient({.schema = "other"});
  other.from("notes").insert(nlohmann::json{{"body", "hello"}});
  auto notes = other.from("notes").eq("body", "hello").find();
  EXPECT_EQ(notes.size(), 1u);
}

}  // namespace
}  // namespace pgrestify::test
