// SPDX-License-Identifier: MIT
// Row types of the test schema (tests/integration/schema.sql).
#pragma once

#include <pgrestify/row.hpp>

#include <optional>
#include <string>

namespace pgrestify::test {

struct User {
  std::optional<long long> id;
  std::string name;
  std::string email;
  std::optional<std::string> role;
  std::optional<bool> active;
  std::optional<std::string> created_at;
  std::optional<std::string> updated_at;
  std::optional<std::string> last_login;
  std::optional<std::string> status;
};
PGRESTIFY_ROW(User, id, name, email, role, active, created_at, updated_at, last_login, status)

struct Inventory {
  std::string warehouse;
  std::string sku;
  std::optional<int> qty;
  std::optional<std::string> note;
};
PGRESTIFY_ROW(Inventory, warehouse, sku, qty, note)

}  // namespace pgrestify::test
