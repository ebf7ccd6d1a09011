// SPDX-License-Identifier: MIT
// The batch planner alone (src/batch_planner.*): how rows become batches, and the ordering
// guarantees the engine relies on (keys never in two concurrent batches, barriers, cutting by rows
// and bytes, groups apart, lock ordering, every row in exactly one batch).
#include "batch_planner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using pgrestify::detail::BatchPlanner;
using pgrestify::detail::Work;
using pgrestify::detail::WorkRow;

namespace {

WorkRow row(std::size_t index, std::string key = "", std::uint32_t group = 0, std::size_t size = 1) {
  WorkRow r;
  r.index = index;
  r.data = "{}";
  r.key = std::move(key);
  r.group = group;
  r.size = size;
  return r;
}

// Drives the planner as the engine does (next(), else add() a row, else endInput()) and collects
// every batch; no batch is finished meanwhile.
std::vector<Work> planAll(BatchPlanner& p, std::vector<WorkRow> rows) {
  std::vector<Work> out;
  std::size_t i = 0;
  for (;;) {
    auto w = p.next();
    while (!w && p.wantsRow()) {
      if (i == rows.size()) {
        p.endInput();
        w = p.next();
      } else {
        w = p.add(std::move(rows[i++]));
      }
    }
    if (!w) break;
    out.push_back(std::move(*w));
  }
  EXPECT_TRUE(p.drained());
  EXPECT_EQ(p.heldRows(), 0u);
  return out;
}

std::vector<std::size_t> indexesOf(const Work& w) {
  std::vector<std::size_t> v;
  for (const auto& r : w.rows) v.push_back(r.index);
  return v;
}

std::vector<std::string> keysOf(const Work& w) {
  std::vector<std::string> v;
  for (const auto& r : w.rows) v.push_back(r.key);
  return v;
}

using Indexes = std::vector<std::size_t>;

}  // namespace

TEST(BatchPlanner, CutsByRowCountInInputOrder) {
  BatchPlanner p(3, 1000);
  std::vector<WorkRow> rows;
  for (std::size_t i = 0; i < 7; ++i) rows.push_back(row(i));
  auto batches = planAll(p, rows);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(indexesOf(batches[0]), (Indexes{0, 1, 2}));
  EXPECT_EQ(indexesOf(batches[1]), (Indexes{3, 4, 5}));
  EXPECT_EQ(indexesOf(batches[2]), (Indexes{6}));
  for (std::size_t b = 0; b < batches.size(); ++b) {
    EXPECT_EQ(batches[b].family, b);
    EXPECT_FALSE(batches[b].barrier);
  }
}

TEST(BatchPlanner, CutsByBytesNeverOverTheLimit) {
  BatchPlanner p(100, 10);
  std::vector<WorkRow> rows;
  for (std::size_t i = 0; i < 9; ++i) rows.push_back(row(i, "", 0, 1 + i % 4));  // sizes 1 2 3 4 1 2 3 4 1
  auto batches = planAll(p, rows);
  std::size_t seen = 0;
  for (const auto& w : batches) {
    std::size_t bytes = 0;
    for (const auto& r : w.rows) bytes += r.size;
    EXPECT_EQ(w.bytes, bytes);
    EXPECT_LE(w.bytes, 10u);
    seen += w.rows.size();
  }
  EXPECT_EQ(seen, 9u);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(indexesOf(batches[0]), (Indexes{0, 1, 2, 3}));  // 1+2+3+4 = 10
  EXPECT_EQ(indexesOf(batches[1]), (Indexes{4, 5, 6, 7}));  // 1+2+3+4 = 10
  EXPECT_EQ(indexesOf(batches[2]), (Indexes{8}));
}

TEST(BatchPlanner, RowLargerThanMaxBytesGoesAlone) {
  BatchPlanner p(100, 10);
  auto batches = planAll(p, {row(0, "", 0, 3), row(1, "", 0, 25), row(2, "", 0, 3), row(3, "", 0, 3)});
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(indexesOf(batches[0]), (Indexes{0}));
  EXPECT_EQ(indexesOf(batches[1]), (Indexes{1}));
  EXPECT_EQ(batches[1].bytes, 25u);
  EXPECT_EQ(indexesOf(batches[2]), (Indexes{2, 3}));
}

