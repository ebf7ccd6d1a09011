// SPDX-License-Identifier: MIT
// Insert/upsert, update and delete as BulkOperations: rows -> requests, answers -> outcomes.
#include <pgrestify/detail/bulk_ops.hpp>
#include <pgrestify/detail/client_state.hpp>
#include <pgrestify/detail/encode.hpp>

#include <cmath>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace pgrestify::detail {

namespace {

constexpr char kKeySeparator = '\x1f';

// Returns an error text for values no JSON/SQL can carry (NaN, Infinity), empty when fine.
std::string checkValues(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::number_float:
      if (!std::isfinite(j.get<double>())) return "the row holds a NaN or infinite number, which JSON cannot carry";
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
  std::string key;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    auto it = row.find(columns[i]);
    if (it == row.end() || it->is_null()) return {};
    if (i) key.push_back(kKeySeparator);
    key += scalarText(*it);
  }
  return key;
}

// Interns key sets so a batch's `columns=` is the union of a few small sets.
class KeySets {
 public:
  std::uint32_t intern(const nlohmann::json& object) {
    signature_.clear();
    for (auto it = object.begin(); it != object.end(); ++it) {
      signature_ += it.key();
      signature_.push_back('\0');
    }
    auto found = ids_.find(signature_);
    if (found != ids_.end()) return found->second;
    auto id = static_cast<std::uint32_t>(sets_.size());
    std::vector<std::string> keys;
    for (auto it = object.begin(); it != object.end(); ++it) keys.push_back(it.key());
    sets_.push_back(std::move(keys));
    ids_.emplace(signature_, id);
    return id;
  }

  // Union of the key sets of @p rows in first-seen order.
  std::vector<std::string> columnsOf(const std::vector<WorkRow>& rows) const {
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

 private:
  std::string signature_;
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::vector<std::vector<std::string>> sets_;
};

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
  for (const auto& c : matchColumns) out += "," + quoteIdentifier(c);
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

// Filter selecting the keys of @p rows: `col=in.(...)` or `or=(and(a.eq.x,b.eq.y),...)`.
void keyFilter(const std::vector<std::string>& columns, const std::vector<WorkRow>& rows, Params& params) {
  if (columns.size() == 1) {
    std::string list = "in.(";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (i) list.push_back(',');
      list += rows[i].data;
    }
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
  if (static_cast<std::size_t>(n) < work.rows.size()) {
    std::unordered_set<std::string> matched;
    for (const auto& r : rows) matched.insert(keyOf(r, columns));
    for (std::size_t i = 0; i < work.rows.size(); ++i) {
      if (!matched.count(work.rows[i].key)) out.notFound.push_back(i);
    }
    if (countMissingAsDone) out.notFound.clear();  // retried after an unknown outcome: gone either way
  }
  out.successful = work.rows.size() - out.notFound.size();
  if (returning) out.data = std::move(rows);
}

// ---------------------------------------------------------------------------------------------
class InsertOperation final : public BulkOperation {
 public:
  InsertOperation(const ClientState& client, InsertSpec spec, RowSource source, std::optional<std::size_t> total)
      : client_(client), spec_(std::move(spec)), source_(std::move(source)), total_(total) {
    for (const auto& c : spec_.conflictColumns) checkIdentifier(c, "conflict column");
    checkIdentifier(spec_.table, "table name");
    switch (spec_.onConflict) {
      case OnConflict::Error: break;
      case OnConflict::Ignore: resolution_ = "resolution=ignore-duplicates"; break;
      case OnConflict::Update: resolution_ = "resolution=merge-duplicates"; break;
    }
    if (spec_.missing == Missing::Default) {
      resolution_ = resolution_.empty() ? "missing=default" : resolution_ + ",missing=default";
    }
    prefer_ = preferOf(spec_.returning, resolution_);
  }

  bool nextRow(WorkRow& row) override {
    nlohmann::json j;
    if (!source_(j)) return false;
    row.index = next_++;
    row.invalid = serializeRow(j, row.data);
    if (!row.invalid.empty()) return true;
    row.aux = keySets_.intern(j);
    row.key = keyOf(j, spec_.conflictColumns);
    row.size = row.data.size() + 1;
    return true;
  }

  std::optional<std::size_t> totalRows() const override { return total_; }
  std::size_t maxBytes() const override { return spec_.maxBatchBytes; }

  HttpRequest request(const Work& work) const override {
    Params params;
    params.emplace_back("columns", joinIdentifiers(keySets_.columnsOf(work.rows)));
    if (spec_.onConflict != OnConflict::Error && !spec_.conflictColumns.empty()) {
      params.emplace_back("on_conflict", joinIdentifiers(spec_.conflictColumns));
    }
    if (spec_.returning) params.emplace_back("select", spec_.select.empty() ? "*" : spec_.select);
    return client_.makeRequest("POST", spec_.table, params, prefer_, joinRows(work.rows, work.bytes));
  }

