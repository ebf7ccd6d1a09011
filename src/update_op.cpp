// SPDX-License-Identifier: MIT
// bulkUpdate: grouped PATCH ?key=in.(...), single-row PATCH, the server-side function
// (sql/pgrestify_bulk_update.sql) or the opt-in upsert strategy.
#include "ops_common.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace pgrestify::detail {

namespace {

// ---------------------------------------------------------------------------------------------
// bulkUpdate. The whole input is planned up front. PATCH strategies: rows are grouped by
// identical new values (one PATCH ?key=in.(...) per group), the rest go one PATCH each. Function
// strategy: rows with the same columns share one POST /rpc/pgrestify_bulk_update. Upsert: rows
// with the same columns share one POST. A key repeated in the input is applied in input order
// (its later rows come in a later wave, after the earlier one finished).

/// The name of the server-side function of UpdateStrategy::Function (sql/pgrestify_bulk_update.sql).
constexpr const char* kBulkUpdateFunction = "pgrestify_bulk_update";
/// Auto asks whether the function is exposed (one GET of the description per client) only when
/// at least this many rows would otherwise need a PATCH of their own: below it, the PATCHes cost
/// about what the question does.
constexpr std::size_t kFunctionMinSingleRows = 8;

/// How the rows of one request are sent (the strategy, resolved: Auto becomes one of the others).
enum class Route { Patch, Function, Upsert };

class UpdateOperation final : public BulkOperation, public ResultNotes {
 public:
  UpdateOperation(const ClientState& client, UpdateSpec spec, RowSource source, std::optional<std::size_t> total)
      : client_(client), spec_(std::move(spec)), total_(total), matcher_(client, spec_.table, spec_.matchColumns) {
    checkIdentifier(spec_.table, "table name");
    // matchColumns, maxUrlBytes and maxBatchBytes were checked by detail::validate (src/options.cpp);
    // `select` here may be the query builder's, so the Function strategy's condition on it is checked here.
    if (spec_.strategy == UpdateStrategy::Function && !functionSelects()) {
      throw std::invalid_argument(
          "pgrestify: UpdateStrategy::Function returns whole rows; `select` must be empty or \"*\"");
    }
    select_ = selectWith(spec_.select, spec_.matchColumns, spec_.returning);
    plan(source);
  }

  bool nextRow(WorkRow& row) override {
    if (cursor_ >= planned_.size()) return false;
    row = std::move(planned_[cursor_++]);
    return true;
  }

  std::optional<std::size_t> totalRows() const override { return total_; }
  std::size_t maxBytes() const override { return budget_; }

  HttpRequest request(const Work& work) const override {
    if (route_ == Route::Upsert) return insertRequest(client_, upsertOf(spec_), keySets_, work);
    if (route_ == Route::Function) {
      std::string body = R"({"target_table":)" + nlohmann::json(spec_.table).dump() + R"(,"key_columns":)" +
                         nlohmann::json(spec_.matchColumns).dump() + R"(,"return_rows":)" +
                         (spec_.returning ? "true" : "false") + R"(,"rows":)" + joinRows(work.rows, work.bytes) + "}";
      HttpRequest req = client_.makeRequest("POST", "", {}, {}, std::move(body), spec_.headers);
      req.url = client_.baseUrl() + "/rpc/" + kBulkUpdateFunction;
      return req;
    }
    const Group& group = groups_.at(work.rows.front().group);
    Params params;
    keyFilter(spec_.matchColumns, work.rows, params);
    params.emplace_back("select", select_);
    return client_.makeRequest("PATCH", spec_.table, params, preferOf(true, {}), payloads_.at(group.payload),
                               spec_.headers);
  }

  void accept(const Work& work, const HttpResponse& response, Outcome& out) const override {
    ExpectedAnswer expected;
    if (route_ == Route::Upsert) {
      expected.status = 201;
      expected.otherStatus = 200;  // merge-duplicates: 200 when no row was newly inserted
      expected.body = spec_.returning;
      expected.maxCount = work.rows.size();
      Answer answer = readAnswer(response, expected);
      // As for inserts: what PostgreSQL reports, never more (a trigger may discard rows).
      out.successful = answer.count;
      out.skipped = work.rows.size() - answer.count;
      if (spec_.returning) out.data = std::move(answer.rows);
      return;
    }
    if (route_ == Route::Function) {
      matcher_.match(work, functionAnswer(response, work.rows.size()), spec_.returning, false, out);
      return;
    }
    expected.status = 200;  // PATCH with return=representation (the match columns at least)
    expected.body = true;
    matcher_.match(work, readAnswer(response, expected), spec_.returning, false, out);
  }