TEST(BatchPlanner, AKeyIsNeverTwiceInOneBatchAndTheRepeatIsABarrier) {
  BatchPlanner p(10, 1000);
  auto batches = planAll(p, {row(0, "a"), row(1, "b"), row(2, "a"), row(3, "c")});
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(indexesOf(batches[0]), (Indexes{0, 1}));
  EXPECT_FALSE(batches[0].barrier);
  EXPECT_EQ(indexesOf(batches[1]), (Indexes{2, 3}));
  EXPECT_TRUE(batches[1].barrier);
  EXPECT_TRUE(p.mustWait(batches[1]));
  EXPECT_FALSE(p.mustWait(batches[0]));
  p.finished(0);
  EXPECT_FALSE(p.mustWait(batches[1]));
}

TEST(BatchPlanner, BarrierWaitsForEveryEarlierBatchNotOnlyTheKeyHolder) {
  BatchPlanner p(1, 1000);
  auto batches = planAll(p, {row(0, "x"), row(1, "y"), row(2, "z"), row(3, "x")});
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_TRUE(batches[3].barrier);
  for (std::size_t b = 0; b < 3; ++b) {
    EXPECT_FALSE(batches[b].barrier);
    EXPECT_FALSE(p.mustWait(batches[b]));
  }
  EXPECT_TRUE(p.mustWait(batches[3]));
  p.finished(0);  // the batch holding "x" is done, but batches 1 and 2 are not
  EXPECT_TRUE(p.mustWait(batches[3]));
  p.finished(2);
  EXPECT_TRUE(p.mustWait(batches[3]));
  p.finished(1);
  EXPECT_FALSE(p.mustWait(batches[3]));
}

TEST(BatchPlanner, NoBarrierWhenTheEarlierBatchOfTheKeyIsFinished) {
  BatchPlanner p(1, 1000);
  ASSERT_TRUE(p.wantsRow());
  auto first = p.add(row(0, "k"));
  ASSERT_TRUE(first);
  EXPECT_FALSE(p.next());
  p.finished(first->family);
  auto second = p.add(row(1, "k"));
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->barrier);
  EXPECT_FALSE(p.mustWait(*second));
}

TEST(BatchPlanner, RowsAreLockOrderedByKeyAndUnkeyedRowsKeepTheirPlaces) {
  BatchPlanner p(10, 1000);
  auto batches = planAll(p, {row(0, "c"), row(1, ""), row(2, "a"), row(3, "b"), row(4, "")});
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(keysOf(batches[0]), (std::vector<std::string>{"a", "", "b", "c", ""}));
  EXPECT_EQ(indexesOf(batches[0]), (Indexes{2, 1, 3, 0, 4}));
}

TEST(BatchPlanner, EveryRowIsInExactlyOneBatchAndHeldRowsAreCounted) {
  BatchPlanner p(4, 7);
  std::mt19937 rng(7);
  std::set<std::size_t> seen;
  std::size_t fed = 0;
  std::size_t out = 0;
  const std::size_t n = 500;
  auto take = [&](const Work& w) {
    for (const auto& r : w.rows) EXPECT_TRUE(seen.insert(r.index).second) << r.index;
    out += w.rows.size();
  };
  for (;;) {
    auto w = p.next();
    while (!w && p.wantsRow()) {
      if (fed == n) {
        p.endInput();
        w = p.next();
      } else {
        WorkRow r = row(fed, "k" + std::to_string(rng() % 20), static_cast<std::uint32_t>(rng() % 3), 1 + rng() % 4);
        ++fed;
        w = p.add(std::move(r));
      }
      EXPECT_EQ(p.heldRows() + out + (w ? w->rows.size() : 0), fed);
    }
    if (!w) break;
    take(*w);
    EXPECT_EQ(p.heldRows() + out, fed);
  }
  EXPECT_EQ(seen.size(), n);
  EXPECT_EQ(out, n);
  EXPECT_TRUE(p.drained());
}

