// SPDX-License-Identifier: MIT
// A scriptable in-memory Transport for unit tests.
//
// Every started request is handed to a user handler `HttpResponse(const HttpRequest&, int attempt)`
// where `attempt` counts the requests seen so far with the same method, URL and body (1 = first).
// The handler runs when the request is started (so a throwing handler is a throwing transport);
// its answer is kept "in flight" until poll() hands it back. poll() completes ONE pending request
// per call, chosen at random (seeded) unless `ordered` is set, so completions arrive out of order
// and a caller that keeps N requests in flight really has N in flight. Every request is recorded
// with its start and finish times and the number of requests in flight when it started; starting
// more than `maxInFlightAllowed` requests at once on one session is recorded as a violation.
//
// A handler may answer `stalled()`: the request then never completes (like a server that never
// answers) until the session's abort(tag)/abortAll() gives it up; poll() returns it at once as an
// aborted transport failure whose `bodySent` is `setBodySentOnAbort` (default true). Aborts are
// recorded (RecordedRequest::abortedAt, FakeTransport::aborts()).
#pragma once

#include <pgrestify/pgrestify.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace pgrestify::test {

using Clock = std::chrono::steady_clock;

/// One request as the fake saw it.
struct RecordedRequest {
  std::size_t seq = 0;  ///< order of start() calls, 0-based
  HttpRequest request;
  int attempt = 1;  ///< requests so far with the same method + URL + body
  Clock::time_point startedAt{};
  std::optional<Clock::time_point> finishedAt;  ///< when poll() returned it
  std::optional<Clock::time_point> abortedAt;   ///< when the session's abort()/abortAll() gave it up
  std::size_t inFlightAtStart = 0;              ///< including this one

  const std::string& method() const { return request.method; }
  const std::string& url() const { return request.url; }
  const std::string& body() const { return request.body; }
  std::optional<std::string_view> header(std::string_view name) const { return findHeader(request.headers, name); }
  /// The decoded value of query parameter @p key (first occurrence).
  std::optional<std::string> param(std::string_view key) const {
    auto q = request.url.find('?');
    if (q == std::string::npos) return std::nullopt;
    std::string_view rest = std::string_view(request.url).substr(q + 1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      auto pair = rest.substr(0, amp);
      auto eq = pair.find('=');
      if (detail::percentDecode(pair.substr(0, eq)) == key) {
        return eq == std::string_view::npos ? std::string() : detail::percentDecode(pair.substr(eq + 1));
      }
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    return std::nullopt;
  }
  /// The request path (between the host and `?`).
  std::string path() const {
    auto scheme = request.url.find("://");
    auto slash = request.url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    auto q = request.url.find('?');
    if (slash == std::string::npos) return "/";
    return request.url.substr(slash, q == std::string::npos ? std::string::npos : q - slash);
  }
  /// The body parsed as JSON (discarded value when it is not JSON).
  nlohmann::json json() const { return nlohmann::json::parse(request.body, nullptr, false); }
};

// ---- response helpers ----
inline HttpResponse status(int code, std::string body = {}, Headers headers = {}) {
  HttpResponse r;
  // PostgREST labels every JSON body (the library checks it on writes): so does the fake.
  if (!body.empty() && (body.front() == '[' || body.front() == '{') && !findHeader(headers, "Content-Type")) {
    headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  }
  r.status = code;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}
/// A PostgREST JSON error body.
inline HttpResponse pgError(int code, const std::string& sqlState, const std::string& message = "error",
                            const std::string& details = {}, Headers headers = {}) {
  nlohmann::json j = {{"code", sqlState}, {"message", message}, {"hint", nullptr}};
  j["details"] = details.empty() ? nlohmann::json(nullptr) : nlohmann::json(details);
  headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  return status(code, j.dump(), std::move(headers));
}
inline HttpResponse transportFailure(TransportErrorKind kind, bool bodySent) {
  HttpResponse r;
  r.error = kind;
  r.bodySent = bodySent;
  r.errorMessage = std::string("fake ") + toString(kind);
  return r;
}
/// An answer that never comes: the request stays in flight until aborted.
inline HttpResponse stalled() {
  HttpResponse r;
  r.status = -1;
  r.errorMessage = "fake: stalled";
  return r;
}
inline bool isStalled(const HttpResponse& r) { return r.status == -1 && r.errorMessage == "fake: stalled"; }
/// 201 for an insert of @p rows rows with `Content-Range: */rows`.
inline HttpResponse created(std::size_t rows, std::string body = {}) {
  return status(201, std::move(body), {{"Content-Range", "*/" + std::to_string(rows)}});
}

class FakeTransport : public Transport, public std::enable_shared_from_this<FakeTransport> {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&, int attempt)>;

  explicit FakeTransport(Handler handler = nullptr) : handler_(std::move(handler)) {}

