// SPDX-License-Identifier: MIT
// bulkUpdate: grouped PATCH ?key=in.(...), single-row PATCH, or the opt-in upsert strategy.
#include "ops_common.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace pgrestify::detail {

namespace {

// ---------------------------------------------------------------------------------------------
// bulkUpdate. The whole input is planned up front: rows are grouped by identical new values
// (one PATCH ?key=in.(...) per group), the rest go one PATCH each; a key repeated in the input is
// applied in input order (its later rows come in a later wave, after the earlier one finished).
class UpdateOperation final : public BulkOperation, public ResultNotes {
 public:
  UpdateOperation(const ClientState& client, UpdateSpec spec, RowSource source, std::optional<std::size_t> total)
      : client_(client), spec_(std::move(spec)), total_(total), matcher_(client, spec_.table, spec_.matchColumns) {
    checkIdentifier(spec_.table, "table name");
    checkMatchColumns(spec_.matchColumns);
    if (spec_.maxUrlBytes == 0) throw std::invalid_argument("pgrestify: maxUrlBytes must be greater than 0");
    if (spec_.maxBatchBytes == 0) throw std::invalid_argument("pgrestify: maxBatchBytes must be greater than 0");
    select_ = selectWith(spec_.select, spec_.matchColumns, spec_.returning);
    budget_ = spec_.strategy == UpdateStrategy::Upsert ? spec_.maxBatchBytes
                                                       : urlBudget(client_, spec_.table, spec_.maxUrlBytes, select_);
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
    if (spec_.strategy == UpdateStrategy::Upsert) return insertRequest(client_, upsertOf(spec_), keySets_, work);
    Params params;
    keyFilter(spec_.matchColumns, work.rows, params);
    params.emplace_back("select", select_);
    return client_.makeRequest("PATCH", spec_.table, params, preferOf(true, {}), payloads_[work.rows.front().aux],
                               spec_.headers);
  }

  void accept(const Work& work, const HttpResponse& response, Outcome& out) const override {
    ExpectedAnswer expected;
    if (spec_.strategy == UpdateStrategy::Upsert) {
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
    expected.status = 200;  // PATCH with return=representation (the match columns at least)
    expected.body = true;
    matcher_.match(work, readAnswer(response, expected), spec_.returning, false, out);
  }

  void annotate(BulkResult<nlohmann::json>& result) const override {
    if (spec_.strategy == UpdateStrategy::Upsert) {
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
    addReturningHint(result,
                     "bulkUpdate by PATCH always reads back the match columns of the updated rows (to tell which keys "
                     "matched), so an updated row must stay visible to the SELECT policy; the Upsert strategy with "
                     "returning = false reads nothing back");
  }

  bool idempotent() const override { return true; }  // absolute values: applying twice is harmless
  // A grouped PATCH fails as a whole, but the cause may be one row (a bad key, a constraint or
  // trigger that depends on the row's other columns): splitting finds it, as per-row PATCHes would.
  bool isolatable(const Work&) const override { return true; }
  nlohmann::json rowObject(const WorkRow& row) const override {
    if (spec_.strategy == UpdateStrategy::Upsert) return BulkOperation::rowObject(row);
    return keyObject(row, spec_.matchColumns);
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
      Input in{.index = index++};
      if (!j.is_object()) {
        in.invalid = "an update row must be a JSON object";
      } else if (in.key = keyOf(j, spec_.matchColumns); in.key.empty()) {
        in.invalid = "the row has no value for match column(s) " + joinIdentifiers(spec_.matchColumns) +
                     " (refusing to update without a key)";
      } else if (auto e = checkValues(j); !e.empty()) {
        in.invalid = e;
      } else if (auto k = checkKeyValues(j, spec_.matchColumns); !k.empty()) {
        in.invalid = k;
      } else {
        in.element = keyElement(spec_.matchColumns, j);
        in.wave = occurrences[in.key]++;
        if (spec_.strategy != UpdateStrategy::Upsert) in.invalid = keyFitsUrl(in.element, budget_);
        if (!in.invalid.empty()) {
          // the key alone does not fit in a URL
        } else if (spec_.strategy == UpdateStrategy::Upsert) {
          std::string text;
          if (j.size() <= spec_.matchColumns.size()) {
            in.invalid = "the row has no columns to update besides the match column(s)";
          } else {
            in.invalid = serializeRow(j, text);
          }
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
      if (!in.invalid.empty()) planned_.push_back(WorkRow{.index = in.index, .invalid = in.invalid});
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
          if (spec_.strategy == UpdateStrategy::Upsert) {
            // The row itself is the body element; aux is its key set (for `columns=`).
            row.aux = in->keySet;
            row.data = std::move(upsertRows_[in->payload]);
            row.size = row.data.size() + 1;
          } else {
            row.aux = in->payload;
            row.data = in->element;
            row.size = percentEncode(row.data).size() + 3;
          }
          planned_.push_back(std::move(row));
        }
      }
    }
    upsertRows_.clear();  // moved into planned_
    upsertRows_.shrink_to_fit();
  }

  const ClientState& client_;
  UpdateSpec spec_;
  std::optional<std::size_t> total_;
  std::string select_;
  std::size_t budget_ = 0;               // maxBytes(): URL room for keys, or body bytes (Upsert)
  std::vector<std::string> payloads_;    // distinct PATCH bodies
  std::vector<std::string> upsertRows_;  // Upsert strategy: serialized rows
  KeySets keySets_;
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
