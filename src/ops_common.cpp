// SPDX-License-Identifier: MIT
// Helpers shared by the bulk operations.
#include "ops_common.hpp"

#include <pgrestify/filter.hpp>

#include "key_match.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_map>
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

HttpRequest insertRequest(const ClientState& client, const InsertSpec& spec, const KeySets& keySets, const Work& work) {
  Params params;
  params.emplace_back("columns", joinIdentifiers(keySets.columnsOf(work.rows)));
  if (spec.onConflict != OnConflict::Error && !spec.conflictColumns.empty()) {
    params.emplace_back("on_conflict", joinIdentifiers(spec.conflictColumns));
  }
  if (spec.returning) params.emplace_back("select", spec.select.empty() ? "*" : spec.select);
  std::string resolution;
  switch (spec.onConflict) {
    case OnConflict::Error:
      break;
    case OnConflict::Ignore:
      resolution = "resolution=ignore-duplicates";
      break;
    case OnConflict::Update:
      resolution = "resolution=merge-duplicates";
      break;
  }
  // count=exact on every write (free on mutations, PostgREST reference §3.4): the count of rows
  // PostgreSQL reports as written is what `successful` is.
  std::string prefer = preferOf(spec.returning, resolution);
  // `missing=default` matters only when some row lacks a column of `columns=`; PostgREST then
  // switches to a slower jsonb path, so it is sent only for batches whose rows differ in keys.
  const bool mixedKeySets =
      std::any_of(work.rows.begin(), work.rows.end(), [&](const WorkRow& r) { return r.aux != work.rows.front().aux; });
  if (spec.missing == Missing::Default && mixedKeySets) prefer += ",missing=default";
  return client.makeRequest("POST", spec.table, params, prefer, joinRows(work.rows, work.bytes), spec.headers);
}

