// SPDX-License-Identifier: MIT
#include "update.hpp"

#include "bulk_update_sql.hpp"  // generated from sql/pgrestify_bulk_update.sql (tools/CMakeLists.txt)

#include <cstdio>
#include <stdexcept>

namespace pgrestify::cli {

UpdateStrategy updateStrategy(const std::string& name) {
  if (name == "auto") return UpdateStrategy::Auto;
  if (name == "function") return UpdateStrategy::Function;
  if (name == "patch") return UpdateStrategy::PerRow;
  if (name == "upsert") return UpdateStrategy::Upsert;
  throw std::invalid_argument("unknown update strategy '" + name + "'");
}

namespace {

// An SQL identifier as PostgreSQL reads it: bare when it is lower-case letters, digits and `_`
// (not starting with a digit), else double-quoted with `"` doubled.
std::string quoteIdent(const std::string& name) {
  bool bare = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) bare = false;
  }
  if (bare) return name;
  std::string out = "\"";
  for (char c : name) {
    out.push_back(c);
    if (c == '"') out.push_back('"');
  }
  return out + "\"";
}

}  // namespace

std::string bulkUpdateSql(const std::string& schema) {
  if (schema.empty()) throw std::invalid_argument("the schema name must not be empty");
  for (char c : schema) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      throw std::invalid_argument("the schema name contains a control character");
    }
  }
  // Every `api.pgrestify_bulk_update` of the file (the CREATE, the COMMENT and the GRANT example).
  std::string text = kBulkUpdateSql;
  const std::string from = "api.pgrestify_bulk_update";
  const std::string to = quoteIdent(schema) + ".pgrestify_bulk_update";
  for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
    text.replace(at, from.size(), to);
  }
  return text;
}

int runSql(const std::string& schema) {
  const std::string text = bulkUpdateSql(schema);
  const bool written = std::fwrite(text.data(), 1, text.size(), stdout) == text.size();
  if (std::fflush(stdout) != 0 || !written) {
    std::fprintf(stderr, "pgrestify: error: the SQL could not be written to standard output\n");
    return 4;
  }
  return 0;
}

}  // namespace pgrestify::cli