  void annotate(BulkResult<nlohmann::json>& result) const override {
    if (route_ == Route::Upsert) {
      if (result.skipped > 0) {
        result.warnings.push_back(std::to_string(result.skipped) +
                                  " row(s) were accepted without an error but PostgreSQL did not report them as "
                                  "written (a trigger discarded them); they are counted in `skipped`");
      }
      if (spec_.returning) {
        addReturningHint(result,
                         "the rows were asked back (returning): write them with returning = false, or through a "
                         "repository from withoutReadBack()");
      }
      return;
    }
    if (route_ == Route::Function) {
      addReturningHint(result,
                       "bulkUpdate through pgrestify_bulk_update reads back the key columns of the updated rows "
                       "(UPDATE ... RETURNING, to tell which keys matched), so an updated row must stay visible to "
                       "the SELECT policy; the Upsert strategy with returning = false reads nothing back");
      return;
    }
    addReturningHint(result,
                     "bulkUpdate by PATCH always reads back the match columns of the updated rows (to tell which keys "
                     "matched), so an updated row must stay visible to the SELECT policy; the Upsert strategy with "
                     "returning = false reads nothing back");
  }

  bool idempotent() const override { return true; }  // absolute values: applying twice is harmless
  // A grouped PATCH (or a function call) fails as a whole, but the cause may be one row (a bad
  // key, a constraint or trigger that depends on the row's other columns): splitting finds it, as
  // per-row PATCHes would.
  bool isolatable(const Work&) const override { return true; }
  nlohmann::json rowObject(const WorkRow& row) const override {
    if (route_ != Route::Patch) return BulkOperation::rowObject(row);
    return keyObject(row, spec_.matchColumns);
  }
  // UPDATE ... RETURNING returns rows in scan order, not in the order of the body.
  bool dataFollowsRows(const HttpRequest& request) const override {
    return route_ == Route::Upsert && BulkOperation::dataFollowsRows(request);
  }

 private:
  /// One input row, read and checked.
  struct Input {
    std::size_t index = 0;
    std::string key;            ///< keyOf() the match columns
    std::string element;        ///< PATCH: key element for the filter
    std::string text;           ///< Function/Upsert: the row as sent
    std::uint32_t payload = 0;  ///< PATCH: id of the new values (payloads_)
    std::uint32_t keySet = 0;   ///< id of the row's column set (keySets_)
    std::uint32_t wave = 0;     ///< earlier rows with the same key
    std::string invalid;        ///< non-empty: refused before sending (InvalidRow)
  };
  /// What the rows of one group (WorkRow::group) share.
  struct Group {
    std::uint32_t payload = 0;  ///< PATCH: the body (payloads_)
  };

  bool functionSelects() const { return !spec_.returning || spec_.select.empty() || spec_.select == "*"; }

  // The answer of pgrestify_bulk_update: 200 and a JSON array of objects (the updated rows' keys,
  // or whole rows), no more than the rows sent.
  static Answer functionAnswer(const HttpResponse& response, std::size_t sent) {
    auto notOurs = [&](const std::string& got) {
      return std::runtime_error("the answer is not PostgREST's: expected status 200 and a JSON array of at most " +
                                std::to_string(sent) + " objects from /rpc/" + kBulkUpdateFunction + ", got " + got);
    };
    if (response.status != 200) throw notOurs("status " + std::to_string(response.status));
    auto body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_array()) throw notOurs("a body that is not a JSON array");
    if (body.size() > sent) throw notOurs(std::to_string(body.size()) + " rows");
    Answer answer;
    answer.rows.reserve(body.size());
    for (auto& row : body) {
      if (!row.is_object()) throw notOurs("an array element that is not an object");
      answer.rows.push_back(std::move(row));
    }
    answer.count = answer.rows.size();
    return answer;
  }

  Input readRow(nlohmann::json& j, std::size_t index, std::unordered_map<std::string, std::uint32_t>& occurrences,
                std::unordered_map<std::string, std::uint32_t>& payloadIds) {
    Input in;
    in.index = index;
    if (!j.is_object()) {
      in.invalid = "an update row must be a JSON object";
      return in;
    }
    in.key = keyOf(j, spec_.matchColumns);
    if (in.key.empty()) {
      in.invalid = "the row has no value for match column(s) " + joinIdentifiers(spec_.matchColumns) +
                   " (refusing to update without a key)";
      return in;
    }
    if (in.invalid = checkValues(j); !in.invalid.empty()) return in;
    if (in.invalid = checkKeyValues(j, spec_.matchColumns); !in.invalid.empty()) return in;
    if (j.size() <= spec_.matchColumns.size()) {
      in.invalid = "the row has no columns to update besides the match column(s)";
      return in;
    }
    in.wave = occurrences[in.key]++;
    // Every route may be taken (Auto decides after reading the input): keep what each needs.
    if (spec_.strategy == UpdateStrategy::Auto || spec_.strategy == UpdateStrategy::PerRow) {
      in.element = keyElement(spec_.matchColumns, j);
      nlohmann::json payload = j;
      for (const auto& c : spec_.matchColumns) payload.erase(c);
      std::string text;
      if (in.invalid = serializeRow(payload, text); !in.invalid.empty()) return in;
      auto [it, added] = payloadIds.emplace(std::move(text), static_cast<std::uint32_t>(payloads_.size()));
      if (added) {
        payloads_.push_back(it->first);
        payloadCount_.push_back(0);
      }
      in.payload = it->second;
      ++payloadCount_[in.payload];
    }
    if (spec_.strategy != UpdateStrategy::PerRow) {
      if (in.invalid = serializeRow(j, in.text); !in.invalid.empty()) return in;
      in.keySet = keySets_.intern(j);
    }
    return in;
  }

