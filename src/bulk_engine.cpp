// SPDX-License-Identifier: MIT
// The bulk engine: batching, concurrency, retries, isolation and aggregation for every bulk call.
#include <pgrestify/detail/bulk_engine.hpp>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

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

struct Family {
  std::size_t rows = 0;
  std::size_t pieces = 1;  // works of this family not finished yet
  std::size_t firstIndex = 0;
  BatchReport report;
  std::vector<std::string> keys;  // keys this family holds in the key table
};

class Engine {
 public:
  Engine(Transport& transport, BulkOperation& op, const EngineSettings& settings)
      : op_(op), s_(settings), start_(now()), rng_(std::random_device{}()) {
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
      if (inflight_.empty() && ready_.empty() && delayed_.empty() && (inputDone() || stopping_)) break;
      if (stopping_ && inflight_.empty()) break;
      waitAndHandle();
    }
    finish();
    if (lastProgress_ != result_.count || !progressed_) progress();  // the last report shows the total
    return std::move(result_);
  }

 private:
  // ---- planning ----
  // Rows are cut into batches in input order. Rows of different groups (an upsert's column sets)
  // never share a request; when such rows interleave, each group fills its own pending batch, and
  // at most batchSize rows (in at most kMaxPendingGroups groups) are held back before the batch
  // holding the earliest row goes. Two rows with one key are always applied in input order: a row
  // whose key waits in another group's pending batch sends that batch first, and a batch holding a
  // key of an unfinished batch waits for it (barrier).
  static constexpr std::size_t kMaxPendingGroups = 64;

  struct Pending {
    Work work;
    std::unordered_set<std::string> keys;
  };

  bool inputDone() const { return sourceDone_ && !carry_ && pending_.empty(); }

  bool pullRow(WorkRow& r) {
    if (carry_) {
      r = std::move(*carry_);
      carry_.reset();
      return true;
    }
    if (sourceDone_ || !op_.nextRow(r)) {
      sourceDone_ = true;
      return false;
    }
    ++pulled_;
    return true;
  }

  std::optional<Work> nextBatch() {
    for (;;) {
      WorkRow r;
      if (!pullRow(r)) break;
      if (!r.invalid.empty()) {
        recordInvalid(r);
        continue;
      }
      if (!r.key.empty()) {
        auto held = pendingKey_.find(r.key);
        if (held != pendingKey_.end() && held->second != r.group) {
          carry_ = std::move(r);
          return emit(held->second);
        }
      }
      const std::uint32_t group = r.group;
      if (!lastPending_ || lastGroup_ != group) {  // consecutive rows nearly always share their group
        lastPending_ = &pending_[group];
        lastGroup_ = group;
      }
      auto& p = *lastPending_;
      if (!p.work.rows.empty() && (p.work.rows.size() >= s_.batchSize || p.work.bytes + r.size > op_.maxBytes() ||
                                   (!r.key.empty() && p.keys.count(r.key)))) {
        carry_ = std::move(r);
        return emit(group);
      }
      if (!r.key.empty()) {
        if (keyOwner_.count(r.key)) p.work.barrier = true;
        p.keys.insert(r.key);
        pendingKey_[r.key] = group;
      }
      p.work.bytes += r.size;
      p.work.rows.push_back(std::move(r));
      ++pendingRows_;
      if (p.work.rows.size() >= s_.batchSize) return emit(group);
      if (pendingRows_ >= s_.batchSize || pending_.size() > kMaxPendingGroups) return emit(oldestPending());
    }
    if (!pending_.empty()) return emit(oldestPending());
    return std::nullopt;
  }

  // The pending group whose batch holds the earliest input row.
  std::uint32_t oldestPending() const {
    auto oldest = pending_.begin();
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->second.work.rows.front().index < oldest->second.work.rows.front().index) oldest = it;
    }
    return oldest->first;
  }

  Work emit(std::uint32_t group) {
    if (lastGroup_ == group) lastPending_ = nullptr;
    auto node = pending_.extract(group);
    Work w = std::move(node.mapped().work);
    for (const auto& key : node.mapped().keys) pendingKey_.erase(key);
    pendingRows_ -= w.rows.size();
    w.family = nextFamily_++;
    Family f;
    f.rows = w.rows.size();
    f.firstIndex = w.rows.front().index;
    sortByKey(w.rows);
    f.report.batchIndex = w.family;
    f.report.rows = f.rows;
    f.report.indexes.reserve(w.rows.size());
    for (const auto& r : w.rows) f.report.indexes.push_back(r.index);
    std::sort(f.report.indexes.begin(), f.report.indexes.end());
    for (const auto& r : w.rows) {
      if (r.key.empty()) continue;
      keyOwner_[r.key] = w.family;
      f.keys.push_back(r.key);
    }
    families_.emplace(w.family, std::move(f));
    ++result_.batches;
    return w;
  }

  // Lock ordering (issue #20): the rows of a batch are sent in ascending order of their key, so
  // that two writers of overlapping keys (two processes, two threads) lock rows in one order and
  // cannot deadlock each other on them. Rows without a key keep their places; which rows share a
  // batch does not change, and rows are accounted by WorkRow::index.
  static void sortByKey(std::vector<WorkRow>& rows) {
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

  std::map<std::uint32_t, Pending> pending_;                 // group -> batch being filled
  std::unordered_map<std::string, std::uint32_t> pendingKey_;  // key -> group of the pending batch holding it
  std::size_t pendingRows_ = 0;
  Pending* lastPending_ = nullptr;  // pending_[lastGroup_], while it exists
  std::uint32_t lastGroup_ = 0;

  bool blocked(const Work& w) const {
    return w.barrier && !families_.empty() && families_.begin()->first < w.family;
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
  void checkStop() {
    if (stopping_) return;
    if (s_.stopToken.stop_requested() || (s_.deadline && now() >= *s_.deadline)) {
      stopping_ = true;
      result_.cancelled = true;
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

  void dispatch() {
    while (!stopping_ && inflight_.size() < s_.concurrency) {
      if (!ready_.empty()) {
        // The first work not waiting for an earlier batch (a retry queued behind a blocked batch
        // must still run, or the blocked batch would wait for it forever).
        auto it = std::find_if(ready_.begin(), ready_.end(), [this](const Work& w) { return !blocked(w); });
        if (it == ready_.end()) return;
        Work w = std::move(*it);
        ready_.erase(it);
        send(std::move(w));
        continue;
      }
      // New input only while the retry queue is small: memory stays at about concurrency + 1 batches.
      if (inputDone()) return;
      if (inflight_.size() + delayed_.size() >= s_.concurrency) return;
      auto w = nextBatch();
      if (!w) return;
      if (blocked(*w)) {
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
    if (!session_) {
      transportThrew(w, sessionError_);
      return;
    }
    const auto tag = nextTag_++;
    const std::size_t bytes = req.body.size() + req.url.size();
    try {
      session_->start(tag, std::move(req));
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      transportThrew(w, std::string("the transport failed to start the request: ") + e.what());
      return;
    }
    bytesSent_ += bytes;
    ++result_.requests;
    ++families_.at(w.family).report.requests;
    inflight_.emplace(tag, std::move(w));
  }

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

  void waitAndHandle() {
    auto wait = kMaxWait;
    if (!delayed_.empty()) {
      auto next = std::min_element(delayed_.begin(), delayed_.end(),
                                   [](const Work& a, const Work& b) { return a.notBefore < b.notBefore; })
                      ->notBefore;
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
      handle(std::move(w), response);
      progress();
    }
  }

  void handle(Work w, const HttpResponse& response) {
    if (response.ok()) {
      succeeded(std::move(w), response);
    } else {
      failed(std::move(w), response);
    }
  }

  // ---- a 2xx answer ----
  void succeeded(Work w, const HttpResponse& response) {
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
    // Every row gets exactly one outcome, whatever the operation reported.
    std::sort(out.notFound.begin(), out.notFound.end());
    out.notFound.erase(std::unique(out.notFound.begin(), out.notFound.end()), out.notFound.end());
    out.notFound.erase(std::remove_if(out.notFound.begin(), out.notFound.end(),
                                      [&](std::size_t pos) { return pos >= w.rows.size(); }),
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
      e.status = response.status;
      e.message = "no row matches the key";
      e.attempts = w.attempts;
      result_.errors.push_back(std::move(e));
      ++notFound;
    }
    keepData(w, out.data);
    pieceDone(w.family, out.successful, out.skipped, notFound);
  }

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

  // ---- a failed request: what to do (decide), then do it ----
  void failed(Work w, const HttpResponse& response) {
    ErrorInfo info = errorInfo(response);
    const Decision d = decide(w, response, info);
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
    if (d == Decision::Retry && !w.unavailableSince) w.unavailableSince = t;
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
    ++result_.retries;
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
    ++families_.at(w.family).pieces;
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
    ++families_.at(w.family).pieces;  // the remaining rows are a piece of their own
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

  void fail(const Work& w, const ErrorInfo& info, bool unknown, std::optional<BulkErrorKind> kind = std::nullopt) {
    BulkError e;
    static_cast<ErrorInfo&>(e) = info;
    e.kind = kind ? *kind : info.isHttp() ? BulkErrorKind::Server : BulkErrorKind::Transport;
    for (const auto& r : w.rows) e.indexes.push_back(r.index);
    e.batchIndex = w.family;
    e.attempts = w.attempts;
    e.outcomeUnknown = unknown;
    result_.errors.push_back(std::move(e));
    pieceDone(w.family, 0, 0, w.rows.size());
    if (s_.stopOnError) stopping_ = true;
  }

  void recordInvalid(const WorkRow& r) {
    BulkError e;
    e.kind = BulkErrorKind::InvalidRow;
    e.indexes = {r.index};
    e.batchIndex = nextFamily_;
    e.message = r.invalid;
    result_.errors.push_back(std::move(e));
    ++result_.failed;
    ++result_.count;
  }

  void pieceDone(std::uint64_t family, std::size_t ok, std::size_t skipped, std::size_t failed) {
    result_.successful += ok;
    result_.skipped += skipped;
    result_.failed += failed;
    result_.count += ok + skipped + failed;
    auto it = families_.find(family);
    if (it == families_.end()) return;
    Family& f = it->second;
    f.report.successful += ok;
    f.report.skipped += skipped;
    f.report.failed += failed;
    if (--f.pieces > 0) return;
    for (const auto& k : f.keys) {
      auto owner = keyOwner_.find(k);
      if (owner != keyOwner_.end() && owner->second == family) keyOwner_.erase(owner);
    }
    BatchReport report = f.report;
    families_.erase(it);
    ++batchesDone_;
    if (s_.onBatchComplete) s_.onBatchComplete(report);
  }

  void progress() {
    if (!s_.onProgress) return;
    progressed_ = true;
    lastProgress_ = result_.count;
    BulkProgress p;
    p.processed = result_.count;
    p.successful = result_.successful;
    p.skipped = result_.skipped;
    p.failed = result_.failed;
    p.total = total_;
    p.batchesDone = batchesDone_;
    p.batchesInFlight = inflight_.size();
    p.requests = result_.requests;
    p.retries = result_.retries;
    p.bytesSent = bytesSent_;
    p.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now() - start_);
    const double seconds = static_cast<double>(p.elapsed.count()) / 1000.0;
    p.rowsPerSecond = seconds > 0 ? static_cast<double>(p.processed) / seconds : 0.0;
    if (total_ && p.rowsPerSecond > 0 && *total_ >= p.processed) {
      p.eta = std::chrono::milliseconds(
          static_cast<long long>(static_cast<double>(*total_ - p.processed) / p.rowsPerSecond * 1000.0));
    }
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
        result_.notProcessed += w.rows.size();
      }
    };
    for (const auto& w : ready_) drop(w);
    for (const auto& w : delayed_) drop(w);
    ready_.clear();
    delayed_.clear();
    if (carry_) ++result_.notProcessed;
    carry_.reset();
    for (const auto& [group, p] : pending_) result_.notProcessed += p.work.rows.size();
    pending_.clear();
    lastPending_ = nullptr;
    if (total_ && *total_ > pulled_) result_.notProcessed += *total_ - pulled_;
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
    result_.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now() - start_);
  }

  std::unique_ptr<TransportSession> session_;
  std::string sessionError_;
  bool progressed_ = false;
  std::size_t lastProgress_ = 0;
  BulkOperation& op_;
  const EngineSettings& s_;
  Clock::time_point start_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};

  BulkResult<nlohmann::json> result_;
  struct Returned {
    std::size_t first;   // the smallest input index of the piece that returned the row
    std::size_t within;  // its input index, or its position in the answer when rows do not map 1:1
    nlohmann::json row;
  };
  std::vector<Returned> data_;
  std::optional<std::size_t> total_;
  std::size_t pulled_ = 0;
  std::size_t bytesSent_ = 0;
  std::size_t batchesDone_ = 0;
  bool sourceDone_ = false;
  bool stopping_ = false;
  std::optional<WorkRow> carry_;
  std::uint64_t nextFamily_ = 0;
  std::uint64_t nextTag_ = 1;
  std::map<std::uint64_t, Family> families_;               // unfinished input batches, ordered
  std::unordered_map<std::string, std::uint64_t> keyOwner_;  // key -> unfinished batch holding it
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
