// SPDX-License-Identifier: MIT
// The bulk engine: runs every bulk call. This file owns
//  - scheduling (Engine: run loop, dispatch, send, waitAndHandle): which batch goes next, at most
//    `concurrency` requests in flight, backoffs, cancellation and the deadline;
//  - the answers (Engine::handle): accepting a success (succeeded) and deciding on a failure
//    (failed: retry, split, isolate or fail; "When a request is retried" below);
//  - the accounts (Ledger): how rows are counted in BulkResult and BatchReport.
// How rows become batches (cutting, groups, key barriers, lock ordering) is src/batch_planner.*;
// the classification of a failed answer and the backoffs are src/retry.cpp.
#include "bulk_engine.hpp"
#include "adaptive_concurrency.hpp"
#include "retry.hpp"

#include "batch_planner.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

namespace pgrestify::detail {

nlohmann::json BulkOperation::rowObject(const WorkRow& row) const {
  auto j = nlohmann::json::parse(row.data, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json() : j;
}

namespace {

// Exceptions. A bulk call reports row and batch failures in BulkResult and never throws for them:
//  - the operation's request() throwing for a batch (e.g. a row whose key names a column PostgREST
//    cannot express) is treated like a data error found before sending: the batch is bisected
//    (when isolateFailures) until the offending row is reported alone as InvalidRow;
//  - the transport throwing from openSession() or start() reports the batch as a Transport failure
//    (TransportErrorKind::Other, nothing was sent, attempts counts the failed start);
//  - the operation's accept() throwing for a 2xx answer reports the batch as failed with
//    outcomeUnknown = true (the server said it committed, but the answer could not be read).
// Exceptions from the caller's own code (the input range, onProgress, onBatchComplete) and
// std::bad_alloc propagate: they are not row failures, and swallowing them would hide bugs.
// Settings were validated (std::invalid_argument) before any request, by detail::validate
// (src/options.cpp).

using Clock = std::chrono::steady_clock;

// ---- How rows are counted ----
// Every input row gets exactly one outcome: successful, skipped, failed (named by exactly one
// BulkError) or notProcessed (never sent; or read but in no batch yet, or never read, when the
// call stops). BulkResult::count = successful + skipped + failed. Each batch (cut by the planner)
// has a BatchReport counting its rows the same way; splits and isolation cut a batch into pieces,
// and the report is complete (onBatchComplete) when its last piece is finished.
class Ledger {
 public:
  /// A batch cut by the planner: opens its report.
  void batchCut(const Work& w) {
    Batch b;
    b.report.batchIndex = w.family;
    b.report.rows = w.rows.size();
    b.report.indexes.reserve(w.rows.size());
    for (const auto& r : w.rows) b.report.indexes.push_back(r.index);
    std::sort(b.report.indexes.begin(), b.report.indexes.end());
    batches_.emplace(w.family, std::move(b));
    ++result_.batches;
  }
  /// Batch @p index has one more piece to finish (a split, or rows taken out of a piece).
  void pieceAdded(std::uint64_t index) { ++batches_.at(index).pieces; }
  void requestSent(std::uint64_t index, std::size_t bytes) {
    bytesSent_ += bytes;
    ++result_.requests;
    ++batches_.at(index).report.requests;
  }
  void retryScheduled() { ++result_.retries; }
  std::size_t failed() const { return result_.failed; }
  /// Rows of batch @p index as it was cut (0 once it is finished).
  std::size_t batchRows(std::uint64_t index) const {
    auto it = batches_.find(index);
    return it == batches_.end() ? 0 : it->second.report.rows;
  }
  void cancelled() { result_.cancelled = true; }

  /// A row the operation refused before sending (WorkRow::invalid), read while batch
  /// @p batchIndex was being filled.
  void invalidRow(const WorkRow& r, std::uint64_t batchIndex) {
    BulkError e;
    e.kind = BulkErrorKind::InvalidRow;
    e.indexes = {r.index};
    e.batchIndex = batchIndex;
    e.message = r.invalid;
    result_.errors.push_back(std::move(e));
    ++result_.failed;
    ++result_.count;
  }

  /// A 2xx answer to piece @p w, as the operation read it (@p out). Every row gets exactly one
  /// outcome, whatever the operation reported: rows it did not find are failed (NotFound), the
  /// others skipped (at most as many as it said) or successful. Returns the batch's report when
  /// this was its last piece.
  std::optional<BatchReport> succeeded(const Work& w, int status, Outcome& out) {
    std::sort(out.notFound.begin(), out.notFound.end());
    out.notFound.erase(std::unique(out.notFound.begin(), out.notFound.end()), out.notFound.end());
    out.notFound.erase(
        std::remove_if(out.notFound.begin(), out.notFound.end(), [&](std::size_t pos) { return pos >= w.rows.size(); }),
        out.notFound.end());
    const std::size_t rest = w.rows.size() - out.notFound.size();
    out.skipped = std::min(out.skipped, rest);
    out.successful = rest - out.skipped;
    std::size_t notFound = 0;
    for (std::size_t pos : out.notFound) {
      BulkError e;
      e.kind = BulkErrorKind::NotFound;
      e.indexes = {w.rows[pos].index};
      e.batchIndex = w.family;
      e.status = status;
      e.message = "no row matches the key";
      e.attempts = w.attempts;
      keepError(w.family, e);
      result_.errors.push_back(std::move(e));
      ++notFound;
    }
    keepData(w, out.data);
    return pieceDone(w.family, out.successful, out.skipped, notFound);
  }

  /// Piece @p w failed for good: its rows are failed, named by one BulkError (kind: @p kind, or
  /// Server/Transport from @p info). Returns the batch's report when this was its last piece.
  std::optional<BatchReport> failed(const Work& w, const ErrorInfo& info, bool unknown,
                                    std::optional<BulkErrorKind> kind) {
    BulkError e;
    static_cast<ErrorInfo&>(e) = info;
    e.kind = kind ? *kind : info.isHttp() ? BulkErrorKind::Server : BulkErrorKind::Transport;
    for (const auto& r : w.rows) e.indexes.push_back(r.index);
    e.batchIndex = w.family;
    e.attempts = w.attempts;
    e.outcomeUnknown = unknown;
    keepError(w.family, e);
    result_.errors.push_back(std::move(e));
    return pieceDone(w.family, 0, 0, w.rows.size());
  }

  /// Rows never sent (or never read): not processed.
  void notProcessed(std::size_t rows) { result_.notProcessed += rows; }

  std::size_t processed() const { return result_.count; }

  BulkProgress progress(std::optional<std::size_t> total, std::size_t inFlight,
                        std::chrono::milliseconds elapsed) const {
    BulkProgress p;
    p.processed = result_.count;
    p.successful = result_.successful;
    p.skipped = result_.skipped;
    p.failed = result_.failed;
    p.total = total;
    p.batchesDone = batchesDone_;
    p.batchesInFlight = inFlight;
    p.requests = result_.requests;
    p.retries = result_.retries;
    p.bytesSent = bytesSent_;
    p.elapsed = elapsed;
    const double seconds = static_cast<double>(p.elapsed.count()) / 1000.0;
    p.rowsPerSecond = seconds > 0 ? static_cast<double>(p.processed) / seconds : 0.0;
    if (total && p.rowsPerSecond > 0 && *total >= p.processed) {
      p.eta = std::chrono::milliseconds(
          static_cast<long long>(static_cast<double>(*total - p.processed) / p.rowsPerSecond * 1000.0));
    }
    return p;
  }

  /// The end of the call: returned rows in input order of their pieces, errors by first index.
  void close(std::chrono::milliseconds elapsed) {
    std::stable_sort(data_.begin(), data_.end(), [](const Returned& a, const Returned& b) {
      return a.first != b.first ? a.first < b.first : a.within < b.within;
    });
    result_.data.reserve(data_.size());
    for (auto& d : data_) result_.data.push_back(std::move(d.row));
    std::stable_sort(result_.errors.begin(), result_.errors.end(), [](const BulkError& a, const BulkError& b) {
      auto ka = a.indexes.empty() ? 0 : a.indexes.front();
      auto kb = b.indexes.empty() ? 0 : b.indexes.front();
      return ka < kb;
    });
    result_.elapsed = elapsed;
  }
  BulkResult<nlohmann::json> take() { return std::move(result_); }

 private:
  // Returned rows go to `data` in input order of their batches (pieces). Inside a piece, rows that
  // correspond one to one to the rows sent (sorted by key) are put back in input order; others
  // (skipped duplicates, a PATCH/DELETE) stay in the order the server returned them.
  void keepData(const Work& w, std::vector<nlohmann::json>& rows) {
    if (rows.empty()) return;
    std::size_t first = w.rows.front().index;
    for (const auto& r : w.rows) first = std::min(first, r.index);
    const bool mapped = w.dataFollowsRows && rows.size() == w.rows.size();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      data_.push_back(Returned{.first = first, .within = mapped ? w.rows[i].index : i, .row = std::move(rows[i])});
    }
  }

  /// Batch @p index's report names @p e too (BatchReport::errors).
  void keepError(std::uint64_t index, const BulkError& e) {
    auto it = batches_.find(index);
    if (it != batches_.end()) it->second.report.errors.push_back(e);
  }

  std::optional<BatchReport> pieceDone(std::uint64_t index, std::size_t ok, std::size_t skipped, std::size_t failed) {
    result_.successful += ok;
    result_.skipped += skipped;
    result_.failed += failed;
    result_.count += ok + skipped + failed;
    auto it = batches_.find(index);
    if (it == batches_.end()) return std::nullopt;
    Batch& b = it->second;
    b.report.successful += ok;
    b.report.skipped += skipped;
    b.report.failed += failed;
    if (--b.pieces > 0) return std::nullopt;
    BatchReport report = std::move(b.report);
    batches_.erase(it);
    ++batchesDone_;
    return report;
  }

  struct Batch {
    std::size_t pieces = 1;  // pieces of this batch not finished yet
    BatchReport report;
  };
  struct Returned {
    std::size_t first;   // the smallest input index of the piece that returned the row
    std::size_t within;  // its input index, or its position in the answer when rows do not map 1:1
    nlohmann::json row;
  };
  BulkResult<nlohmann::json> result_;
  std::vector<Returned> data_;
  std::map<std::uint64_t, Batch> batches_;  // unfinished batches
  std::size_t bytesSent_ = 0;
  std::size_t batchesDone_ = 0;
};

// ---- Scheduling and answers ----
class Engine {
 public:
  Engine(Transport& transport, BulkOperation& op, const EngineSettings& settings)
      : op_(op),
        s_(settings),
        planner_(settings.batchSize, op.maxBytes()),
        start_(now()),
        rng_(std::random_device{}()) {
    if (s_.adaptiveCeiling > 0) adaptive_.emplace(s_.concurrency, 1, s_.adaptiveCeiling);
    try {
      session_ = transport.openSession();
      if (!session_) sessionError_ = "the transport opened no session";
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      sessionError_ = std::string("the transport could not open a session: ") + e.what();
    }
  }

  BulkResult<nlohmann::json> run() {
    total_ = op_.totalRows();
    for (;;) {
      checkStop();
      promoteDelayed();
      dispatch();
      if (inflight_.empty() && ready_.empty() && delayed_.empty() && (planner_.drained() || stopping_)) break;
      if (stopping_ && inflight_.empty()) break;
      waitAndHandle();
    }
    finish();
    if (lastProgress_ != ledger_.processed() || !progressed_) progress();  // the last report shows the total
    return ledger_.take();
  }

 private:
  // ---- input: rows from the operation, batches from the planner ----
  bool pullRow(WorkRow& r) {
    if (!op_.nextRow(r)) {
      planner_.endInput();
      return false;
    }
    ++pulled_;
    return true;
  }

  // The next batch, reading input rows until the planner cuts one (or the input ends).
  std::optional<Work> nextBatch() {
    std::optional<Work> w = planner_.next();
    while (!w && planner_.wantsRow()) {
      WorkRow r;
      if (!pullRow(r)) {
        w = planner_.next();  // the end of the input: the batches still being filled
      } else if (!r.invalid.empty()) {
        ledger_.invalidRow(r, planner_.nextIndex());
        if (failureLimitReached()) break;  // maxFailures: no new batch
      } else {
        w = planner_.add(std::move(r));
      }
    }
    if (w) ledger_.batchCut(*w);
    return w;
  }

  // ---- running ----
  Clock::time_point now() const { return s_.clock ? s_.clock() : Clock::now(); }
  void sleepFor(std::chrono::milliseconds d) const {
    if (s_.sleep) {
      s_.sleep(d);
    } else {
      std::this_thread::sleep_for(d);
    }
  }

  // A stop request or the deadline ends every wait, backoffs included: the run loop waits at most
  // kMaxWait at a time and checks here before anything else.
  // Requests in flight at a stop get kAbortGrace to answer (their answers are used: rows that were
  // written are counted written), then they are aborted.
  void checkStop() {
    if (!stopping_ && (s_.stopToken.stop_requested() || (s_.deadline && now() >= *s_.deadline))) {
      stopping_ = true;
      stoppedAt_ = now();
      ledger_.cancelled();
    }
    if (stopping_ && !abortedInFlight_ && now() - stoppedAt_ >= kAbortGrace) {
      abortedInFlight_ = true;
      abortInFlight();
    }
  }

  // Cancelled with requests still in flight after kAbortGrace: answers that have already arrived
  // are used, the other requests are given up at once (TransportSession::abortAll) instead of
  // waiting for their answers. An aborted request whose whole body may have reached the server fails with
  // outcomeUnknown; one cut off before that (never executed) leaves its rows not processed. An
  // answer that arrives anyway (a transport without abort support) is handled as usual; a retry
  // it asks for is not sent (stopping_), see finish().
  void abortInFlight() {
    if (!session_ || inflight_.empty()) return;
    bool aborted = false;
    while (!inflight_.empty()) {
      auto done = session_->poll(aborted ? kMaxWait : std::chrono::milliseconds(0));
      if (done.empty() && !aborted) {
        session_->abortAll();
        aborted = true;
        continue;
      }
      for (auto& [tag, response] : done) {
        auto it = inflight_.find(tag);
        if (it == inflight_.end()) continue;
        Work w = std::move(it->second);
        inflight_.erase(it);
        if (!response.aborted) {
          handle(std::move(w), response, std::nullopt);
        } else if (response.bodySent || w.afterUnknown) {
          ErrorInfo info;
          info.transport = TransportErrorKind::Other;
          info.message = std::string(s_.stopToken.stop_requested() ? "cancelled" : "deadline passed") +
                         " while the request was in flight: " + response.errorMessage;
          fail(w, info, true);
        } else {
          ledger_.notProcessed(w.rows.size());  // like the queued work finish() drops
        }
        progress();
      }
    }
  }

  void promoteDelayed() {
    const auto t = now();
    for (auto it = delayed_.begin(); it != delayed_.end();) {
      if (it->notBefore <= t) {
        ready_.push_back(std::move(*it));
        it = delayed_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // maxFailures: once that many rows have failed, no new batch is taken from the input; the batches
  // already started finish (their retries and isolation splits included), then the run stops and
  // finish() counts the rest in notProcessed.
  bool failureLimitReached() {
    if (s_.maxFailures == 0 || ledger_.failed() < s_.maxFailures) return false;
    if (inflight_.empty() && ready_.empty() && delayed_.empty()) stopping_ = true;
    return true;
  }

  void dispatch() {
    while (!stopping_ && inflight_.size() < limit()) {
      if (!ready_.empty()) {
        // The first work not waiting for an earlier batch (a retry queued behind a blocked batch
        // must still run, or the blocked batch would wait for it forever).
        auto it = std::find_if(ready_.begin(), ready_.end(), [this](const Work& w) { return !planner_.mustWait(w); });
        if (it == ready_.end()) return;
        Work w = std::move(*it);
        ready_.erase(it);
        send(std::move(w));
        continue;
      }
      // New input only while the retry queue is small: memory stays at about concurrency + 1 batches.
      if (planner_.drained() || failureLimitReached()) return;
      if (inflight_.size() + delayed_.size() >= limit()) return;
      auto w = nextBatch();
      if (!w) return;
      if (planner_.mustWait(*w)) {
        ready_.push_front(std::move(*w));
        return;
      }
      send(std::move(*w));
    }
  }

  void send(Work w) {
    HttpRequest req;
    try {
      req = op_.request(w);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      requestFailed(std::move(w), e.what());
      return;
    }
    ++w.attempts;
    w.dataFollowsRows = op_.dataFollowsRows(req);
    if (s_.requestTimeout && !req.timeout) req.timeout = s_.requestTimeout;
    if (!session_) {
      transportThrew(w, sessionError_);
      return;
    }
    const auto tag = nextTag_++;
    const std::size_t bytes = req.body.size() + req.url.size();
    if (s_.observer || s_.renewToken) noteSent(tag, req, bytes);
    try {
      session_->start(tag, std::move(req));
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      sent_.erase(tag);
      transportThrew(w, std::string("the transport failed to start the request: ") + e.what());
      return;
    }
    ledger_.requestSent(w.family, bytes);
    w.sentAt = now();
    w.sentBytes = bytes;
    w.inFlightAtSend = inflight_.size() + 1;
    w.limitAtSend = limit();
    inflight_.emplace(tag, std::move(w));
  }

  // ---- client hooks (ClientState::runBulk): the observer and the token renewal ----
  // What a request was sent with, kept only when a hook is set (cheap otherwise).
  struct Sent {
    Clock::time_point at;  // the real clock: durations are measured, not simulated
    std::string method;
    std::string url;  // without the query (values may be anything)
    std::string authorization;
    std::size_t bytes = 0;
  };

  void noteSent(std::uint64_t tag, const HttpRequest& req, std::size_t bytes) {
    Sent s;
    s.at = Clock::now();
    s.method = req.method;
    s.url = req.url.substr(0, req.url.find_first_of("?#"));
    if (s_.renewToken) s.authorization = std::string(findHeader(req.headers, "Authorization").value_or(""));
    s.bytes = bytes;
    sent_[tag] = std::move(s);
  }

  // Called for each answer before it is handled; keeps the Authorization value for decide().
  void answered(std::uint64_t tag, const Work& w, const HttpResponse& response, const std::optional<ErrorInfo>& info) {
    usedAuthorization_.clear();
    auto it = sent_.find(tag);
    if (it == sent_.end()) return;
    Sent s = std::move(it->second);
    sent_.erase(it);
    usedAuthorization_ = std::move(s.authorization);
    if (!s_.observer) return;
    RequestEvent e;
    e.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - s.at);
    e.method = std::move(s.method);
    e.path = std::move(s.url);
    e.status = response.status;
    if (info) e.code = info->code;
    e.rows = w.rows.size();
    e.bytesSent = s.bytes;
    e.bytesReceived = response.body.size();
    e.attempt = w.attempts;
    e.retry = w.attempts > 1;
    const std::size_t cut = ledger_.batchRows(w.family);
    e.split = cut != 0 && cut != w.rows.size();
    e.bulk = true;
    e.concurrency = w.limitAtSend;
    s_.observer(e);
  }

  // `401 PGRST301`: PostgREST refused the JWT before running the request. With a token provider
  // that gives a fresh token, the work is sent once more (built anew with it).
  bool reauthorize(Work& w) {
    if (!s_.renewToken || w.reauthorized || stopping_) return false;
    if (!s_.renewToken(usedAuthorization_)) return false;
    w.reauthorized = true;
    ledger_.retryScheduled();
    ready_.push_front(std::move(w));
    return true;
  }

  std::unordered_map<std::uint64_t, Sent> sent_;
  std::string usedAuthorization_;

  // The operation could not build a request for these rows: nothing was sent. Bisect to the row(s)
  // responsible, which are reported as InvalidRow.
  void requestFailed(Work w, const std::string& what) {
    if (w.rows.size() >= 2 && s_.isolateFailures && !s_.stopOnError) {
      split(std::move(w));
      return;
    }
    ErrorInfo info;
    info.message = "the request could not be built: " + what;
    fail(w, info, w.afterUnknown, BulkErrorKind::InvalidRow);
  }

  void transportThrew(const Work& w, const std::string& what) {
    ErrorInfo info;
    info.transport = TransportErrorKind::Other;
    info.message = what;
    fail(w, info, w.afterUnknown);
  }

  static constexpr std::chrono::milliseconds kMaxWait{50};
  // How long requests in flight at a stop or deadline may still answer before they are aborted.
  static constexpr std::chrono::milliseconds kAbortGrace{1000};

  void waitAndHandle() {
    auto wait = kMaxWait;
    if (!delayed_.empty()) {
      auto next = std::min_element(delayed_.begin(), delayed_.end(), [](const Work& a, const Work& b) {
                    return a.notBefore < b.notBefore;
                  })->notBefore;
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next - now());
      wait = std::clamp(until, std::chrono::milliseconds(0), wait);
    }
    if (inflight_.empty()) {
      if (wait.count() > 0) sleepFor(wait);
      return;
    }
    for (auto& [tag, response] : session_->poll(wait)) {
      auto it = inflight_.find(tag);
      if (it == inflight_.end()) continue;
      Work w = std::move(it->second);
      inflight_.erase(it);
      // A failed answer's body is read once, for the observer, the limit and the decision.
      std::optional<ErrorInfo> info;
      if (!response.ok()) info = errorInfo(response);
      if (s_.observer || s_.renewToken) answered(tag, w, response, info);
      if (adaptive_) adapt(w, response, info);
      handle(std::move(w), response, std::move(info));
      progress();
    }
  }

  // ---- how many requests in flight (src/adaptive_concurrency.hpp) ----
  std::size_t limit() const { return adaptive_ ? adaptive_->limit() : s_.concurrency; }

  // Overload (429, 503, a statement timeout, a request timeout) lowers the limit; the latency of a
  // 2xx answer is a sample. Other failures (data errors are answered before any work, a reset says
  // nothing of load) leave it alone.
  void adapt(const Work& w, const HttpResponse& response, const std::optional<ErrorInfo>& info) {
    if (response.ok()) {
      adaptive_->answered(now() - w.sentAt, w.sentBytes, w.inFlightAtSend);
      return;
    }
    // 57014: the database cancelled the statement, at its statement_timeout or by an
    // administrator's hand (pg_cancel_backend). Only a timeout's latency is the database's
    // deadline; the message says which (in English: other locales lose the deadline, not the cap).
    bool statementTimeout = false;
    Clock::duration deadline{0};
    if (response.status >= 500 && info) {
      statementTimeout = info->code == "57014";
      if (statementTimeout && info->message.find("statement timeout") != std::string::npos) deadline = now() - w.sentAt;
    }
    if (response.status == 429 || response.status == 503 || response.error == TransportErrorKind::Timeout ||
        statementTimeout) {
      adaptive_->overload(statementTimeout, w.limitAtSend, deadline);
    }
  }

  // @p info: a failed answer's error when it has been read already (else it is read here).
  void handle(Work w, const HttpResponse& response, std::optional<ErrorInfo> info) {
    if (response.ok()) {
      succeeded(std::move(w), response);
    } else {
      failed(std::move(w), response, info ? std::move(*info) : errorInfo(response));
    }
  }

  // ---- a 2xx answer: accepting a success ----
  void succeeded(Work w, const HttpResponse& response) {
    outageSince_.reset();  // the server answered: no outage
    Outcome out;
    try {
      op_.accept(w, response, out);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      ErrorInfo info;
      info.status = response.status;
      info.message = std::string("the server accepted the request but its answer could not be read: ") + e.what();
      fail(w, info, true);
      return;
    }
    batchDone(ledger_.succeeded(w, response.status, out));
  }

  // ---- a failed request: deciding on a failure (decide), then doing it ----
  // When a request is retried: classify() (src/retry.cpp) says what a failed answer means; decide()
  // adapts it to the batch and the settings; retryOrFail() applies the policy's attempts and time
  // budgets (mayRetry) and the backoff; split(), isolate() and isolateColumn() separate the rows.
  void failed(Work w, const HttpResponse& response, ErrorInfo info) {
    Decision d = decide(w, response, info);
    if (d != Decision::Retry) outageSince_.reset();  // an answer from a server that ran (or refused) the request
    if (d == Decision::Reauthorize) {
      if (reauthorize(w)) return;
      d = Decision::Fail;
    }
    switch (d) {
      case Decision::Retry:
      case Decision::RetryUnknown:
      case Decision::RetryConflict:
        retryOrFail(std::move(w), response, std::move(info), d);
        return;
      case Decision::Split:
        split(std::move(w));
        return;
      case Decision::Isolate:
        isolate(std::move(w), info);
        return;
      case Decision::IsolateColumn:
        isolateColumn(std::move(w), info);
        return;
      case Decision::Reauthorize:
      case Decision::Fail:
        fail(w, info, w.afterUnknown);
        return;
      case Decision::FailUnknown:
        fail(w, info, true);
        return;
    }
  }

  Decision decide(const Work& w, const HttpResponse& response, const ErrorInfo& info) const {
    Decision d = classify(response, info, op_.idempotent(), s_.retry);
    const bool canIsolate = s_.isolateFailures && !s_.stopOnError && w.rows.size() >= 2 && op_.isolatable(w);
    if ((d == Decision::Isolate || d == Decision::IsolateColumn) && !canIsolate) d = Decision::Fail;
    if (d == Decision::Split && w.rows.size() < 2) d = Decision::Fail;
    return d;
  }

  // Retries within the policy: maxAttempts for every retryable failure; beyond it, retryBudget
  // (not executed) or conflictBudget (deadlock/serialization) measured from the work's first such
  // failure. maxAttempts = 1 retries nothing.
  bool mayRetry(Work& w, Decision d, Clock::time_point t) const {
    const auto& p = s_.retry;
    if (p.maxAttempts <= 1) return false;
    if (w.attempts < p.maxAttempts) return true;
    if (d == Decision::Retry) return t - *w.unavailableSince < p.retryBudget;
    if (d == Decision::RetryConflict) return t - *w.conflictSince < p.conflictBudget;
    return false;
  }

  void retryOrFail(Work w, const HttpResponse& response, ErrorInfo info, Decision d) {
    const auto t = now();
    if (d == Decision::RetryUnknown) w.afterUnknown = true;
    // retryBudget counts from the start of the outage, not from each request's first failure: a
    // batch first sent while the server has been unreachable for longer than the budget gets its
    // maxAttempts and no more, so an outage ends a call after about retryBudget, however many
    // batches are left.
    if (d == Decision::Retry) {
      if (!outageSince_) outageSince_ = t;
      if (!w.unavailableSince) w.unavailableSince = *outageSince_;
    }
    if (d == Decision::RetryConflict && !w.conflictSince) w.conflictSince = t;
    if (!mayRetry(w, d, t)) {
      if (d == Decision::RetryConflict) info.message = contentionMessage(w, t, info.message);
      fail(w, info, w.afterUnknown);
      return;
    }
    if (stopping_) {
      // Cancelled: not sent again. Rows never executed are not processed; rows whose earlier
      // attempt may have been committed are reported (finish()).
      delayed_.push_back(std::move(w));
      return;
    }
    std::chrono::milliseconds delay;
    if (d == Decision::RetryConflict) {
      delay = conflictDelay(s_.retry, w.attempts, uniform_(rng_));
    } else {
      std::optional<std::chrono::milliseconds> retryAfter;
      if (auto h = response.header("Retry-After")) retryAfter = parseRetryAfter(*h);
      delay = backoffDelay(s_.retry, w.attempts, retryAfter, uniform_(rng_));
    }
    w.notBefore = t + delay;
    ledger_.retryScheduled();
    delayed_.push_back(std::move(w));
  }

  static std::string contentionMessage(const Work& w, Clock::time_point t, const std::string& server) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - *w.conflictSince).count();
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", static_cast<double>(ms) / 1000.0);
    return "deadlock/serialization conflict with another writer persisted for " + std::string(seconds) + " s, " +
           std::to_string(w.attempts) + " attempts (last: " + server + ")";
  }

  void split(Work w) {
    const std::size_t half = w.rows.size() / 2;
    Work second;
    second.family = w.family;
    second.afterUnknown = w.afterUnknown;
    second.rows.assign(std::make_move_iterator(w.rows.begin() + static_cast<std::ptrdiff_t>(half)),
                       std::make_move_iterator(w.rows.end()));
    w.rows.resize(half);
    for (Work* p : {&w, &second}) {
      p->attempts = 0;
      p->barrier = false;
      p->unavailableSince.reset();
      p->conflictSince.reset();
      p->bytes = 0;
      for (const auto& r : p->rows) p->bytes += r.size;
    }
    ledger_.pieceAdded(w.family);
    ready_.push_front(std::move(second));
    ready_.push_front(std::move(w));
  }

  // Moves the rows at @p positions (ascending) of @p w into a new work of the same family, which
  // keeps the attempts made; @p w keeps the other rows and becomes a piece of its own, sent again
  // first.
  Work takeOut(Work& w, const std::vector<std::size_t>& positions) {
    Work out;
    out.family = w.family;
    out.attempts = w.attempts;
    out.afterUnknown = w.afterUnknown;
    std::vector<WorkRow> keep;
    keep.reserve(w.rows.size() - positions.size());
    std::size_t next = 0;
    for (std::size_t i = 0; i < w.rows.size(); ++i) {
      if (next < positions.size() && positions[next] == i) {
        out.rows.push_back(std::move(w.rows[i]));
        ++next;
      } else {
        keep.push_back(std::move(w.rows[i]));
      }
    }
    w.rows = std::move(keep);
    w.attempts = 0;
    w.barrier = false;
    w.unavailableSince.reset();
    w.conflictSince.reset();
    w.bytes = 0;
    for (const auto& r : w.rows) w.bytes += r.size;
    for (const auto& r : out.rows) out.bytes += r.size;
    ledger_.pieceAdded(w.family);  // the remaining rows are a piece of their own
    return out;
  }

  void isolate(Work w, const ErrorInfo& info) {
    std::optional<std::size_t> pos;
    try {
      std::vector<nlohmann::json> objects;
      objects.reserve(w.rows.size());
      for (const auto& r : w.rows) objects.push_back(op_.rowObject(r));
      pos = locateRow(info, objects);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception&) {
      pos.reset();  // cannot tell from the details: bisect
    }
    if (pos && *pos < w.rows.size()) {
      // The error names this row: report it alone and send the others again.
      Work bad = takeOut(w, {*pos});
      ready_.push_front(std::move(w));
      fail(bad, info, bad.afterUnknown);
      return;
    }
    split(std::move(w));
  }

  // The server refused a column (PGRST204: not a column; 428C9: GENERATED ALWAYS) whatever the
  // values: the rows carrying it fail together and the others are sent again (their `columns=`
  // no longer names it). When every row carries it, or the rows cannot show it (a grouped PATCH
  // shares one payload), the whole work fails at once, without bisecting.
  void isolateColumn(Work w, const ErrorInfo& info) {
    auto column = refusedColumn(info);
    if (!column) {
      isolate(std::move(w), info);  // an unexpected wording: find the rows by bisection
      return;
    }
    std::vector<std::size_t> carrying;
    try {
      for (std::size_t i = 0; i < w.rows.size(); ++i) {
        auto object = op_.rowObject(w.rows[i]);
        if (object.is_object() && object.contains(*column)) carrying.push_back(i);
      }
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception&) {
      carrying.clear();
    }
    if (carrying.empty() || carrying.size() == w.rows.size()) {
      fail(w, info, w.afterUnknown);
      return;
    }
    Work bad = takeOut(w, carrying);
    ready_.push_front(std::move(w));
    fail(bad, info, bad.afterUnknown);
  }

  // Piece @p w failed for good (see Ledger::failed).
  void fail(const Work& w, const ErrorInfo& info, bool unknown, std::optional<BulkErrorKind> kind = std::nullopt) {
    batchDone(ledger_.failed(w, info, unknown, kind));
    if (s_.stopOnError) stopping_ = true;
  }

  // The last piece of a batch is finished: its keys are released and its report goes out.
  void batchDone(std::optional<BatchReport> report) {
    if (!report) return;
    planner_.finished(report->batchIndex);
    if (s_.onBatchComplete) s_.onBatchComplete(*report);
  }

  void progress() {
    if (!s_.onProgress) return;
    progressed_ = true;
    lastProgress_ = ledger_.processed();
    BulkProgress p = ledger_.progress(total_, inflight_.size(),
                                      std::chrono::duration_cast<std::chrono::milliseconds>(now() - start_));
    p.concurrency = limit();
    s_.onProgress(p);
  }

  void finish() {
    // Whatever is still queued was never sent (or must not be sent again): account for every row.
    auto drop = [this](const Work& w) {
      if (w.afterUnknown) {
        ErrorInfo info;
        info.message = "cancelled while a retry was pending; the earlier attempt's outcome is unknown";
        fail(w, info, true);
      } else {
        ledger_.notProcessed(w.rows.size());
      }
    };
    for (const auto& w : ready_) drop(w);
    for (const auto& w : delayed_) drop(w);
    ready_.clear();
    delayed_.clear();
    ledger_.notProcessed(planner_.heldRows());
    if (total_ && *total_ > pulled_) ledger_.notProcessed(*total_ - pulled_);
    ledger_.close(std::chrono::duration_cast<std::chrono::milliseconds>(now() - start_));
  }

  BulkOperation& op_;
  const EngineSettings& s_;
  BatchPlanner planner_;
  std::optional<AdaptiveConcurrency> adaptive_;  // when the concurrency was left to the library
  // The first failure of a request not executed (unreachable, 503...) since the last answer of a
  // server that ran or refused one: the start of the current outage (RetryPolicy::retryBudget).
  std::optional<Clock::time_point> outageSince_;
  Ledger ledger_;
  std::unique_ptr<TransportSession> session_;
  std::string sessionError_;
  bool progressed_ = false;
  std::size_t lastProgress_ = 0;
  Clock::time_point start_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};

  std::optional<std::size_t> total_;
  std::size_t pulled_ = 0;
  bool stopping_ = false;
  bool abortedInFlight_ = false;
  Clock::time_point stoppedAt_{};
  std::uint64_t nextTag_ = 1;
  std::deque<Work> ready_;
  std::vector<Work> delayed_;
  std::map<std::uint64_t, Work> inflight_;
};

}  // namespace

BulkResult<nlohmann::json> runBulk(Transport& transport, BulkOperation& op, const EngineSettings& settings) {
  Engine engine(transport, op, settings);
  return engine.run();
}

}  // namespace pgrestify::detail
