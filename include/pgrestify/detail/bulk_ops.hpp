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

/// Serializes a row for a request body. Returns the error text when the row cannot be sent
/// (not an object, NaN/Infinity, invalid UTF-8), empty on success.
std::string serializeRow(const nlohmann::json& row, std::string& out);

}  // namespace pgrestify::detail
