// SPDX-License-Identifier: MIT
// The four bulk operations as BulkOperation implementations (src/insert_op.cpp, src/update_op.cpp,
// src/delete_op.cpp). They only turn rows into requests and answers into outcomes; batching,
// retries and aggregation are the engine's (src/bulk_engine.hpp). Internal: not installed.
#pragma once

#include "bulk_engine.hpp"

#include <pgrestify/detail/bulk_ops.hpp>

#include <memory>
#include <optional>

namespace pgrestify::detail {

std::unique_ptr<BulkOperation> makeInsertOperation(const ClientState& client, InsertSpec spec, RowWriterSource source,
                                                   std::optional<std::size_t> total);
std::unique_ptr<BulkOperation> makeUpdateOperation(const ClientState& client, UpdateSpec spec, RowSource source,
                                                   std::optional<std::size_t> total);
std::unique_ptr<BulkOperation> makeDeleteOperation(const ClientState& client, DeleteSpec spec, RowSource source,
                                                   std::optional<std::size_t> total);

/// Runs @p op through the engine (runBulk) and adds what the operation has to say about the
/// outcome: `warnings` (rows accepted but not reported written) and hints (row-level security and
/// RETURNING). What runInsert/runUpdate/runDelete use.
BulkResult<nlohmann::json> runOperation(Transport& transport, BulkOperation& op, const EngineSettings& settings);

/// Runs @p op with the checks of a call (ClientState::runBulk, so with the client's hooks): for a
/// dry run, first proves that the server honours `Prefer: tx=rollback` (once per client) and throws
/// std::invalid_argument naming PostgREST's `db-tx-end` setting when it does not (Error/TransportError
/// when the check itself fails), then sends every request with `tx=rollback` and fails
/// (outcomeUnknown) the rows of any 2xx answer whose `Preference-Applied` does not list it. Rows the
/// validator refused are InvalidRow.
BulkResult<nlohmann::json> runChecked(const ClientState& client, BulkOperation& op, const EngineSettings& settings,
                                      const RowChecks& checks);

}  // namespace pgrestify::detail