InsertSpec upsertOf(const UpdateSpec& spec) {
  return {.table = spec.table,
          .onConflict = OnConflict::Update,
          .conflictColumns = spec.matchColumns,
          .returning = spec.returning,
          .select = spec.select,
          .maxBatchBytes = spec.maxBatchBytes,
          .headers = spec.headers};
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
    params.emplace_back(quoteIdentifier(columns[0]), std::move(list));  // as and(...) quotes composite keys
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

namespace {

// A header value as it may be quoted in a message: printable ASCII, at most 60 characters.
std::string printable(std::string_view value) {
  std::string out;
  for (char c : value.substr(0, 60)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (value.size() > 60) out += "...";
  return out;
}

std::string mediaType(const HttpResponse& response) {
  auto type = response.header("Content-Type");
  if (!type) return {};
  std::string_view t = *type;
  t = t.substr(0, t.find(';'));
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  std::string out(t);
  for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

bool blank(const std::string& body) { return body.find_first_not_of(" \t\r\n") == std::string::npos; }

std::optional<std::size_t> digits(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  return v;
}

}  // namespace

std::optional<std::size_t> contentRangeCount(std::string_view header) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  auto slash = header.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto total = digits(header.substr(slash + 1));
  if (!total) return std::nullopt;
  auto range = header.substr(0, slash);
  if (range == "*") return total;
  auto dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first = digits(range.substr(0, dash));
  auto last = digits(range.substr(dash + 1));
  if (!first || !last || *first > *last || *last >= *total) return std::nullopt;
  return total;
}

Answer readAnswer(const HttpResponse& response, const ExpectedAnswer& expected) {
  std::string want = "status " + std::to_string(expected.status);
  if (expected.otherStatus) want += " or " + std::to_string(expected.otherStatus);
  want += " with a Content-Range";
  want += expected.body ? " and a JSON array (application/json)" : " and no body";
  const std::string type = mediaType(response);
  std::string got = std::to_string(response.status) + " " + (type.empty() ? "without Content-Type" : printable(type));
  auto fail = [&](const std::string& what) -> Answer {
    throw std::runtime_error("the answer is not PostgREST's: expected " + want + ", got " + got +
                             (what.empty() ? "" : " (" + what + ")"));
  };
  if (response.status != expected.status && (expected.otherStatus == 0 || response.status != expected.otherStatus)) {
    return fail({});
  }
  auto range = response.header("Content-Range");
  if (!range) return fail("no Content-Range");
  auto count = contentRangeCount(*range);
  if (!count) return fail("Content-Range '" + printable(*range) + "' has no count");
  if (*count > expected.maxCount) {
    return fail("a count of " + std::to_string(*count) + " for " + std::to_string(expected.maxCount) + " rows sent");
  }
  Answer answer;
  answer.count = *count;
  if (!expected.body) {
    if (!blank(response.body)) return fail("a body where none was asked for");
    return answer;
  }
  if (type != "application/json") return fail({});
  auto j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return fail("the body is not a JSON array");
  for (const auto& row : j) {
    if (!row.is_object()) return fail("the body is not an array of objects");
  }
  if (j.size() != *count) {
    return fail(std::to_string(j.size()) + " rows in the body for a count of " + std::to_string(*count));
  }
  answer.rows.reserve(j.size());
  for (auto& r : j) answer.rows.push_back(std::move(r));
  return answer;
}

KeyMatcher::KeyMatcher(const ClientState& client, std::string table, std::vector<std::string> columns)
    : client_(client), table_(std::move(table)), columns_(std::move(columns)) {}

const std::vector<int>& KeyMatcher::types() const {
  if (typesRead_) return types_;
  typesRead_ = true;
  types_.assign(columns_.size(), static_cast<int>(KeyType::Unknown));
  try {
    auto schema = client_.tableSchema(table_);
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (const ColumnInfo* c = schema->column(columns_[i])) types_[i] = static_cast<int>(keyTypeOf(c->format));
    }
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception&) {
    // The description cannot be read (openapi-mode disabled, ...): types stay Unknown, matching
    // falls back to the key text and the counts.
  }
  return types_;
}

std::optional<std::string> KeyMatcher::canonicalKey(const std::vector<std::string>& parts) const {
  const auto& t = types();
  if (parts.size() != t.size()) return std::nullopt;
  std::string key;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto v = canonicalValue(static_cast<KeyType>(t[i]), parts[i]);
    if (!v) return std::nullopt;
    key.push_back(kKeySeparator);
    key += *v;
  }
  return key;
}

