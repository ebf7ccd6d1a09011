// SPDX-License-Identifier: MIT
// bulkInsert / bulkUpsert: POST with columns=, Prefer resolution/missing, on_conflict.
#include "ops_common.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace pgrestify::detail {

namespace {

class InsertOperation final : public BulkOperation, public ResultNotes {
 public:
  InsertOperation(const ClientState& client, InsertSpec spec, RowWriterSource source, std::optional<std::size_t> total)
      : client_(client),
        spec_(std::move(spec)),
        source_(std::move(source)),
        total_(total),
        writer_(spec_.conflictColumns) {
    // The conflict columns the caller gave were checked by detail::validate (src/options.cpp).
    checkIdentifier(spec_.table, "table name");
  }

  bool nextRow(WorkRow& row) override {
    if (!source_(writer_, row.data)) return false;
    row.index = next_++;
    row.invalid = writer_.invalid();
    if (!row.invalid.empty()) {
      row.data.clear();
      return true;
    }
    row.aux = keySets_.internSignature(writer_.signature());
    row.key = writer_.key();
    // A row without its conflict key cannot conflict: sending it twice writes it twice.
    if (row.key.empty()) keyless_ = true;
    // An upsert updates every column of `columns=`: a column a row lacks would be reset to its
    // DEFAULT (or NULL) on the existing row. Rows with different key sets never share a request.
    if (spec_.onConflict == OnConflict::Update) row.group = row.aux;
    row.size = row.data.size() + 1;  // the row and its comma
    return true;
  }

  std::optional<std::size_t> totalRows() const override { return total_; }
  // The body is `[` + rows joined by `,` + `]`: one byte more than the rows' sizes summed.
  std::size_t maxBytes() const override { return spec_.maxBatchBytes > 1 ? spec_.maxBatchBytes - 1 : 1; }

  HttpRequest request(const Work& work) const override { return insertRequest(client_, spec_, keySets_, work); }

  void accept(const Work& work, const HttpResponse& response, Outcome& out) const override {
    ExpectedAnswer expected;
    expected.status = 201;
    // merge-duplicates: 200 when no row was newly inserted (all updated).
    if (spec_.onConflict == OnConflict::Update) expected.otherStatus = 200;
    expected.body = spec_.returning;
    expected.maxCount = work.rows.size();
    Answer answer = readAnswer(response, expected);
    // What PostgreSQL reports as written, never more. The rest were accepted without an error but
    // not written here: duplicates left alone (Ignore), or rows a BEFORE INSERT trigger discarded
    // or redirected (returning NULL). They are counted skipped; which rows they were is only
    // visible in the returned rows (see annotate()).
    out.successful = answer.count;
    out.skipped = work.rows.size() - answer.count;
    if (spec_.returning) out.data = std::move(answer.rows);
  }

  void annotate(BulkResult<nlohmann::json>& result) const override {
    if (result.skipped > 0) {
      std::string note = std::to_string(result.skipped) +
                         " row(s) were accepted without an error but PostgreSQL did "
                         "not report them as written; they are counted in `skipped`: ";
      if (spec_.onConflict == OnConflict::Ignore) {
        note +=
            "duplicates left alone, or rows a trigger discarded or redirected to another table (a BEFORE "
            "INSERT trigger returning NULL); the two cannot be told apart";
      } else {
        note +=
            "a trigger discarded them or redirected them to another table (a BEFORE INSERT trigger "
            "returning NULL, trigger-based partitioning)";
      }
      if (spec_.returning) note += "; the rows that were written are those in `data`";
      result.warnings.push_back(std::move(note));
    }
    if (spec_.returning) {
      addReturningHint(result,
                       "the rows were asked back (returning): write them with returning = false, or through a "
                       "repository from withoutReadBack(), or let the SELECT policy see them");
    }
  }

  // Sending the batch again leaves the table as one send would only when every row carries its
  // conflict key (ON CONFLICT then sees the first attempt's rows). Checked over the rows read so
  // far, which include every row sent so far.
  bool idempotent() const override { return spec_.onConflict != OnConflict::Error && !keyless_; }
  bool isolatable(const Work&) const override { return true; }

 private:
  const ClientState& client_;
  InsertSpec spec_;
  RowWriterSource source_;
  std::optional<std::size_t> total_;
  RowWriter writer_;  // after spec_: reads spec_.conflictColumns
  std::size_t next_ = 0;
  bool keyless_ = false;
  KeySets keySets_;
};

}  // namespace

std::unique_ptr<BulkOperation> makeInsertOperation(const ClientState& client, InsertSpec spec, RowWriterSource source,
                                                   std::optional<std::size_t> total) {
  return std::make_unique<InsertOperation>(client, std::move(spec), std::move(source), total);
}

}  // namespace pgrestify::detail