  void accept(const Work& work, const HttpResponse& response, Outcome& out) const override {
    const std::size_t rows = work.rows.size();
    long long n = affected(response);
    if (spec_.returning) out.data = parseRows(response.body);
    if (n < 0) n = spec_.returning ? static_cast<long long>(out.data.size()) : static_cast<long long>(rows);
    std::size_t written = std::min(rows, static_cast<std::size_t>(n));
    if (spec_.onConflict == OnConflict::Ignore) {
      out.successful = written;
      out.skipped = rows - written;
    } else {
      out.successful = rows;
    }
  }

  bool idempotent() const override { return spec_.onConflict != OnConflict::Error; }
  bool isolatable(const Work&) const override { return true; }

 private:
  const ClientState& client_;
  InsertSpec spec_;
  RowSource source_;
  std::optional<std::size_t> total_;
  std::size_t next_ = 0;
  KeySets keySets_;
  std::string resolution_;
  std::string prefer_;
};

// ---------------------------------------------------------------------------------------------
class DeleteOperation final : public BulkOperation {
 public:
  DeleteOperation(const ClientState& client, DeleteSpec spec, RowSource source, std::optional<std::size_t> total)
      : client_(client), spec_(std::move(spec)), source_(std::move(source)), total_(total) {
    checkIdentifier(spec_.table, "table name");
    if (spec_.matchColumns.empty()) throw std::invalid_argument("pgrestify: matchColumn must not be empty");
    for (const auto& c : spec_.matchColumns) checkIdentifier(c, "matchColumn");
    select_ = selectWith(spec_.select, spec_.matchColumns, spec_.returning);
  }

  bool nextRow(WorkRow& row) override {
    nlohmann::json j;
    if (!source_(j)) return false;
    row.index = next_++;
    nlohmann::json keyRow;
    if (j.is_object()) {
      keyRow = std::move(j);
    } else if (spec_.matchColumns.size() == 1 && (j.is_primitive() && !j.is_null())) {
      keyRow[spec_.matchColumns[0]] = std::move(j);
    } else {
      row.invalid = spec_.matchColumns.size() == 1 ? "a key must be a string, number or boolean, or an object"
                                                   : "a composite key must be an object holding every match column";
      return true;
    }
    row.key = keyOf(keyRow, spec_.matchColumns);
    if (row.key.empty()) {
      row.invalid = "the key has no value for match column(s) " + joinIdentifiers(spec_.matchColumns);
      return true;
    }
    if (auto e = checkValues(keyRow); !e.empty()) {
      row.invalid = e;
      return true;
    }
    row.data = keyElement(spec_.matchColumns, keyRow);
    row.size = percentEncode(row.data).size() + 3;
    return true;
  }

  std::optional<std::size_t> totalRows() const override { return total_; }
  std::size_t maxBytes() const override { return urlBudget(client_, spec_.table, spec_.maxUrlBytes, select_); }

  HttpRequest request(const Work& work) const override {
    Params params;
    keyFilter(spec_.matchColumns, work.rows, params);
    params.emplace_back("select", select_);
    return client_.makeRequest("DELETE", spec_.table, params, preferOf(true, {}), {});
  }

  void accept(const Work& work, const HttpResponse& response, Outcome& out) const override {
    matchReturned(work, response, spec_.matchColumns, spec_.returning, work.afterUnknown, out);
  }

  bool idempotent() const override { return true; }
  bool isolatable(const Work&) const override { return true; }
  nlohmann::json rowObject(const WorkRow& row) const override { return keyObject(row, spec_.matchColumns); }

  // Room left for keys in a URL of at most @p maxUrl bytes.
  static std::size_t urlBudget(const ClientState& client, const std::string& table, std::size_t maxUrl,
                               const std::string& select) {
    std::size_t fixed = client.baseUrl().size() + percentEncode(table).size() + percentEncode(select).size() + 64;
    return maxUrl > fixed + 64 ? maxUrl - fixed : 64;
  }

