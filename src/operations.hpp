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

}  // namespace pgrestify::detail