namespace {

// The parts of a key text built by keyOf (each part after a kKeySeparator).
std::vector<std::string> keyParts(const std::string& key, std::size_t columns) {
  std::vector<std::string> parts;
  if (key.empty()) return parts;
  if (columns == 1) {
    parts.push_back(key.substr(1));
    return parts;
  }
  std::size_t start = 1;
  for (;;) {
    auto end = key.find(kKeySeparator, start);
    parts.push_back(key.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

}  // namespace

void KeyMatcher::match(const Work& work, Answer answer, bool returning, bool countMissingAsDone, Outcome& out) const {
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  auto& rows = answer.rows;
  const std::size_t n = work.rows.size();
  // 1. By the key text: the server usually writes a key as the caller did.
  std::unordered_map<std::string, std::size_t> inputByText;
  for (std::size_t i = 0; i < n; ++i) inputByText.emplace(work.rows[i].key, i);
  std::vector<bool> matched(n, false);
  std::vector<std::size_t> owner(rows.size(), kNone);  // input position each returned row belongs to
  std::vector<std::string> rowKeys(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    rowKeys[r] = keyOf(rows[r], columns_);
    if (auto it = inputByText.find(rowKeys[r]); it != inputByText.end()) {
      owner[r] = it->second;
      matched[it->second] = true;
    }
  }
  auto unmatchedInputs = [&] {
    std::vector<std::size_t> u;
    for (std::size_t i = 0; i < n; ++i) {
      if (!matched[i]) u.push_back(i);
    }
    return u;
  };
  auto orphans = [&] {
    std::vector<std::size_t> o;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      if (owner[r] == kNone) o.push_back(r);
    }
    return o;
  };
  std::vector<std::size_t> unmatched = unmatchedInputs();
  std::vector<std::size_t> stray = orphans();
  // 2. Rows spelled differently (an uppercase UUID, `Z` for `+00:00`, 1.50 for 1.5...): by the
  //    value the database compared, from each match column's type.
  if (!unmatched.empty() && !stray.empty()) {
    // Several spellings of one value may be among the keys: each of them matched the row.
    std::unordered_map<std::string, std::vector<std::size_t>> inputsByValue;
    // Every key, matched or not: a returned row spelled differently may belong to a matched key
    // (a non-unique or case-insensitive match column), and must not be counted for another one.
    for (std::size_t i = 0; i < n; ++i) {
      if (auto k = canonicalKey(keyParts(work.rows[i].key, columns_.size()))) inputsByValue[*k].push_back(i);
    }
    if (!inputsByValue.empty()) {
      for (std::size_t r = 0; r < rows.size(); ++r) {
        if (rowKeys[r].empty()) continue;
        auto k = canonicalKey(keyParts(rowKeys[r], columns_.size()));
        if (!k) continue;
        auto it = inputsByValue.find(*k);
        if (it == inputsByValue.end()) continue;
        if (owner[r] == kNone) owner[r] = it->second.front();
        for (std::size_t i : it->second) matched[i] = true;
      }
      unmatched = unmatchedInputs();
      stray = orphans();
    }
  }
  // 3. Still rows no key claims (a type pgrestify cannot compare, or no description): every
  //    returned row matched one of the keys sent, so as many distinct returned keys as unmatched
  //    keys means each of them matched. Otherwise some of them were changed, but which is unknown.
  if (!unmatched.empty() && !stray.empty()) {
    std::unordered_set<std::string> distinct;
    for (std::size_t r : stray) distinct.insert(rowKeys[r]);
    if (distinct.size() != unmatched.size()) {
      std::string names = joinIdentifiers(columns_);
      throw std::runtime_error(
          "the key could not be matched to the server's spelling: " + std::to_string(stray.size()) +
          " returned row(s) spell " + names + " differently from the " + std::to_string(unmatched.size()) +
          " unmatched key(s) of this request, and the column type is not one pgrestify can compare; some of "
          "these keys were changed, which ones is unknown");
    }
    for (std::size_t i : unmatched) matched[i] = true;
    unmatched.clear();
  }
  for (std::size_t i : unmatched) out.notFound.push_back(i);
  if (countMissingAsDone) out.notFound.clear();  // retried after an unknown outcome: gone either way
  out.successful = n - out.notFound.size();
  if (!returning) return;
  // In input order: the rows of each key after those of the keys before it in the caller's input
  // (the engine sends a request's keys sorted, so their positions in work.rows are not input
  // order); stable: rows of one key, and rows no key claims, keep the server's order; the latter
  // come last.
  auto inputIndex = [&](std::size_t r) { return owner[r] == kNone ? kNone : work.rows[owner[r]].index; };
  std::vector<std::size_t> order(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) order[r] = r;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return inputIndex(a) < inputIndex(b); });
  out.data.reserve(rows.size());
  for (std::size_t r : order) out.data.push_back(std::move(rows[r]));
}

void addReturningHint(BulkResult<nlohmann::json>& result, std::string_view how) {
  for (auto& e : result.errors) {
    if (e.code != "42501" || e.message.find("row-level security") == std::string::npos) continue;
    std::string hint =
        "PostgreSQL applies the table's SELECT policies to the rows a write returns (RETURNING), so a "
        "row this role may write but not see fails when it is read back; ";
    hint += how;
    e.hint = e.hint.empty() ? hint : e.hint + "; " + hint;
  }
}

