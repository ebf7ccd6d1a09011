// SPDX-License-Identifier: MIT
// How rows become batches: see the top of src/batch_planner.hpp.
#include "batch_planner.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace pgrestify::detail {

BatchPlanner::BatchPlanner(std::size_t batchSize, std::size_t maxBytes) : batchSize_(batchSize), maxBytes_(maxBytes) {}

std::optional<Work> BatchPlanner::add(WorkRow row) { return place(std::move(row)); }

std::optional<Work> BatchPlanner::next() {
  if (carry_) {
    WorkRow row = std::move(*carry_);
    carry_.reset();
    if (auto w = place(std::move(row))) return w;
  }
  if (inputEnded_ && !pending_.empty()) return cut(oldestPending());
  return std::nullopt;
}

// Puts @p row in its group's pending batch, or cuts a batch first (the row is then carried).
std::optional<Work> BatchPlanner::place(WorkRow&& r) {
  if (!r.key.empty()) {
    auto held = pendingKey_.find(r.key);
    if (held != pendingKey_.end() && held->second != r.group) {
      carry_ = std::move(r);
      return cut(held->second);
    }
  }
  const std::uint32_t group = r.group;
  if (!lastPending_ || lastGroup_ != group) {  // consecutive rows nearly always share their group
    lastPending_ = &pending_[group];
    lastGroup_ = group;
  }
  auto& p = *lastPending_;
  if (!p.work.rows.empty() && (p.work.rows.size() >= batchSize_ || p.work.bytes + r.size > maxBytes_ ||
                               (!r.key.empty() && p.keys.count(r.key)))) {
    carry_ = std::move(r);
    return cut(group);
  }
  if (!r.key.empty()) {
    if (keyOwner_.count(r.key)) p.work.barrier = true;
    p.keys.insert(r.key);
    pendingKey_[r.key] = group;
  }
  p.work.bytes += r.size;
  p.work.rows.push_back(std::move(r));
  ++pendingRows_;
  if (p.work.rows.size() >= batchSize_) return cut(group);
  if (pendingRows_ >= batchSize_ || pending_.size() > kMaxPendingGroups) return cut(oldestPending());
  return std::nullopt;
}

// The pending group whose batch holds the earliest input row.
std::uint32_t BatchPlanner::oldestPending() const {
  auto oldest = pending_.begin();
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->second.work.rows.front().index < oldest->second.work.rows.front().index) oldest = it;
  }
  return oldest->first;
}

Work BatchPlanner::cut(std::uint32_t group) {
  if (lastGroup_ == group) lastPending_ = nullptr;
  auto node = pending_.extract(group);
  Work w = std::move(node.mapped().work);
  for (const auto& key : node.mapped().keys) pendingKey_.erase(key);
  pendingRows_ -= w.rows.size();
  w.family = nextIndex_++;
  sortByKey(w.rows);
  auto& keys = unfinished_[w.family];
  for (const auto& r : w.rows) {
    if (r.key.empty()) continue;
    keyOwner_[r.key] = w.family;
    keys.push_back(r.key);
  }
  return w;
}

// Lock ordering (issue #20): the rows of a batch are sent in ascending order of their key, so
// that two writers of overlapping keys (two processes, two threads) lock rows in one order and
// cannot deadlock each other on them. Rows without a key keep their places; which rows share a
// batch does not change, and rows are accounted by WorkRow::index.
void BatchPlanner::sortByKey(std::vector<WorkRow>& rows) {
  std::vector<std::size_t> slots;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].key.empty()) slots.push_back(i);
  }
  if (slots.size() < 2) return;
  std::vector<WorkRow> keyed;
  keyed.reserve(slots.size());
  for (std::size_t i : slots) keyed.push_back(std::move(rows[i]));
  std::stable_sort(keyed.begin(), keyed.end(), [](const WorkRow& a, const WorkRow& b) { return a.key < b.key; });
  for (std::size_t k = 0; k < slots.size(); ++k) rows[slots[k]] = std::move(keyed[k]);
}

bool BatchPlanner::mustWait(const Work& batch) const {
  return batch.barrier && !unfinished_.empty() && unfinished_.begin()->first < batch.family;
}

void BatchPlanner::finished(std::uint64_t index) {
  auto it = unfinished_.find(index);
  if (it == unfinished_.end()) return;
  for (const auto& k : it->second) {
    auto owner = keyOwner_.find(k);
    if (owner != keyOwner_.end() && owner->second == index) keyOwner_.erase(owner);
  }
  unfinished_.erase(it);
}

}  // namespace pgrestify::detail
