// SPDX-License-Identifier: MIT
// The four bulk operations as BulkOperation implementations (src/insert_op.cpp, src/update_op.cpp,
// src/delete_op.cpp). They only turn rows into requests and answers into outcomes; batching,
// retries and aggregation are the engine's.
#pragma once

#include <pgrestify/detail/bulk_engine.hpp>
#include <pgrestify/detail/row_writer.hpp>
#include <pgrestify/options.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgrestify::detail {

class ClientState;

/// Produces the next input row as JSON; returns false at the end of the input.
using RowSource = std::function<bool(nlohmann::json& row)>;
/// Writes the next input row into the string through the RowWriter (see writeRow); returns false
/// at the end of the input. The insert/upsert input.
using RowWriterSource = std::function<bool(RowWriter& writer, std::string& out)>;

/// What the insert/upsert operation needs to know.
struct InsertSpec {
  std::string table;
  OnConflict onConflict = OnConflict::Error;
  std::vector<std::string> conflictColumns;  ///< resolved (primary key filled in when empty)
  Missing missing = Missing::Default;
  bool returning = false;
  std::string select;
  std::size_t maxBatchBytes = kDefaultMaxBatchBytes;
  Headers headers;  ///< the builder's extra headers, sent with every request
};

struct UpdateSpec {
  std::string table;
  std::vector<std::string> matchColumns;
  UpdateStrategy strategy = UpdateStrategy::Auto;
  bool returning = false;
  std::string select;
  std::size_t maxUrlBytes = kDefaultMaxUrlBytes;
  std::size_t maxBatchBytes = kDefaultMaxBatchBytes;
  Headers headers;
};

struct DeleteSpec {
  std::string table;
  std::vector<std::string> matchColumns;
  bool returning = false;
  std::string select;
  std::size_t maxUrlBytes = kDefaultMaxUrlBytes;
  Headers headers;
  bool notFoundOk = false;  ///< keys that match no row count as successful
};

std::unique_ptr<BulkOperation> makeInsertOperation(const ClientState& client, InsertSpec spec, RowWriterSource source,
                                                   std::optional<std::size_t> total);
std::unique_ptr<BulkOperation> makeUpdateOperation(const ClientState& client, UpdateSpec spec, RowSource source,
                                                   std::optional<std::size_t> total);
std::unique_ptr<BulkOperation> makeDeleteOperation(const ClientState& client, DeleteSpec spec, RowSource source,
                                                   std::optional<std::size_t> total);

/// Runs @p op through the engine (runBulk) and adds what the operation has to say about the
/// outcome: `warnings` (rows accepted but not reported written) and hints (row-level security and
/// RETURNING). What the query builder's bulk calls use.
BulkResult<nlohmann::json> runOperation(Transport& transport, BulkOperation& op, const EngineSettings& settings);

/// The `validate` and `dryRun` options of a bulk call (src/ops_common.cpp).
struct RowChecks {
  RowValidator validate;
  bool dryRun = false;
  bool insert = false;  ///< the dry-run check may try `POST []` when the table cannot be read
  std::string table;
  Headers headers;
  /// The validator's messages by input index (set by checkedSource, taken by runChecked's
  /// operation): an operation may read rows ahead of the ones it hands to the engine.
  std::shared_ptr<std::unordered_map<std::size_t, std::string>> verdicts =
      std::make_shared<std::unordered_map<std::size_t, std::string>>();
};
template <class Options>
RowChecks rowChecks(const Options& o, const std::string& table, const Headers& headers, bool insert) {
  RowChecks c;
  c.validate = o.validate;
  c.dryRun = o.dryRun;
  c.insert = insert;
  c.table = table;
  c.headers = headers;
  return c;
}
/// @p source with the checks' validator run on every row it produces (unchanged without one).
RowSource checkedSource(RowSource source, const RowChecks& checks);
RowWriterSource checkedSource(RowWriterSource source, const RowChecks& checks);
/// runOperation with the checks: for a dry run, first proves that the server honours
/// `Prefer: tx=rollback` (once per client) and throws std::invalid_argument naming PostgREST's
/// `db-tx-end` setting when it does not (Error/TransportError when the check itself fails), then
/// sends every request with `tx=rollback` and fails (outcomeUnknown) the rows of any 2xx answer
/// whose `Preference-Applied` does not list it. Rows the validator refused are InvalidRow.
BulkResult<nlohmann::json> runChecked(const ClientState& client, BulkOperation& op, const EngineSettings& settings,
                                      const RowChecks& checks);
/// Whether @p response's `Preference-Applied` lists @p preference (e.g. "tx=rollback").
bool preferenceApplied(const HttpResponse& response, std::string_view preference);

/// Serializes a row for a request body. Returns the error text when the row cannot be sent
/// (not an object, NaN/Infinity, invalid UTF-8), empty on success.
std::string serializeRow(const nlohmann::json& row, std::string& out);

}  // namespace pgrestify::detail
