// SPDX-License-Identifier: MIT
// Tables a test creates for itself: run the DDL, make PostgREST reload its schema cache, and wait
// until it serves the table.
#pragma once

#include "test_env.hpp"

#include <chrono>
#include <string>
#include <thread>

namespace pgrestify::test {

/// Runs @p ddl, then `NOTIFY pgrst, 'reload schema'` and waits (up to 20 s) until PostgREST's schema
/// cache (its OpenAPI description) has @p table (api schema). Returns false when it never did.
inline bool createAndExpose(const std::string& ddl, const std::string& table, const Client& client) {
  sql(ddl);
  sql("notify pgrst, 'reload schema'");
  for (int i = 0; i < 200; ++i) {
    // A GET works before the reload (PostgREST 12 sends it to the database as it is); the OpenAPI
    // description lists the table only once the schema cache has it. A fresh client: no cache.
    try {
      Client fresh(client.options());
      if (fresh.describeTable(table)->found) return true;
    } catch (const Error&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace pgrestify::test
