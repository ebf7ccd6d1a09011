// SPDX-License-Identifier: MIT
// Helpers of the bulkInsert / bulkUpsert integration tests: a transport that records every request
// (on top of the fixture's counting transport) so tests can check what went over the wire.
#pragma once

#include "test_env.hpp"

#include <pgrestify/pgrestify.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pgrestify::test {

/// What a test needs to know about one request that was sent.
struct SentRequest {
  std::string method;
  std::string url;
  std::string prefer;
  std::size_t bodyBytes = 0;
};

/// Forwards to another transport and records the requests it starts.
class RecordingTransport : public Transport {
 public:
  explicit RecordingTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {}

  std::unique_ptr<TransportSession> openSession() override {
    return std::make_unique<Session>(*this, inner_->openSession());
  }

  std::vector<SentRequest> requests() const {
    std::lock_guard lock(mutex_);
    return sent_;
  }
  std::vector<SentRequest> requests(const std::string& method) const {
    auto all = requests();
    std::erase_if(all, [&](const SentRequest& r) { return r.method != method; });
    return all;
  }

 private:
  class Session : public TransportSession {
   public:
    Session(RecordingTransport& owner, std::unique_ptr<TransportSession> inner)
        : owner_(owner), inner_(std::move(inner)) {}
    void start(std::uint64_t tag, HttpRequest request) override {
      SentRequest s;
      s.method = request.method;
      s.url = request.url;
      if (auto p = findHeader(request.headers, "Prefer")) s.prefer = std::string(*p);
      s.bodyBytes = request.body.size();
      {
        std::lock_guard lock(owner_.mutex_);
        owner_.sent_.push_back(std::move(s));
      }
      inner_->start(tag, std::move(request));
    }
    std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds maxWait) override {
      return inner_->poll(maxWait);
    }
    std::size_t inFlight() const override { return inner_->inFlight(); }

   private:
    RecordingTransport& owner_;
    std::unique_ptr<TransportSession> inner_;
  };

  std::shared_ptr<Transport> inner_;
  mutable std::mutex mutex_;
  std::vector<SentRequest> sent_;
};

/// Input row indexes of every error, flattened and sorted.
inline std::vector<std::size_t> errorIndexes(const std::vector<BulkError>& errors) {
  std::vector<std::size_t> out;
  for (const auto& e : errors) out.insert(out.end(), e.indexes.begin(), e.indexes.end());
  std::sort(out.begin(), out.end());
  return out;
}

/// Checks the BulkResult invariant: every input row is counted exactly once.
template <class T>
void expectAccounted(const BulkResult<T>& r, std::size_t inputRows) {
  EXPECT_EQ(r.count, r.successful + r.skipped + r.failed);
  EXPECT_EQ(r.count + r.notProcessed, inputRows);
  EXPECT_EQ(errorIndexes(r.errors).size(), r.failed);
}

}  // namespace pgrestify::test
