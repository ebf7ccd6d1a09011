// SPDX-License-Identifier: MIT
// How rows become batches. The batch planner owns: cutting the input rows into batches by row
// count (batchSize) and by bytes (maxBytes), keeping rows of different groups in different
// batches, the order of the rows inside a batch (ascending key, for lock ordering), and the key
// rules that keep two rows of one key from running concurrently (a batch holding a key of an
// earlier unfinished batch is a barrier: it waits until every earlier batch is finished). It
// sends nothing and counts nothing: the engine (src/bulk_engine.cpp) feeds it rows, sends the
// batches it hands out and tells it when each one is finished.
#pragma once

#include "bulk_engine.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace pgrestify::detail {

/// Cuts a row stream into batches (Work), in input order.
///
/// Rows of different groups (an upsert's column sets) never share a batch; when such rows
/// interleave, each group fills its own pending batch, and at most batchSize rows (in at most
/// kMaxPendingGroups groups) are held back before the batch holding the earliest row is cut. Two
/// rows with one key are applied in input order: a row whose key waits in another group's pending
/// batch cuts that batch first, a batch never holds one key twice, and a batch holding a key of an
/// unfinished batch is a barrier (mustWait() until every earlier batch is finished).
///
/// Use: while wantsRow(), add() the next input row (or endInput() at the end of the input); take
/// batches with add()'s result and next(); call finished() when a batch (all its pieces) is done.
class BatchPlanner {
 public:
  static constexpr std::size_t kMaxPendingGroups = 64;

  /// @p batchSize rows at most per batch; @p maxBytes of WorkRow::size summed at most per batch
  /// (a single row larger than that goes alone).
  BatchPlanner(std::size_t batchSize, std::size_t maxBytes);

  /// Whether the planner takes another input row now: the input has not ended and no row is
  /// waiting to be placed (a row that cuts a batch waits until next() is called).
  bool wantsRow() const { return !inputEnded_ && !carry_; }
  /// Feeds the next input row (a valid one; requires wantsRow()). Returns the batch the row cuts,
  /// if any: the row then waits and is placed by the next call of next().
  std::optional<Work> add(WorkRow row);
  /// The end of the input: next() hands out the batches still being filled, earliest row first.
  void endInput() { inputEnded_ = true; }
  /// The next batch that is ready without another input row, if any.
  std::optional<Work> next();

  /// Whether @p batch must wait before it is sent: it is a barrier and an earlier batch is not
  /// finished yet.
  bool mustWait(const Work& batch) const;
  /// Batch @p index (Work::family) is finished, every piece of it: its keys stop making later
  /// batches barriers.
  void finished(std::uint64_t index);

  /// The input ended and every row fed is in a batch handed out.
  bool drained() const { return inputEnded_ && !carry_ && pending_.empty(); }
  /// Rows fed but in no batch handed out yet (not processed when the call stops here).
  std::size_t heldRows() const { return pendingRows_ + (carry_ ? 1 : 0); }
  /// The index the next batch will get (batches are numbered from 0 in the order they are cut).
  std::uint64_t nextIndex() const { return nextIndex_; }

 private:
  struct Pending {
    Work work;
    std::unordered_set<std::string> keys;
  };

  std::optional<Work> place(WorkRow&& row);
  std::uint32_t oldestPending() const;
  Work cut(std::uint32_t group);
  static void sortByKey(std::vector<WorkRow>& rows);

  std::size_t batchSize_;
  std::size_t maxBytes_;
  bool inputEnded_ = false;
  std::optional<WorkRow> carry_;                               // a row that cut a batch, to place next
  std::map<std::uint32_t, Pending> pending_;                   // group -> batch being filled
  std::unordered_map<std::string, std::uint32_t> pendingKey_;  // key -> group of the pending batch holding it
  std::size_t pendingRows_ = 0;
  Pending* lastPending_ = nullptr;  // pending_[lastGroup_], while it exists
  std::uint32_t lastGroup_ = 0;
  std::uint64_t nextIndex_ = 0;
  std::map<std::uint64_t, std::vector<std::string>> unfinished_;  // batches handed out, not finished: their keys
  std::unordered_map<std::string, std::uint64_t> keyOwner_;       // key -> latest unfinished batch holding it
};

}  // namespace pgrestify::detail
