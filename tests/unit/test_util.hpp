// SPDX-License-Identifier: MIT
// Helpers of the unit tests: the BulkResult accounting invariant and a tiny in-memory "table" that
// answers inserts the way PostgREST 12 does (one request = one transaction, first error only).
#pragma once

#include "fake_transport.hpp"

// The engine's internals (src/, not installed).
#include "bulk_engine.hpp"
#include "operations.hpp"
#include "retry.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace pgrestify::test {

/// count == successful + skipped + failed, count + notProcessed == input size, and every failed
/// row is named by exactly one error.
template <class T>
void expectAccounted(const BulkResult<T>& r, std::size_t inputSize) {
  EXPECT_EQ(r.count, r.successful + r.skipped + r.failed) << "count must be successful + skipped + failed";
  EXPECT_EQ(r.count + r.notProcessed, inputSize) << "every input row is processed or not processed";
  std::set<std::size_t> seen;
  std::size_t named = 0;
  for (const auto& e : r.errors) {
    for (auto i : e.indexes) {
      EXPECT_LT(i, inputSize);
      EXPECT_TRUE(seen.insert(i).second) << "row " << i << " is in two errors";
      ++named;
    }
  }
  EXPECT_EQ(named, r.failed) << "every failed row is in exactly one error";
  for (std::size_t k = 1; k < r.errors.size(); ++k) {
    if (r.errors[k - 1].indexes.empty() || r.errors[k].indexes.empty()) continue;
    EXPECT_LE(r.errors[k - 1].indexes.front(), r.errors[k].indexes.front()) << "errors are sorted";
  }
}

inline std::vector<std::size_t> errorIndexes(const BulkError& e) { return e.indexes; }

/// An in-memory table with a unique column and NOT NULL columns, answering POST like PostgREST:
/// all or nothing per request; 409 23505 with `Key (col)=(v) already exists.` for the first
/// duplicate, 400 23502 (no key in details) for the first null in a NOT NULL column;
/// `resolution=ignore-duplicates` skips duplicates, `merge-duplicates` overwrites them.
class FakeTable {
 public:
  explicit FakeTable(std::string uniqueColumn = "email", std::vector<std::string> notNull = {"name"})
      : unique_(std::move(uniqueColumn)), notNull_(std::move(notNull)) {}

  HttpResponse post(const HttpRequest& req) {
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (!body.is_array()) return pgError(400, "PGRST102", "Empty or invalid json");
    std::string prefer(findHeader(req.headers, "Prefer").value_or(""));
    const bool ignore = prefer.find("resolution=ignore-duplicates") != std::string::npos;
    const bool merge = prefer.find("resolution=merge-duplicates") != std::string::npos;
    std::lock_guard lock(mutex_);
    std::map<std::string, nlohmann::json> staged = rows_;
    std::set<std::string> inThisRequest;
    std::size_t affected = 0;
    nlohmann::json returned = nlohmann::json::array();
    for (const auto& row : body) {
      for (const auto& c : notNull_) {
        if (!row.contains(c) || row[c].is_null()) {
          return pgError(400, "23502", "null value in column \"" + c + "\" violates not-null constraint",
                         "Failing row contains (null).");
        }
      }
      std::string key = row.contains(unique_) ? detail::scalarText(row[unique_]) : std::string();
      bool exists = staged.count(key) > 0;
      if (merge && inThisRequest.count(key)) {
        return pgError(400, "21000", "ON CONFLICT DO UPDATE command cannot affect row a second time");
      }
      inThisRequest.insert(key);
      if (exists && ignore) continue;
      if (exists && !merge) {
        return pgError(409, "23505", "duplicate key value violates unique constraint",
                       "Key (" + unique_ + ")=(" + key + ") already exists.");
      }
      staged[key] = row;
      returned.push_back(row);
      ++affected;
    }
    rows_ = std::move(staged);
    ++commits_;
    const bool representation = prefer.find("return=representation") != std::string::npos;
    return status(201, representation ? returned.dump() : std::string(),
                  {{"Content-Range", "*/" + std::to_string(affected)}});
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return rows_.size();
  }
  bool has(const std::string& key) const {
    std::lock_guard lock(mutex_);
    return rows_.count(key) > 0;
  }
  nlohmann::json row(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto it = rows_.find(key);
    return it == rows_.end() ? nlohmann::json() : it->second;
  }
  void seed(const nlohmann::json& row) {
    std::lock_guard lock(mutex_);
    rows_[detail::scalarText(row.at(unique_))] = row;
  }

 private:
  std::string unique_;
  std::vector<std::string> notNull_;
  mutable std::mutex mutex_;
  std::map<std::string, nlohmann::json> rows_;
  std::size_t commits_ = 0;
};

/// `n` rows {"name": "n<i>", "email": "e<i>@x.io"}.
inline std::vector<nlohmann::json> userRows(std::size_t n) {
  std::vector<nlohmann::json> rows;
  for (std::size_t i = 0; i < n; ++i) {
    rows.push_back({{"name", "n" + std::to_string(i)}, {"email", "e" + std::to_string(i) + "@x.io"}});
  }
  return rows;
}

/// Emails in a POST body, in order.
inline std::vector<std::string> emailsOf(const RecordedRequest& r) {
  std::vector<std::string> out;
  auto body = r.json();
  if (!body.is_array()) return out;
  for (const auto& row : body) out.push_back(row.value("email", std::string()));
  return out;
}

/// A retry policy that retries at once (1-2 ms backoffs) and counts attempts alone (the time budgets
/// are tested with a fake clock in engine_contention_test.cpp).
inline RetryPolicy fastRetry(int maxAttempts = 5) {
  RetryPolicy p;
  p.maxAttempts = maxAttempts;
  p.initialBackoff = std::chrono::milliseconds(1);
  p.maxBackoff = std::chrono::milliseconds(2);
  p.retryBudget = std::chrono::milliseconds(0);
  p.conflictBudget = std::chrono::milliseconds(0);
  return p;
}

/// Rows in a recorded request's JSON array body (0 for another body).
inline std::size_t rowsIn(const RecordedRequest& r) {
  auto j = r.json();
  return j.is_array() ? j.size() : 0;
}

}  // namespace pgrestify::test
