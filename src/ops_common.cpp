// SPDX-License-Identifier: MIT
// Helpers shared by the bulk operations.
#include "ops_common.hpp"

#include <pgrestify/filter.hpp>

#include <cmath>
#include <stdexcept>
#include <unordered_set>

namespace pgrestify::detail {


// Returns an error text for values no JSON/SQL can carry (NaN, Infinity), empty when fine.
std::string checkValues(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::number_float:
      if (!std::isfinite(j.get<double>())) return std::string(kNonFiniteMessage);
      return {};
    case nlohmann::json::value_t::object:
    case nlohmann::json::value_t::array:
      for (const auto& v : j) {
        if (auto e = checkValues(v); !e.empty()) return e;
      }
      return {};
    default:
      return {};
  }
}

// Key text of @p columns in @p row, joined with a separator; empty when a column is absent/null.
std::string keyOf(const nlohmann::json& row, const std::vector<std::string>& columns) {
  // Every part starts with the separator, so a present key is never empty, not even for ''.
  std::string key;
  for (const auto& column : columns) {
    auto it = row.find(column);
    if (it == row.end() || it->is_null()) return {};
    key.push_back(kKeySeparator);
    key += scalarText(*it);
  }
  return key;
}

std::uint32_t KeySets::internSignature(std::string_view signature) {
  // Consecutive rows nearly always have the same columns: compare with the last row first.
  if (!sets_.empty() && signature == last_) return lastId_;
  last_.assign(signature);
  auto found = ids_.find(last_);
  if (found != ids_.end()) return lastId_ = found->second;
  auto id = static_cast<std::uint32_t>(sets_.size());
  std::vector<std::string> keys;
  for (std::size_t start = 0; start < signature.size();) {
    auto end = signature.find('\0', start);
    if (end == std::string_view::npos) end = signature.size();
    keys.emplace_back(signature.substr(start, end - start));
    start = end + 1;
  }
  sets_.push_back(std::move(keys));
  ids_.emplace(last_, id);
  return lastId_ = id;
}

std::uint32_t KeySets::intern(const nlohmann::json& object) {
  scratch_.clear();
  for (auto it = object.begin(); it != object.end(); ++it) {
    scratch_ += it.key();
    scratch_.push_back('\0');
  }
  return internSignature(scratch_);
}

std::vector<std::string> KeySets::columnsOf(const std::vector<WorkRow>& rows) const {
  std::vector<std::string> out;
  std::vector<bool> seenSet(sets_.size(), false);
  std::unordered_set<std::string> seen;
  for (const auto& r : rows) {
    if (r.aux >= sets_.size() || seenSet[r.aux]) continue;
    seenSet[r.aux] = true;
    for (const auto& k : sets_[r.aux]) {
      if (seen.insert(k).second) out.push_back(k);
    }
  }
  return out;
}

std::string joinRows(const std::vector<WorkRow>& rows, std::size_t bytes) {
  std::string body;
  body.reserve(bytes + 2);
  body.push_back('[');
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i) body.push_back(',');
    body += rows[i].data;
  }
  body.push_back(']');
  return body;
}

std::string preferOf(bool representation, const std::string& extra) {
  std::string p = representation ? "return=representation" : "return=minimal";
  p += ",count=exact";
  if (!extra.empty()) p += "," + extra;
  return p;
}

// `select` that returns the match columns too (needed to tell which keys matched).
std::string selectWith(const std::string& select, const std::vector<std::string>& matchColumns, bool returning) {
  if (!returning) return joinIdentifiers(matchColumns);
  if (select.empty() || select == "*") return "*";
  std::string out = select;
  for (const auto& c : matchColumns) {
    out += ',';
    out += quoteIdentifier(c);
  }
  return out;
}

// Parses a JSON array answer; empty on anything else.
std::vector<nlohmann::json> parseRows(const std::string& body) {
  std::vector<nlohmann::json> rows;
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return rows;
  rows.reserve(j.size());
  for (auto& r : j) rows.push_back(std::move(r));
  return rows;
}

long long affected(const HttpResponse& response) {
  auto range = response.header("Content-Range");
  return range ? contentRangeTotal(*range) : -1;
}

std::string checkKeyValues(const nlohmann::json& row, const std::vector<std::string>& columns) {
  for (const auto& c : columns) {
    auto it = row.find(c);
    if (it == row.end()) continue;
    if (auto e = checkValues(*it); !e.empty()) return "key column " + c + ": " + e;
    try {
      (void)it->dump();
    } catch (const nlohmann::json::type_error&) {
      return "key column " + c + " holds a string that is not valid UTF-8";
    }
  }
  return {};
}