  void setHandler(Handler h) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(h);
  }
  /// Complete requests in start order instead of at random.
  void setOrdered(bool ordered) { ordered_ = ordered; }
  /// Requests in flight on one session above this are recorded as violations.
  void setMaxInFlightAllowed(std::size_t n) { maxAllowed_ = n; }
  void setSeed(std::uint64_t seed) { seed_ = seed; }
  /// Whether an aborted request reports that its whole body was sent (the server may have run it).
  void setBodySentOnAbort(bool sent) { bodySentOnAbort_ = sent; }
  std::size_t aborts() const {
    std::lock_guard lock(mutex_);
    return aborts_;
  }

  std::unique_ptr<TransportSession> openSession() override;

  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return log_;
  }
  /// Requests of one method (e.g. "POST"), in start order.
  std::vector<RecordedRequest> requests(std::string_view method) const {
    std::vector<RecordedRequest> out;
    for (auto& r : requests()) {
      if (r.method() == method) out.push_back(r);
    }
    return out;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return log_.size();
  }
  std::size_t maxInFlightSeen() const {
    std::lock_guard lock(mutex_);
    return maxSeen_;
  }
  std::size_t violations() const {
    std::lock_guard lock(mutex_);
    return violations_;
  }
  std::size_t sessionsOpened() const {
    std::lock_guard lock(mutex_);
    return sessions_;
  }

 private:
  friend class FakeSession;

  // Called by a session: records the request and runs the handler (outside the lock).
  std::pair<std::size_t, HttpResponse> begin(const HttpRequest& request, std::size_t inFlight) {
    Handler h;
    int attempt = 1;
    std::size_t seq = 0;
    {
      std::lock_guard lock(mutex_);
      for (const auto& r : log_) {
        if (r.request.method == request.method && r.request.url == request.url && r.request.body == request.body) {
          ++attempt;
        }
      }
      RecordedRequest rec;
      rec.seq = seq = log_.size();
      rec.request = request;
      rec.attempt = attempt;
      rec.startedAt = Clock::now();
      rec.inFlightAtStart = inFlight;
      log_.push_back(std::move(rec));
      maxSeen_ = std::max(maxSeen_, inFlight);
      if (maxAllowed_ && inFlight > maxAllowed_) ++violations_;
      h = handler_;
    }
    if (!h) return {seq, status(201, {}, {{"Content-Range", "*/*"}})};
    return {seq, h(request, attempt)};
  }
  void finished(std::size_t seq) {
    std::lock_guard lock(mutex_);
    log_.at(seq).finishedAt = Clock::now();
  }
  void abortedNow(std::size_t seq) {
    std::lock_guard lock(mutex_);
    log_.at(seq).abortedAt = Clock::now();
    ++aborts_;
  }

  mutable std::mutex mutex_;
  Handler handler_;
  std::vector<RecordedRequest> log_;
  std::size_t maxSeen_ = 0;
  std::size_t maxAllowed_ = 0;
  std::size_t violations_ = 0;
  std::size_t sessions_ = 0;
  std::size_t aborts_ = 0;
  bool bodySentOnAbort_ = true;
  bool ordered_ = false;
  std::uint64_t seed_ = 42;
};

class FakeSession final : public TransportSession {
 public:
  FakeSession(std::shared_ptr<FakeTransport> owner, bool ordered, std::uint64_t seed)
      : owner_(std::move(owner)), ordered_(ordered), rng_(seed) {}

  void start(std::uint64_t tag, HttpRequest request) override {
    auto [seq, response] = owner_->begin(request, pending_.size() + 1);  // may throw (handler)
    pending_.push_back(Pending{.tag = tag, .seq = seq, .response = std::move(response)});
  }

  std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds maxWait) override {
    std::vector<std::pair<std::uint64_t, HttpResponse>> out = std::move(aborted_);
    aborted_.clear();
    if (!out.empty()) return out;
    std::vector<std::size_t> answering;  // pending requests that are not stalled
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (!isStalled(pending_[i].response)) answering.push_back(i);
    }
    if (answering.empty()) {
      if (maxWait.count() > 0) std::this_thread::sleep_for(std::min(maxWait, std::chrono::milliseconds(5)));
      return out;
    }
    std::size_t pick = answering.front();
    if (!ordered_) pick = answering[std::uniform_int_distribution<std::size_t>(0, answering.size() - 1)(rng_)];
    Pending p = std::move(pending_[pick]);
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(pick));
    owner_->finished(p.seq);
    out.emplace_back(p.tag, std::move(p.response));
    return out;
  }

  std::size_t inFlight() const override { return pending_.size() + aborted_.size(); }

  void abort(std::uint64_t tag) override {
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (pending_[i].tag == tag) {
        giveUp(i);
        return;
      }
    }
  }
  void abortAll() override {
    while (!pending_.empty()) giveUp(0);
  }

 private:
  void giveUp(std::size_t i) {
    Pending p = std::move(pending_[i]);
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
    owner_->abortedNow(p.seq);
    HttpResponse r;
    r.error = TransportErrorKind::Other;
    r.aborted = true;
    r.bodySent = owner_->bodySentOnAbort_;
    r.errorMessage = "fake: aborted";
    aborted_.emplace_back(p.tag, std::move(r));
  }

  struct Pending {
    std::uint64_t tag;
    std::size_t seq;
    HttpResponse response;
  };
  std::shared_ptr<FakeTransport> owner_;
  bool ordered_;
  std::mt19937_64 rng_;
  std::vector<Pending> pending_;
  std::vector<std::pair<std::uint64_t, HttpResponse>> aborted_;
};

inline std::unique_ptr<TransportSession> FakeTransport::openSession() {
  std::uint64_t seed;
  {
    std::lock_guard lock(mutex_);
    seed = seed_ + sessions_++;
  }
  return std::make_unique<FakeSession>(shared_from_this(), ordered_, seed);
}

/// A client on a fake transport (base URL http://fake.test).
inline Client fakeClient(const std::shared_ptr<FakeTransport>& fake, ClientOptions options = {}) {
  if (options.url.empty()) options.url = "http://fake.test";
  options.transport = fake;
  return Client(std::move(options));
}

}  // namespace pgrestify::test