  // Resolves Auto: the function when PostgREST exposes it and enough rows would go alone.
  Route chooseRoute(const std::vector<Input>& inputs) const {
    switch (spec_.strategy) {
      case UpdateStrategy::Upsert:
        return Route::Upsert;
      case UpdateStrategy::Function:
        return Route::Function;
      case UpdateStrategy::PerRow:
        return Route::Patch;
      case UpdateStrategy::Auto:
        break;
    }
    if (!functionSelects()) return Route::Patch;
    std::size_t alone = 0;
    for (const auto& in : inputs) {
      if (in.invalid.empty() && payloadCount_[in.payload] < 2) ++alone;
    }
    if (alone < kFunctionMinSingleRows) return Route::Patch;
    return client_.exposesFunction(kBulkUpdateFunction) ? Route::Function : Route::Patch;
  }

  void plan(const RowSource& source) {
    std::vector<Input> inputs;
    {
      std::unordered_map<std::string, std::uint32_t> occurrences;
      std::unordered_map<std::string, std::uint32_t> payloadIds;
      nlohmann::json j;
      std::size_t index = 0;
      while (source(j)) inputs.push_back(readRow(j, index++, occurrences, payloadIds));
    }
    route_ = chooseRoute(inputs);
    budget_ =
        route_ == Route::Patch ? urlBudget(client_, spec_.table, spec_.maxUrlBytes, select_) : spec_.maxBatchBytes;
    if (route_ == Route::Patch) {
      for (auto& in : inputs) {
        if (in.invalid.empty()) in.invalid = keyFitsUrl(in.element, budget_);  // the key alone may not fit a URL
      }
    }

    planned_.reserve(inputs.size());
    std::uint32_t maxWave = 0;
    for (const auto& in : inputs) {
      if (!in.invalid.empty()) {
        planned_.push_back(WorkRow{.index = in.index, .invalid = in.invalid});
      } else {
        maxWave = std::max(maxWave, in.wave);
      }
    }
    // Wave by wave; inside a wave, groups in order of first appearance (PATCH: the grouped
    // payloads, each row alone when its payload is unique or PerRow; Function/Upsert: one group
    // per column set). The engine never puts rows of two groups in one request.
    for (std::uint32_t wave = 0; wave <= maxWave; ++wave) {
      std::unordered_map<std::uint64_t, std::vector<Input*>> byGroup;
      std::vector<std::uint64_t> order;
      for (auto& in : inputs) {
        if (!in.invalid.empty() || in.wave != wave) continue;
        std::uint64_t groupKey = in.keySet;
        if (route_ == Route::Patch) {
          const bool alone = spec_.strategy == UpdateStrategy::PerRow || payloadCount_[in.payload] < 2;
          groupKey = alone ? (std::uint64_t{1} << 40) + in.index : in.payload;
        }
        auto [it, added] = byGroup.try_emplace(groupKey);
        if (added) order.push_back(groupKey);
        it->second.push_back(&in);
      }
      for (auto g : order) {
        const auto& members = byGroup[g];
        groups_.push_back(Group{.payload = members.front()->payload});
        for (Input* in : members) planned_.push_back(workRow(*in, static_cast<std::uint32_t>(groups_.size() - 1)));
      }
    }
  }

  WorkRow workRow(Input& in, std::uint32_t group) const {
    WorkRow row;
    row.index = in.index;
    row.key = std::move(in.key);
    row.group = group;
    if (route_ == Route::Patch) {
      row.data = std::move(in.element);
      row.size = percentEncode(row.data).size() + 3;
    } else {
      row.data = std::move(in.text);  // the row itself is the body element
      row.aux = in.keySet;            // its `columns=` (insertRequest)
      row.size = row.data.size() + 1;
    }
    return row;
  }

  const ClientState& client_;
  UpdateSpec spec_;
  std::optional<std::size_t> total_;
  std::string select_;
  Route route_ = Route::Patch;
  std::size_t budget_ = 0;                 // maxBytes(): URL room for keys, or body bytes
  std::vector<std::string> payloads_;      // PATCH: distinct bodies
  std::vector<std::size_t> payloadCount_;  // PATCH: rows per body
  KeySets keySets_;                        // column sets of the rows
  std::vector<Group> groups_;              // by WorkRow::group
  std::vector<WorkRow> planned_;
  std::size_t cursor_ = 0;
  KeyMatcher matcher_;
};

}  // namespace

std::unique_ptr<BulkOperation> makeUpdateOperation(const ClientState& client, UpdateSpec spec, RowSource source,
                                                   std::optional<std::size_t> total) {
  return std::make_unique<UpdateOperation>(client, std::move(spec), std::move(source), total);
}

}  // namespace pgrestify::detail