void checkMatchColumns(const std::vector<std::string>& columns) {
  if (columns.empty()) throw std::invalid_argument("pgrestify: matchColumn must not be empty");
  for (const auto& c : columns) {
    checkFilterColumn(c);
    if (!restrictsTable(c)) {
      throw std::invalid_argument("pgrestify: matchColumn '" + c + "' names an embedded resource, not a column");
    }
  }
}

// Filter selecting the keys of @p rows: `col=in.(...)` or `or=(and(a.eq.x,b.eq.y),...)`.
void keyFilter(const std::vector<std::string>& columns, const std::vector<WorkRow>& rows, Params& params) {
  if (rows.empty() || columns.empty()) throw std::logic_error("pgrestify: internal error: a key filter without keys");
  if (columns.size() == 1) {
    std::string list = "in.(";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (i) list.push_back(',');
      list += rows[i].data;
    }
    // PostgREST 12 reads `in.("")` as an empty list; `in.("","")` matches the empty string.
    if (rows.size() == 1 && rows[0].data == "\"\"") list += ",\"\"";
    list.push_back(')');
    params.emplace_back(columns[0], std::move(list));
    return;
  }
  std::string tree = "(";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i) tree.push_back(',');
    tree += rows[i].data;  // and(a.eq."x",b.eq.1)
  }
  tree.push_back(')');
  params.emplace_back("or", std::move(tree));
}

// Encodes a key for keyFilter: a list element, or an `and(...)` for composite keys.
std::string keyElement(const std::vector<std::string>& columns, const nlohmann::json& row) {
  if (columns.size() == 1) return listElement(row.at(columns[0]));
  std::string out = "and(";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i) out.push_back(',');
    out += quoteIdentifier(columns[i]) + ".eq." + listElement(row.at(columns[i]));
  }
  out.push_back(')');
  return out;
}

// Which rows of a key-filtered request matched: by Content-Range when it says all did,
// otherwise by comparing the returned keys.
void matchReturned(const Work& work, const HttpResponse& response, const std::vector<std::string>& columns,
                   bool returning, bool countMissingAsDone, Outcome& out) {
  auto rows = parseRows(response.body);
  long long n = affected(response);
  if (n < 0) n = static_cast<long long>(rows.size());
  std::unordered_set<std::string> matched;
  for (const auto& r : rows) matched.insert(keyOf(r, columns));
  // The keys are distinct within a request (the engine cuts at a repeated key). When as many rows
  // as keys were affected and they carry as many distinct keys, every key matched (this also
  // holds when the server writes a key differently, e.g. a timestamp). Otherwise compare keys: a
  // key matching several rows (a non-unique match column) must not hide one that matched none.
  const bool allMatched = static_cast<std::size_t>(n) == work.rows.size() && matched.size() == work.rows.size();
  if (!allMatched) {
    for (std::size_t i = 0; i < work.rows.size(); ++i) {
      if (!matched.count(work.rows[i].key)) out.notFound.push_back(i);
    }
    if (countMissingAsDone) out.notFound.clear();  // retried after an unknown outcome: gone either way
  }
  out.successful = work.rows.size() - out.notFound.size();
  if (returning) out.data = std::move(rows);
}


// Room left for keys in a URL of at most @p maxUrl bytes.
std::size_t urlBudget(const ClientState& client, const std::string& table, std::size_t maxUrl,
                             const std::string& select) {
  std::size_t fixed = client.baseUrl().size() + percentEncode(table).size() + percentEncode(select).size() + 64;
  return maxUrl > fixed + 64 ? maxUrl - fixed : 64;
}

// The key of a WorkRow as an object, for locating a row from an error's details.
nlohmann::json keyObject(const WorkRow& row, const std::vector<std::string>& columns) {
  nlohmann::json obj = nlohmann::json::object();
  std::size_t start = row.key.empty() ? std::string::npos : 1;  // keyOf: each part starts with the separator
  for (std::size_t i = 0; i < columns.size() && start != std::string::npos; ++i) {
    auto end = row.key.find(kKeySeparator, start);
    obj[columns[i]] = row.key.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? std::string::npos : end + 1;
  }
  return obj;
}

std::string serializeRow(const nlohmann::json& row, std::string& out) {
  if (!row.is_object()) return "a row must be a JSON object";
  if (auto e = checkValues(row); !e.empty()) return e;
  try {
    out = row.dump();
  } catch (const nlohmann::json::type_error&) {
    return std::string(kBadUtf8Message);
  }
  return {};
}

}  // namespace pgrestify::detail