TEST(BatchPlanner, GroupsNeverShareABatch) {
  BatchPlanner p(4, 1000);
  auto batches = planAll(p, {row(0, "", 1), row(1, "", 2), row(2, "", 1), row(3, "", 2), row(4, "", 1)});
  ASSERT_EQ(batches.size(), 3u);
  // Four rows held in two groups: the batch holding the earliest row goes first.
  EXPECT_EQ(indexesOf(batches[0]), (Indexes{0, 2}));
  EXPECT_EQ(indexesOf(batches[1]), (Indexes{1, 3}));
  EXPECT_EQ(indexesOf(batches[2]), (Indexes{4}));
  for (const auto& w : batches) {
    for (const auto& r : w.rows) EXPECT_EQ(r.group, w.rows.front().group);
  }
}

TEST(BatchPlanner, AKeyHeldByAnotherGroupCutsThatGroupFirst) {
  BatchPlanner p(10, 1000);
  auto batches = planAll(p, {row(0, "a", 1), row(1, "k", 1), row(2, "b", 2), row(3, "k", 2)});
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(indexesOf(batches[0]), (Indexes{0, 1}));
  EXPECT_FALSE(batches[0].barrier);
  EXPECT_EQ(indexesOf(batches[1]), (Indexes{2, 3}));
  EXPECT_TRUE(batches[1].barrier);  // "k" is in batch 0, not finished
}

TEST(BatchPlanner, HeldBackGroupsAreBounded) {
  BatchPlanner p(1000, 1000000);
  std::size_t fed = 0;
  std::optional<Work> w;
  while (!w) {
    ASSERT_TRUE(p.wantsRow());
    w = p.add(row(fed, "", static_cast<std::uint32_t>(fed)));
    ++fed;
  }
  EXPECT_EQ(fed, BatchPlanner::kMaxPendingGroups + 1);
  EXPECT_EQ(indexesOf(*w), (Indexes{0}));
  EXPECT_EQ(p.heldRows(), BatchPlanner::kMaxPendingGroups);
}

// Rows of one key are never in two batches running at the same time, and the batches holding a
// key run in input order, whatever the order the batches finish in (random schedule).
TEST(BatchPlanner, RowsOfOneKeyAreNeverInTwoConcurrentBatches) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    BatchPlanner p(1 + rng() % 5, 6);
    std::vector<WorkRow> input;
    for (std::size_t i = 0; i < 300; ++i) {
      input.push_back(row(i, rng() % 4 == 0 ? "" : "k" + std::to_string(rng() % 12),
                          static_cast<std::uint32_t>(rng() % 3), 1 + rng() % 3));
    }
    std::size_t next = 0;
    std::vector<Work> waiting;                       // cut, not started
    std::map<std::uint64_t, Work> running;           // started, not finished
    std::map<std::string, std::size_t> lastStarted;  // key -> largest input index started
    std::size_t rowsDone = 0;
    bool ended = false;
    while (!ended || !waiting.empty() || !running.empty()) {
      // Cut a batch now and then (as the engine does when it has room).
      if (!ended && waiting.size() < 3) {
        auto w = p.next();
        while (!w && p.wantsRow()) {
          if (next == input.size()) {
            p.endInput();
            w = p.next();
          } else {
            w = p.add(input[next++]);
          }
        }
        if (w) {
          waiting.push_back(std::move(*w));
        } else {
          ended = true;
        }
      }
      // Start every batch that need not wait (in cut order).
      for (auto it = waiting.begin(); it != waiting.end();) {
        if (p.mustWait(*it)) {
          ++it;
          continue;
        }
        for (const auto& r : it->rows) {
          if (r.key.empty()) continue;
          for (const auto& [id, other] : running) {
            for (const auto& o : other.rows) {
              ASSERT_NE(o.key, r.key) << "seed " << seed << ": batches " << id << " and " << it->family;
            }
          }
          auto& last = lastStarted[r.key];
          EXPECT_LE(last, r.index) << "seed " << seed << ": key " << r.key << " out of input order";
          last = r.index;
        }
        running.emplace(it->family, std::move(*it));
        it = waiting.erase(it);
      }
      // Finish a random running batch now and then (always when no batch can be cut).
      if (!running.empty() && (ended || waiting.size() >= 3 || rng() % 3 == 0)) {
        auto it = running.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(rng() % running.size()));
        rowsDone += it->second.rows.size();
        p.finished(it->first);
        running.erase(it);
      }
    }
    EXPECT_EQ(rowsDone, input.size()) << "seed " << seed;
  }
}