BulkResult<nlohmann::json> runOperation(Transport& transport, BulkOperation& op, const EngineSettings& settings) {
  BulkResult<nlohmann::json> result = runBulk(transport, op, settings);
  if (const auto* notes = dynamic_cast<const ResultNotes*>(&op)) notes->annotate(result);
  return result;
}

BulkResult<nlohmann::json> runInsert(const ClientState& client, InsertSpec spec, RowWriterSource source,
                                     std::optional<std::size_t> total, const EngineSettings& settings,
                                     const RowChecks& checks) {
  auto op = makeInsertOperation(client, std::move(spec), std::move(source), total);
  return runChecked(client, *op, settings, checks);
}

BulkResult<nlohmann::json> runUpdate(const ClientState& client, UpdateSpec spec, RowSource source,
                                     std::optional<std::size_t> total, const EngineSettings& settings,
                                     const RowChecks& checks) {
  auto op = makeUpdateOperation(client, std::move(spec), std::move(source), total);
  return runChecked(client, *op, settings, checks);
}

BulkResult<nlohmann::json> runDelete(const ClientState& client, DeleteSpec spec, RowSource source,
                                     std::optional<std::size_t> total, const EngineSettings& settings,
                                     const RowChecks& checks) {
  auto op = makeDeleteOperation(client, std::move(spec), std::move(source), total);
  return runChecked(client, *op, settings, checks);
}

