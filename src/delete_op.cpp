// SPDX-License-Identifier: MIT
// bulkDelete: DELETE ?key=in.(...) per batch, cut by count and URL length.
#include "ops_common.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace pgrestify::detail {

namespace {

class DeleteOperation final : public BulkOperation, public ResultNotes {
 public:
  DeleteOperation(const ClientState& client, DeleteSpec spec, RowSource source, std::optional<std::size_t> total)
      : client_(client),
        spec_(std::move(spec)),
        source_(std::move(source)),
        total_(total),
        matcher_(client, spec_.table, spec_.matchColumns) {
    checkIdentifier(spec_.table, "table name");
    // matchColumns and maxUrlBytes were checked by detail::validate (src/options.cpp).
    select_ = selectWith(spec_.select, spec_.matchColumns, spec_.returning);
    budget_ = urlBudget(client_, spec_.table, spec_.maxUrlBytes, select_);
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
    if (auto e = checkKeyValues(keyRow, spec_.matchColumns); !e.empty()) {
      row.invalid = e;
      return true;
    }
    row.data = keyElement(spec_.matchColumns, keyRow);
    row.size = percentEncode(row.data).size() + 3;
    row.invalid = keyFitsUrl(row.data, budget_);
    if (!row.invalid.empty()) row.data.clear();
    return true;
  }

  std::optional<std::size_t> totalRows() const override { return total_; }
  std::size_t maxBytes() const override { return budget_; }

  HttpRequest request(const Work& work) const override {
    Params params;
    keyFilter(spec_.matchColumns, work.rows, params);
    params.emplace_back("select", select_);
    return client_.makeRequest("DELETE", spec_.table, params, preferOf(true, {}), {}, spec_.headers);
  }

  void accept(const Work& work, const HttpResponse& response, Outcome& out) const override {
    ExpectedAnswer expected;
    expected.status = 200;  // DELETE with return=representation (the match columns at least)
    expected.body = true;
    matcher_.match(work, readAnswer(response, expected), spec_.returning, work.afterUnknown, out);
    // notFoundOk: a key that matches no row is done (the engine counts the rest successful).
    if (spec_.notFoundOk) out.notFound.clear();
  }

  void annotate(BulkResult<nlohmann::json>& result) const override {
    addReturningHint(result, "bulkDelete reads back the match columns of the deleted rows to tell which keys matched");
  }

  bool idempotent() const override { return true; }
  bool isolatable(const Work&) const override { return true; }
  nlohmann::json rowObject(const WorkRow& row) const override { return keyObject(row, spec_.matchColumns); }

 private:
  const ClientState& client_;
  DeleteSpec spec_;
  RowSource source_;
  std::optional<std::size_t> total_;
  std::size_t next_ = 0;
  std::string select_;
  std::size_t budget_ = 0;  // URL room for keys
  KeyMatcher matcher_;
};

}  // namespace

std::unique_ptr<BulkOperation> makeDeleteOperation(const ClientState& client, DeleteSpec spec, RowSource source,
                                                   std::optional<std::size_t> total) {
  return std::make_unique<DeleteOperation>(client, std::move(spec), std::move(source), total);
}

}  // namespace pgrestify::detail
