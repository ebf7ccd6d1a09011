// SPDX-License-Identifier: MIT
// The transport of the `pgrestify` tool: libcurl's, with the two facts the tool's promises need
// (whether a write request was ever started; giving up the requests in flight after an interrupt).
#pragma once

#include <pgrestify/transport.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <utility>
#include <vector>

namespace pgrestify::cli {

/// The transport of the tool: libcurl, plus two things the tool needs to keep its promises:
///  - it knows whether a write request was ever started (after that, exit status 4, "nothing
///    was sent", is no longer true);
///  - abandon(): after an interruption, requests still waiting for an answer are given up. Each
///    is reported to the engine as a timeout after the body was sent (the server may have
///    written its rows), so the engine accounts for them as failed with an unknown outcome, and
///    the bulk call returns at once instead of after the request timeout.
class ToolTransport final : public Transport {
 public:
  explicit ToolTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {}

  std::unique_ptr<TransportSession> openSession() override {
    return std::make_unique<Session>(*this, inner_->openSession());
  }
  void abandon() { abandoned_ = true; }
  bool writesStarted() const { return writes_; }
  std::size_t inFlight() const { return inFlight_; }

 private:
  class Session final : public TransportSession {
   public:
    Session(ToolTransport& owner, std::unique_ptr<TransportSession> inner) : owner_(owner), inner_(std::move(inner)) {}
    ~Session() override { owner_.inFlight_ -= tags_.size(); }
    void start(std::uint64_t tag, HttpRequest request) override {
      if (request.method != "GET" && request.method != "HEAD") owner_.writes_ = true;
      if (owner_.abandoned_) {  // not sent: the engine stops before this; keep the books anyway
        abandonedNow_.emplace_back(tag, HttpResponse{});
        abandonedNow_.back().second.error = TransportErrorKind::Connect;
        abandonedNow_.back().second.errorMessage = "not sent: the tool was interrupted";
        return;
      }
      inner_->start(tag, std::move(request));
      tags_.insert(tag);
      ++owner_.inFlight_;
    }
    std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds maxWait) override {
      std::vector<std::pair<std::uint64_t, HttpResponse>> out = std::move(abandonedNow_);
      abandonedNow_.clear();
      const bool abandoned = owner_.abandoned_;
      // At most 50 ms at a time, so that an abandon() is seen promptly (poll may return early).
      const auto wait =
          abandoned || !out.empty() ? std::chrono::milliseconds(0) : std::min(maxWait, std::chrono::milliseconds(50));
      for (auto& [tag, response] : inner_->poll(wait)) {
        if (tags_.erase(tag) == 0) continue;
        --owner_.inFlight_;
        out.emplace_back(tag, std::move(response));
      }
      if (abandoned) {
        for (auto tag : tags_) {
          HttpResponse r;
          r.error = TransportErrorKind::Timeout;
          r.bodySent = true;
          r.errorMessage =
              "no answer before the interruption: the request was abandoned, the server may have "
              "executed it";
          out.emplace_back(tag, std::move(r));
        }
        owner_.inFlight_ -= tags_.size();
        tags_.clear();
      }
      return out;
    }
    std::size_t inFlight() const override { return tags_.size() + abandonedNow_.size(); }
    // abort()/abortAll() are deliberately not forwarded: when the stop token fires (first signal)
    // the engine asks to abort the requests in flight, but the tool gives their answers the grace
    // period of docs/cli.md ("Signals") and then abandons them itself (abandon()).

   private:
    ToolTransport& owner_;
    std::unique_ptr<TransportSession> inner_;
    std::set<std::uint64_t> tags_;
    std::vector<std::pair<std::uint64_t, HttpResponse>> abandonedNow_;
  };

  std::shared_ptr<Transport> inner_;
  std::atomic<bool> abandoned_{false};
  std::atomic<bool> writes_{false};
  std::atomic<std::size_t> inFlight_{0};
};

}  // namespace pgrestify::cli