std::string keyFitsUrl(const std::string& element, std::size_t budget) {
  const std::size_t bytes = percentEncode(element).size() + 3;  // as WorkRow::size counts it
  if (bytes <= budget) return {};
  return "the key is " + std::to_string(bytes) + " bytes in a URL; maxUrlBytes allows " + std::to_string(budget) +
         " for keys (the rest of the URL takes the remainder); it was not sent";
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

// ---- validate and dryRun (RowChecks) ----

RowSource checkedSource(RowSource source, const RowChecks& checks) {
  if (!checks.validate) return source;
  return [source = std::move(source), validate = checks.validate, verdicts = checks.verdicts,
          next = std::size_t{0}](nlohmann::json& row) mutable {
    if (!source(row)) return false;
    const std::size_t index = next++;  // operations number rows in the order they read them
    if (auto e = validate(row)) (*verdicts)[index] = e->empty() ? std::string("refused by validate") : std::move(*e);
    return true;
  };
}

RowWriterSource checkedSource(RowWriterSource source, const RowChecks& checks) {
  if (!checks.validate) return source;
  return [source = std::move(source), validate = checks.validate, verdicts = checks.verdicts, next = std::size_t{0}](
             RowWriter& writer, std::string& out) mutable {
    if (!source(writer, out)) return false;
    const std::size_t index = next++;            // operations number rows in the order they read them
    if (!writer.invalid().empty()) return true;  // refused by the library already
    // The row as it will be sent (the writer produced it; a parse failure is reported by the
    // operation's own checks).
    auto row = nlohmann::json::parse(out, nullptr, false);
    if (row.is_discarded()) return true;
    if (auto e = validate(row)) (*verdicts)[index] = e->empty() ? std::string("refused by validate") : std::move(*e);
    return true;
  };
}

bool preferenceApplied(const HttpResponse& response, std::string_view preference) {
  auto header = response.header("Preference-Applied");
  if (!header) return false;
  std::string_view rest = *header;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view token = rest.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (token == preference) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

namespace {

constexpr std::string_view kRollback = "tx=rollback";

// Proves, before any row is sent, that the server rolls back a request that asks for it: PostgREST
// 12 with its default `db-tx-end = commit` ignores `Prefer: tx=rollback` and COMMITS the write,
// and the only sign is that `Preference-Applied` does not list it. The check writes nothing: a
// `GET ?limit=0` (or, for an insert when the table cannot be read, a `POST` of `[]`).
void checkRollbackHonoured(const ClientState& client, const RowChecks& checks) {
  if (client.rollbackHonoured()) return;
  HttpResponse response =
      client.send(client.makeRequest("GET", checks.table, Params{{"limit", "0"}}, kRollback, {}, checks.headers));
  if (!response.ok() && response.status >= 400 && response.status < 500 && checks.insert) {
    response =
        client.send(client.makeRequest("POST", checks.table, {}, "return=minimal,tx=rollback", "[]", checks.headers));
  }
  throwIfFailed(response);
  if (!preferenceApplied(response, kRollback)) {
    throw std::invalid_argument(
        "pgrestify: dry run refused, nothing was sent: the server does not honour `Prefer: tx=rollback` (its "
        "answer's Preference-Applied does not list it), so the rows would be committed. PostgREST needs "
        "`db-tx-end = \"commit-allow-override\"` in its configuration for dry runs (its default, `commit`, "
        "ignores tx=rollback and commits)");
  }
  client.setRollbackHonoured();
}

// Wraps an operation: rows the validator refused become InvalidRow; a dry run sends every request
// with tx=rollback and reads no 2xx answer that does not confirm it.
class CheckedOperation final : public BulkOperation, public ResultNotes {
 public:
  CheckedOperation(BulkOperation& inner, const RowChecks& checks) : inner_(inner), checks_(checks) {}

  bool nextRow(WorkRow& row) override {
    if (!inner_.nextRow(row)) return false;
    if (checks_.verdicts->empty()) return true;
    auto found = checks_.verdicts->find(row.index);
    if (found == checks_.verdicts->end()) return true;
    // A row the operation refused itself keeps the operation's message.
    if (row.invalid.empty()) {
      row.invalid = std::move(found->second);
      row.data.clear();
      row.key.clear();
      row.size = 0;
    }
    checks_.verdicts->erase(found);
    return true;
  }
  std::optional<std::size_t> totalRows() const override { return inner_.totalRows(); }
  std::size_t maxBytes() const override { return inner_.maxBytes(); }

  HttpRequest request(const Work& work) const override {
    HttpRequest req = inner_.request(work);
    if (checks_.dryRun) {
      bool found = false;
      for (auto& [name, value] : req.headers) {
        if (name.size() == 6 && std::equal(name.begin(), name.end(), "prefer", [](char a, char b) {
              return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
            })) {
          value += value.empty() ? "" : ",";
          value += kRollback;
          found = true;
        }
      }
      if (!found) req.headers.emplace_back("Prefer", std::string(kRollback));
    }
    return req;
  }

  void accept(const Work& work, const HttpResponse& response, Outcome& out) const override {
    if (checks_.dryRun && !preferenceApplied(response, kRollback)) {
      // The write ran and was answered 2xx, but nothing says it was rolled back.
      throw std::runtime_error(
          "dry run: the answer's Preference-Applied does not list tx=rollback, so these rows may have been "
          "COMMITTED (PostgREST needs db-tx-end = \"commit-allow-override\"; was it restarted with another "
          "setting, or is a proxy dropping the header?)");
    }
    inner_.accept(work, response, out);
  }

  bool idempotent() const override { return inner_.idempotent(); }
  bool isolatable(const Work& work) const override { return inner_.isolatable(work); }
  nlohmann::json rowObject(const WorkRow& row) const override { return inner_.rowObject(row); }
  bool dataFollowsRows(const HttpRequest& request) const override { return inner_.dataFollowsRows(request); }

  void annotate(BulkResult<nlohmann::json>& result) const override {
    if (const auto* notes = dynamic_cast<const ResultNotes*>(&inner_)) notes->annotate(result);
  }

 private:
  BulkOperation& inner_;
  const RowChecks& checks_;
};

}  // namespace

BulkResult<nlohmann::json> runChecked(const ClientState& client, BulkOperation& op, const EngineSettings& settings,
                                      const RowChecks& checks) {
  if (!checks.validate && !checks.dryRun) return client.runBulk(op, settings);
  if (checks.dryRun) checkRollbackHonoured(client, checks);
  CheckedOperation checked(op, checks);
  return client.runBulk(checked, settings);
}

}  // namespace pgrestify::detail