  // The key of a WorkRow as an object, for locating a row from an error's details.
  static nlohmann::json keyObject(const WorkRow& row, const std::vector<std::string>& columns) {
    nlohmann::json obj = nlohmann::json::object();
    std::size_t start = 0;
    for (std::size_t i = 0; i < columns.size(); ++i) {
      auto end = row.key.find(kKeySeparator, start);
      obj[columns[i]] = row.key.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return obj;
  }

 private:
  const ClientState& client_;
  DeleteSpec spec_;
  RowSource source_;
  std::optional<std::size_t> total_;
  std::size_t next_ = 0;
  std::string select_;
};

// ---------------------------------------------------------------------------------------------
// bulkUpdate. The whole input is planned up front: rows are grouped by identical new values
// (one PATCH ?key=in.(...) per group), the rest go one PATCH each; a key repeated in the input is
// applied in input order (its later rows come in a later wave, after the earlier one finished).
class UpdateOperation final : public BulkOperation {
 public:
  UpdateOperation(const ClientState& client, UpdateSpec spec, RowSource source, std::optional<std::size_t> total)
      : client_(client), spec_(std::move(spec)), total_(total) {
    checkIdentifier(spec_.table, "table name");
    if (spec_.matchColumns.empty()) throw std::invalid_argument("pgrestify: matchColumn must not be empty");
    for (const auto& c : spec_.matchColumns) checkIdentifier(c, "matchColumn");
    select_ = selectWith(spec_.select, spec_.matchColumns, spec_.returning);
    plan(source);
  }

  bool nextRow(WorkRow& row) override {
    if (cursor_ >= planned_.size()) return false;
    row = std::move(planned_[cursor_++]);
    return true;
  }

  std::optional<std::size_t> totalRows() const override { return total_; }
  std::size_t maxBytes() const override {
    if (spec_.strategy == UpdateStrategy::Upsert) return spec_.maxBatchBytes;
    return DeleteOperation::urlBudget(client_, spec_.table, spec_.maxUrlBytes, select_);
  }

  HttpRequest request(const Work& work) const override {
    if (spec_.strategy == UpdateStrategy::Upsert) {
      Params params;
      params.emplace_back("columns", joinIdentifiers(keySets_.columnsOf(work.rows)));
      params.emplace_back("on_conflict", joinIdentifiers(spec_.matchColumns));
      if (spec_.returning) params.emplace_back("select", spec_.select.empty() ? "*" : spec_.select);
      std::string body = "[";
      for (std::size_t i = 0; i < work.rows.size(); ++i) {
        if (i) body.push_back(',');
        body += upsertRows_[work.rows[i].aux];
      }
      body.push_back(']');
      return client_.makeRequest("POST", spec_.table, params, preferOf(spec_.returning, "resolution=merge-duplicates"),
                                 std::move(body));
    }
    Params params;
    keyFilter(spec_.matchColumns, work.rows, params);
    params.emplace_back("select", select_);
    return client_.makeRequest("PATCH", spec_.table, params, preferOf(true, {}), payloads_[work.rows.front().aux]);
  }

  void accept(const Work& work, const HttpResponse& response, Outcome& out) const override {
    if (spec_.strategy == UpdateStrategy::Upsert) {
      out.successful = work.rows.size();
      if (spec_.returning) out.data = parseRows(response.body);
      return;
    }
    matchReturned(work, response, spec_.matchColumns, spec_.returning, false, out);
  }

  bool idempotent() const override { return true; }  // absolute values: applying twice is harmless
  bool isolatable(const Work& work) const override {
    // Rows sharing one payload fail together; splitting them cannot help (keys aside).
    return spec_.strategy == UpdateStrategy::Upsert || work.rows.size() < 2;
  }
  nlohmann::json rowObject(const WorkRow& row) const override {
    if (spec_.strategy == UpdateStrategy::Upsert) return BulkOperation::rowObject(WorkRow{0, upsertRows_[row.aux]});
    return DeleteOperation::keyObject(row, spec_.matchColumns);
  }

 private:
  struct Input {
    std::size_t index;
    std::string key;
    std::string element;  // key element for the filter
    std::uint32_t payload;
    std::uint32_t wave;
    std::uint32_t keySet;
    std::string invalid;
  };

  void plan(const RowSource& source) {
    std::vector<Input> inputs;
    std::unordered_map<std::string, std::uint32_t> payloadIds;
    std::unordered_map<std::string, std::uint32_t> occurrences;
    std::vector<std::size_t> payloadCount;
    nlohmann::json j;
    std::size_t index = 0;
    while (source(j)) {
      Input in{index++, {}, {}, 0, 0, 0, {}};
      if (!j.is_object()) {
        in.invalid = "an update row must be a JSON object";
      } else if (in.key = keyOf(j, spec_.matchColumns); in.key.empty()) {
        in.invalid = "the row has no value for match column(s) " + joinIdentifiers(spec_.matchColumns) +
                     " (refusing to update without a key)";
      } else if (auto e = checkValues(j); !e.empty()) {
        in.invalid = e;
      } else {
        in.element = keyElement(spec_.matchColumns, j);
        in.wave = occurrences[in.key]++;
        if (spec_.strategy == UpdateStrategy::Upsert) {
          std::string text;
          in.invalid = serializeRow(j, text);
          in.keySet = keySets_.intern(j);
          in.payload = static_cast<std::uint32_t>(upsertRows_.size());
          upsertRows_.push_back(std::move(text));
        } else {
          nlohmann::json payload = j;
          for (const auto& c : spec_.matchColumns) payload.erase(c);
          std::string text;
          if (payload.empty()) {
            in.invalid = "the row has no columns to update besides the match column(s)";
          } else if (in.invalid = serializeRow(payload, text); in.invalid.empty()) {
            auto [it, added] = payloadIds.emplace(text, static_cast<std::uint32_t>(payloads_.size()));
            if (added) {
              payloads_.push_back(std::move(text));
              payloadCount.push_back(0);
            }
            in.payload = it->second;
            ++payloadCount[in.payload];
          }
        }
      }
      inputs.push_back(std::move(in));
    }

    // Order: wave by wave; inside a wave, grouped payloads first (in order of first appearance),
    // then the single rows. Rows of one group share a `group` id so the engine batches them.
    std::uint32_t maxWave = 0;
    for (const auto& in : inputs) maxWave = std::max(maxWave, in.wave);
    std::uint32_t nextGroup = 0;
    planned_.reserve(inputs.size());
    for (const auto& in : inputs) {
      if (!in.invalid.empty()) planned_.push_back(WorkRow{in.index, {}, {}, 0, 0, 0, in.invalid});
    }
    for (std::uint32_t wave = 0; wave <= maxWave; ++wave) {
      std::unordered_map<std::uint64_t, std::vector<const Input*>> byGroup;
      std::vector<std::uint64_t> order;
      for (const auto& in : inputs) {
        if (!in.invalid.empty() || in.wave != wave) continue;
        std::uint64_t groupKey;
        if (spec_.strategy == UpdateStrategy::Upsert) {
          groupKey = in.keySet;
        } else if (spec_.strategy == UpdateStrategy::PerRow || payloadCount[in.payload] < 2) {
          groupKey = (std::uint64_t{1} << 40) + in.index;  // alone
        } else {
          groupKey = in.payload;
        }
        auto [it, added] = byGroup.try_emplace(groupKey);
        if (added) order.push_back(groupKey);
        it->second.push_back(&in);
      }
      for (auto g : order) {
        const std::uint32_t group = nextGroup++;
        for (const Input* in : byGroup[g]) {
          WorkRow row;
          row.index = in->index;
          row.key = in->key;
          row.group = group;
          row.aux = in->payload;
          if (spec_.strategy == UpdateStrategy::Upsert) {
            row.size = upsertRows_[in->payload].size() + 1;
          } else {
            row.data = in->element;
            row.size = percentEncode(row.data).size() + 3;
          }
          planned_.push_back(std::move(row));
        }
      }
    }
  }

  const ClientState& client_;
  UpdateSpec spec_;
  std::optional<std::size_t> total_;
  std::string select_;
  std::vector<std::string> payloads_;    // distinct PATCH bodies
  std::vector<std::string> upsertRows_;  // Upsert strategy: serialized rows
  KeySets keySets_;
  std::vector<WorkRow> planned_;
  std::size_t cursor_ = 0;
};

}  // namespace

std::string serializeRow(const nlohmann::json& row, std::string& out) {
  if (!row.is_object()) return "a row must be a JSON object";
  if (auto e = checkValues(row); !e.empty()) return e;
  try {
    out = row.dump();
  } catch (const nlohmann::json::type_error&) {
    return "the row holds a string that is not valid UTF-8";
  }
  return {};
}

std::unique_ptr<BulkOperation> makeInsertOperation(const ClientState& client, InsertSpec spec, RowSource source,
                                                   std::optional<std::size_t> total) {
  return std::make_unique<InsertOperation>(client, std::move(spec), std::move(source), total);
}
std::unique_ptr<BulkOperation> makeUpdateOperation(const ClientState& client, UpdateSpec spec, RowSource source,
                                                   std::optional<std::size_t> total) {
  return std::make_unique<UpdateOperation>(client, std::move(spec), std::move(source), total);
}
std::unique_ptr<BulkOperation> makeDeleteOperation(const ClientState& client, DeleteSpec spec, RowSource source,
                                                   std::optional<std::size_t> total) {
  return std::make_unique<DeleteOperation>(client, std::move(spec), std::move(source), total);
}

}  // namespace pgrestify::detail
