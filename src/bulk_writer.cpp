// SPDX-License-Identifier: MIT
// BulkWriter's core (include/pgrestify/bulk_writer.hpp). The writer owns only what a finite bulk
// call does not have: a buffer filled by many threads, the moment a batch is cut (size, bytes or
// linger), capacity (rows and bytes held), the order of rows of one key across batches, and the
// per-row outcome with its context. Each batch it cuts is one call of the one bulk engine
// (runInsert/runUpdate/runDelete, the same operation specs as bulkInsert & co.): retries,
// isolation of bad rows, the rows' accounting and the client's hooks are the engine's. The
// engine's BulkResult of a batch is turned into one outcome per row (outcomesOf below).
#include <pgrestify/bulk_writer.hpp>

#include <pgrestify/detail/bulk_ops.hpp>
#include <pgrestify/detail/encode.hpp>
#include <pgrestify/raw_json.hpp>

#include "adaptive_concurrency.hpp"
#include "client_state.hpp"
#include "row_text.hpp"

#if defined(__linux__)
#include <pthread.h>
#endif

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace pgrestify::detail {

namespace {

// The most requests one writer keeps in flight (and threads it runs): BulkWriterOptions::maxInFlight.
constexpr std::size_t kMaxWriterInFlight = 64;

using Clock = std::chrono::steady_clock;

struct Row {
  std::uint64_t epoch = 0;                       // flush() generation the row was added in
  std::string text;                              // JSON text (an object for Insert/Upsert)
  std::string key;                               // empty: no ordering constraint
  std::shared_ptr<const std::string> signature;  // Insert/Upsert: its columns, as RowWriter::signature() gave them at
                                                 // add(); shared by the rows of one column set
  std::size_t bytes = 0;                         // measured once, at add()
  Clock::time_point added;
  std::unique_ptr<WriterBox> context;
};

struct Batch {
  std::vector<Row> rows;
  std::size_t bytes = 0;
  bool abandoned = false;  // close() timed out and reported its rows Unknown
};

// The writer whose outcome callback runs on this thread (add() must not wait there).
thread_local const void* deliveringFor = nullptr;

/// The error of rows whose outcome the writer cannot know (they may have been written).
BulkError unknownOutcome(std::string message) {
  BulkError e;
  e.kind = BulkErrorKind::Transport;
  e.transport = TransportErrorKind::Other;
  e.outcomeUnknown = true;
  e.message = std::move(message);
  return e;
}

// The writer's threads are named "pgrestify-wrtr" (15 characters at most: top -H, gdb, /proc/PID/task/*/comm).
void nameThread([[maybe_unused]] std::thread& t) {
#if defined(__linux__)
  pthread_setname_np(t.native_handle(), "pgrestify-wrtr");
#endif
}

}  // namespace

struct WriterCore::State : std::enable_shared_from_this<WriterCore::State> {
  WriterTarget target;
  BulkWriterOptions o;
  std::vector<std::string> keyColumns;
  std::function<void(WriterDelivery&)> deliver;
  InsertSpec insert;
  UpdateSpec update;
  DeleteSpec remove;
  EngineSettings settings;
  bool matchReturned = false;  // Insert with Ignore: written rows are told from skipped ones by the returned keys

  mutable std::mutex m;
  std::condition_variable work;   // the writer's threads: rows to cut, a key released, shutdown
  std::condition_variable space;  // add(): room given back, closed
  std::condition_variable idle;   // close(): an outcome delivered
  std::deque<Row> buffer;
  std::size_t bufferedBytes = 0;
  std::size_t heldRows = 0;  // buffered + in flight
  std::size_t heldBytes = 0;
  std::unordered_set<std::string> keysInFlight;
  std::list<std::shared_ptr<Batch>> inFlight;
  std::size_t inFlightRows = 0;
  std::uint64_t epoch = 0;                       // the generation of rows added now
  std::uint64_t urgentBelow = 0;                 // rows of an earlier generation are sent without waiting for linger
  std::map<std::uint64_t, std::size_t> pending;  // generation -> rows without an outcome yet
  std::vector<std::pair<std::uint64_t, std::promise<void>>> flushes;
  bool closed = false;
  bool shutdown = false;
  std::size_t delivering = 0;  // threads running callbacks
  BulkWriterStats stats;
  std::stop_source stop;
  std::shared_ptr<const std::string> lastSignature;  // the columns of the row added last
  std::vector<std::thread> threads;                  // one per request in flight: limit() of them, started as it grows
  std::size_t maxInFlight = 0;                  // fixed: maxInFlight (or the client's concurrency); else the ceiling
  std::optional<AdaptiveConcurrency> adaptive;  // else: the adaptive limit

  std::size_t limit() const { return adaptive ? adaptive->limit() : maxInFlight; }

  // Under the lock: a thread for each request the limit allows (an adaptive limit starts at 4 and
  // may reach its ceiling; an idle writer holds only the threads it has used). A thread that cannot
  // be started leaves the writer with the ones it has.
  void startThreads() {
    while (!shutdown && threads.size() < std::min(limit(), maxInFlight)) {
      try {
        threads.emplace_back([self = shared_from_this()] { self->run(); });
        nameThread(threads.back());
      } catch (const std::system_error&) {
        if (threads.empty()) throw;
        return;
      }
    }
  }

  // ---- the writer's threads ----
  void run() {
    std::unique_lock lk(m);
    for (;;) {
      if (buffer.empty() || inFlight.size() >= limit()) {
        if (shutdown && buffer.empty()) return;
        work.wait(lk);
        continue;
      }
      const bool urgent = closed || buffer.front().epoch < urgentBelow || buffer.size() >= o.maxBatchRows ||
                          bufferedBytes >= o.maxBatchBytes || o.linger.count() == 0;
      if (!urgent) {
        const auto due = buffer.front().added + o.linger;
        if (Clock::now() < due) {
          work.wait_until(lk, due);
          continue;
        }
      }
      auto batch = cut();
      if (batch->rows.empty()) {
        work.wait(lk);  // every buffered row waits for its key: a finished batch wakes us
        continue;
      }
      inFlight.push_back(batch);
      inFlightRows += batch->rows.size();
      const std::size_t inFlightAtSend = inFlight.size();
      const std::size_t limitAtSend = limit();
      const auto sentAt = Clock::now();
      lk.unlock();
      std::vector<WriterDelivery> out;
      BulkResult<nlohmann::json> result;
      std::string thrown;
      bool statementTimeout = false;
      try {
        result = send(*batch, statementTimeout);
      } catch (const std::exception& e) {
        thrown = e.what();
      } catch (...) {
        thrown = "unknown exception";
      }
      lk.lock();
      if (adaptive)
        adapt(*batch, result, thrown, Clock::now() - sentAt, {inFlightAtSend, limitAtSend, statementTimeout});
      if (batch->abandoned) continue;  // close() reported these rows already
      inFlight.remove(batch);
      outcomesOf(*batch, result, thrown, out);
      ++stats.batches;
      stats.requests += result.requests;
      stats.retries += result.retries;
      inFlightRows -= batch->rows.size();
      release(batch->rows, batch->bytes);
      deliverUnlocked(lk, out, batch->rows);
    }
  }

  struct SendState {
    std::size_t inFlightAtSend;  // batches in flight when it was sent, itself included
    std::size_t limitAtSend;     // the limit then
    bool statementTimeout;       // a request of it met 57014 (the engine split it, not retried)
  };

  // The adaptive limit (src/adaptive_concurrency.hpp), under the lock: a batch sent once and
  // written is a latency sample; a batch the engine had to send again (503, 429, a request
  // timeout, a reset, a deadlock) or split after a statement timeout is taken as overload (a
  // statement timeout caps the limit too; the writer does not see its message, so it learns no
  // deadline). A higher limit wakes a thread.
  void adapt(const Batch& b, const BulkResult<nlohmann::json>& r, const std::string& thrown, Clock::duration took,
             const SendState& sent) {
    const std::size_t before = adaptive->limit();
    if (thrown.empty() && r.retries == 0 && r.failed == 0 && r.requests == 1) {
      adaptive->answered(took, b.bytes, sent.inFlightAtSend);
    } else if (r.retries > 0 || sent.statementTimeout) {
      adaptive->overload(sent.statementTimeout, sent.limitAtSend);
    }
    if (adaptive->limit() > before) {
      startThreads();
      work.notify_all();
    }
  }

  // Rows for one request: oldest first, skipping rows whose key is in flight or already taken
  // (a later row of a key waits for the earlier one; they are sent in the order added).
  std::shared_ptr<Batch> cut() {
    auto b = std::make_shared<Batch>();
    b->rows.reserve(std::min(buffer.size(), o.maxBatchRows));
    auto fits = [&](const Row& r) {
      return b->rows.size() < o.maxBatchRows && (b->rows.empty() || b->bytes + r.bytes <= o.maxBatchBytes);
    };
    if (keyColumns.empty()) {
      while (!buffer.empty() && fits(buffer.front())) take(*b, buffer.front());
      return b;
    }
    std::vector<Row> waiting;
    std::unordered_set<std::string> taken;
    const std::size_t scanLimit = std::max<std::size_t>(4 * o.maxBatchRows, 1024);
    std::size_t scanned = 0;
    while (!buffer.empty() && scanned < scanLimit && fits(buffer.front())) {
      ++scanned;
      Row& r = buffer.front();
      if (!r.key.empty() && (keysInFlight.count(r.key) || !taken.insert(r.key).second)) {
        waiting.push_back(std::move(r));
        buffer.pop_front();
        continue;
      }
      if (!r.key.empty()) keysInFlight.insert(r.key);
      take(*b, r);
    }
    for (auto it = waiting.rbegin(); it != waiting.rend(); ++it) buffer.push_front(std::move(*it));
    return b;
  }
  void take(Batch& b, Row& r) {
    b.bytes += r.bytes;
    bufferedBytes -= r.bytes;
    b.rows.push_back(std::move(r));
    buffer.pop_front();
  }

  // One engine call for the batch, with the operation spec every bulk call uses.
  BulkResult<nlohmann::json> send(const Batch& b, bool& statementTimeout) {
    EngineSettings s = settings;
    s.stopToken = stop.get_token();
    if (adaptive) {
      s.observer = [&statementTimeout](const RequestEvent& e) {
        if (e.status >= 500 && e.code == "57014") statementTimeout = true;
      };
    }
    const auto n = b.rows.size();
    std::size_t i = 0;
    if (o.operation == WriterOperation::Insert || o.operation == WriterOperation::Upsert) {
      RowWriterSource source = [&](RowWriter& writer, std::string& out) {
        if (i == n) return false;
        const Row& row = b.rows[i++];
        writer.begin(out);
        writer.again(row.text, row.signature ? std::string_view(*row.signature) : std::string_view(),
                     row.key);  // written and checked at add()
        return true;
      };
      return runInsert(*target.client, insert, std::move(source), n, s);
    }
    RowSource source = [&](nlohmann::json& row) {
      if (i == n) return false;
      row = nlohmann::json::parse(b.rows[i++].text, nullptr, false);
      return true;
    };
    if (o.operation == WriterOperation::Update) return runUpdate(*target.client, update, std::move(source), n, s);
    return runDelete(*target.client, remove, std::move(source), n, s);
  }

  // The engine's result of a batch as one outcome per row (positions in the batch are the
  // engine's input indexes). Errors name their rows; the rest were written, skipped or not
  // processed, told apart by the counts, or for Insert with Ignore by the keys the server returned.
  void outcomesOf(Batch& b, BulkResult<nlohmann::json>& r, const std::string& thrown,
                  std::vector<WriterDelivery>& out) {
    const std::size_t n = b.rows.size();
    out.resize(n);
    std::vector<bool> named(n, false);
    if (!thrown.empty()) {
      const BulkError e = unknownOutcome("the bulk engine failed: " + thrown);
      for (std::size_t i = 0; i < n; ++i) set(out[i], RowOutcome::Unknown, e);
      return;
    }
    for (const auto& err : r.errors) {
      BulkError e = err;
      e.indexes.clear();
      for (auto i : err.indexes) {
        if (i >= n || named[i]) continue;
        named[i] = true;
        set(out[i], err.outcomeUnknown ? RowOutcome::Unknown : RowOutcome::Failed, e);
      }
    }
    std::vector<std::size_t> rest;
    for (std::size_t i = 0; i < n; ++i) {
      if (!named[i]) rest.push_back(i);
    }
    auto all = [&](RowOutcome k) {
      for (auto i : rest) set(out[i], k, std::nullopt);
    };
    if (rest.size() == r.successful && r.skipped == 0 && r.notProcessed == 0) return all(RowOutcome::Written);
    if (rest.size() == r.skipped && r.successful == 0 && r.notProcessed == 0) return all(RowOutcome::Skipped);
    if (rest.size() == r.notProcessed && r.successful == 0 && r.skipped == 0) return all(RowOutcome::Cancelled);
    if (matchReturned && r.notProcessed == 0 && rest.size() == r.successful + r.skipped) {
      std::unordered_map<std::string, std::size_t> returned;
      for (const auto& row : r.data) {
        if (row.is_object()) ++returned[keyOf(row, keyColumns)];
      }
      std::vector<std::size_t> written;
      for (auto i : rest) {
        auto it = returned.find(b.rows[i].key);
        if (!b.rows[i].key.empty() && it != returned.end() && it->second > 0) {
          --it->second;
          written.push_back(i);
        }
      }
      if (written.size() == r.successful) {
        for (auto i : rest) set(out[i], RowOutcome::Skipped, std::nullopt);
        for (auto i : written) out[i].outcome = RowOutcome::Written;
        return;
      }
    }
    // The counts do not say which rows were written (a batch cancelled half-way): unknown.
    const BulkError e = unknownOutcome("the batch's answer does not tell whether this row was written");
    for (auto i : rest) set(out[i], RowOutcome::Unknown, e);
  }

  static void set(WriterDelivery& d, RowOutcome k, std::optional<BulkError> e) {
    d.outcome = k;
    d.error = std::move(e);
  }

  // Gives back the room and keys of finished rows (under the lock, before any callback).
  void release(const std::vector<Row>& rows, std::size_t bytes) {
    heldRows -= rows.size();
    heldBytes -= bytes;
    for (const auto& r : rows) {
      if (!r.key.empty()) keysInFlight.erase(r.key);
    }
    space.notify_all();
    work.notify_all();
  }

  // Counts @p out, runs the callbacks without the lock, then settles flush() and close().
  void deliverUnlocked(std::unique_lock<std::mutex>& lk, std::vector<WriterDelivery>& out, std::vector<Row>& rows) {
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i].context = std::move(rows[i].context);
      switch (out[i].outcome) {
        case RowOutcome::Written:
          ++stats.written;
          break;
        case RowOutcome::Skipped:
          ++stats.skipped;
          break;
        case RowOutcome::Failed:
          ++stats.failed;
          break;
        case RowOutcome::Unknown:
          ++stats.unknown;
          break;
        case RowOutcome::Cancelled:
          ++stats.cancelled;
          break;
      }
    }
    ++delivering;
    lk.unlock();
    const void* previous = deliveringFor;
    deliveringFor = this;
    for (auto& d : out) {
      try {
        deliver(d);
      } catch (...) {  // a callback must not throw; it cannot take the writer down
      }
      d.context.reset();
    }
    deliveringFor = previous;
    lk.lock();
    --delivering;
    for (const auto& r : rows) {
      auto it = pending.find(r.epoch);
      if (it != pending.end() && --it->second == 0) pending.erase(it);
    }
    settleFlushes();
    idle.notify_all();
  }

  void settleFlushes() {
    for (auto it = flushes.begin(); it != flushes.end();) {
      if (pending.empty() || pending.begin()->first > it->first) {
        it->second.set_value();
        it = flushes.erase(it);
      } else {
        ++it;
      }
    }
  }

  bool finished() const { return heldRows == 0 && delivering == 0 && pending.empty(); }
};

WriterCore::WriterCore(WriterTarget target, BulkWriterOptions options, std::function<void(WriterDelivery&)> deliver)
    : options_(std::move(options)) {
  const auto& o = options_;
  if (!target.client) throw std::invalid_argument("pgrestify: a BulkWriter needs a client");
  auto s = std::make_shared<State>();
  const BulkDefaults defaults = bulkDefaults(*target.client);
  s->settings = validate(o, defaults).engine;
  // One thread per request the writer may have in flight: maxInFlight (or the client's chosen
  // concurrency), else the adaptive ceiling.
  if (const auto fixed = o.maxInFlight ? o.maxInFlight : defaults.concurrency) {
    s->maxInFlight = std::min<std::size_t>(*fixed, kMaxWriterInFlight);
  } else {
    const std::size_t ceiling =
        std::clamp<std::size_t>(target.client->options().maxConnections, kDefaultConcurrency, kMaxWriterInFlight);
    s->adaptive.emplace(kDefaultConcurrency, 1, ceiling);
    s->maxInFlight = ceiling;
  }

  switch (o.operation) {
    case WriterOperation::Insert:
    case WriterOperation::Upsert: {
      InsertSpec& spec = s->insert;
      spec.table = target.table;
      spec.onConflict = o.operation == WriterOperation::Upsert ? OnConflict::Update : o.onConflict;
      spec.conflictColumns = o.conflictColumns.names();
      spec.missing = o.missing;
      spec.maxBatchBytes = o.maxBatchBytes;
      spec.headers = target.headers;
      if (spec.onConflict != OnConflict::Error) {
        if (spec.conflictColumns.empty()) {
          spec.conflictColumns = exposedPrimaryKey(*target.client, target.table, target.schema);
        }
        if (spec.conflictColumns.empty()) {
          throw std::invalid_argument("pgrestify: table '" + target.table +
                                      "' has no primary key PostgREST reports; set conflictColumns");
        }
        for (const auto& c : spec.conflictColumns) checkIdentifier(c, "conflict column");
        keyColumns_ = spec.conflictColumns;
      }
      if (spec.onConflict == OnConflict::Ignore) {
        // The keys of the rows written come back, so a skipped row is told from a written one.
        spec.returning = true;
        spec.select = joinIdentifiers(spec.conflictColumns);
        s->matchReturned = true;
      }
      break;
    }
    case WriterOperation::Update:
    case WriterOperation::Delete: {
      auto match = o.matchColumn.names();  // checked by validate()
      if (o.operation == WriterOperation::Update) {
        s->update.table = target.table;
        s->update.matchColumns = match;
        s->update.maxBatchBytes = o.maxBatchBytes;
        s->update.headers = target.headers;
      } else {
        s->remove.table = target.table;
        s->remove.matchColumns = match;
        s->remove.headers = target.headers;
      }
      keyColumns_ = std::move(match);
      break;
    }
  }
  s->target = std::move(target);
  s->o = options_;
  s->keyColumns = keyColumns_;
  s->deliver = std::move(deliver);
  try {
    std::lock_guard lk(s->m);
    s->startThreads();
  } catch (...) {
    {
      std::lock_guard lk(s->m);
      s->shutdown = true;
    }
    s->work.notify_all();
    for (auto& t : s->threads) t.join();
    throw;
  }
  state_ = std::move(s);
}

WriterCore::~WriterCore() {
  if (!state_) return;
  try {
    close(options_.closeTimeout);
  } catch (...) {
  }
  {
    std::lock_guard lk(state_->m);
    state_->shutdown = true;
  }
  state_->work.notify_all();
  for (auto& t : state_->threads) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // destroyed from its own callback: the thread ends by itself (it holds the state)
    } else if (t.joinable()) {
      t.join();
    }
  }
}

void WriterCore::prepareJson(const nlohmann::json& row, PreparedRow& prepared) const {
  try {
    prepared.text = row.dump();
  } catch (const std::exception& e) {
    prepared.invalid = std::string("the row cannot be serialized: ") + e.what();
    return;
  }
  if (row.is_object()) {
    prepared.key = keyOf(row, keyColumns_);
  } else if (keyColumns_.size() == 1 && row.is_primitive() && !row.is_null()) {
    prepared.key = keyOf(nlohmann::json{{keyColumns_.front(), row}}, keyColumns_);
  }
}

AddResult WriterCore::add(PreparedRow prepared, std::unique_ptr<WriterBox> context, bool wait) {
  State& s = *state_;
  const std::size_t bytes = prepared.text.size() + 1;  // the row and its comma
  if (prepared.invalid.empty() && bytes > options_.maxBufferedBytes)
    prepared.invalid = "the row is larger than maxBufferedBytes";
  std::unique_lock lk(s.m);
  if (!prepared.invalid.empty()) {
    ++s.stats.refused;
    return {AddStatus::Invalid, "pgrestify: " + prepared.invalid};
  }
  auto full = [&] {
    return s.heldRows + 1 > options_.maxBufferedRows || s.heldBytes + bytes > options_.maxBufferedBytes;
  };
  if (!s.closed && full()) {
    const bool mayWait = wait && options_.whenFull == WhenFull::Block && deliveringFor != &s;
    if (mayWait) {
      s.space.wait_for(lk, options_.blockTimeout, [&] { return s.closed || !full(); });
    }
  }
  if (s.closed) {
    ++s.stats.refused;
    return {AddStatus::Closed, "pgrestify: the writer is closed"};
  }
  if (full()) {
    ++s.stats.refused;
    return {AddStatus::Full, "pgrestify: the writer is full (maxBufferedRows / maxBufferedBytes)"};
  }
  const bool wasEmpty = s.buffer.empty();
  Row r;
  r.epoch = s.epoch;
  r.text = std::move(prepared.text);
  r.key = std::move(prepared.key);
  if (!prepared.signature.empty()) {
    // Rows of the same columns share one copy (most writers have one column set).
    if (!s.lastSignature || *s.lastSignature != prepared.signature) {
      s.lastSignature = std::make_shared<const std::string>(prepared.signature);
    }
    r.signature = s.lastSignature;
  }
  r.bytes = bytes;
  r.added = Clock::now();
  r.context = std::move(context);
  s.buffer.push_back(std::move(r));
  s.bufferedBytes += bytes;
  s.heldRows += 1;
  s.heldBytes += bytes;
  ++s.pending[s.epoch];
  ++s.stats.added;
  // Wake a thread when its wait changes: the first row starts the linger timer; a full batch goes at once.
  if (wasEmpty || s.buffer.size() == options_.maxBatchRows ||
      (s.bufferedBytes >= options_.maxBatchBytes && s.bufferedBytes - bytes < options_.maxBatchBytes)) {
    s.work.notify_one();
  }
  return {};
}

std::future<void> WriterCore::flush() {
  State& s = *state_;
  std::promise<void> p;
  auto f = p.get_future();
  std::lock_guard lk(s.m);
  const auto generation = s.epoch++;
  s.urgentBelow = s.epoch;
  s.flushes.emplace_back(generation, std::move(p));
  s.settleFlushes();
  s.work.notify_all();
  return f;
}

bool WriterCore::close(std::chrono::milliseconds timeout) {
  State& s = *state_;
  const auto deadline = Clock::now() + timeout;
  std::unique_lock lk(s.m);
  s.closed = true;
  s.urgentBelow = std::numeric_limits<std::uint64_t>::max();
  s.work.notify_all();
  s.space.notify_all();
  if (deliveringFor == &s) return s.finished();  // from a callback: stop intake only
  if (s.idle.wait_until(lk, deadline, [&] { return s.finished(); })) return true;
  // The timeout: what was never sent is cancelled, what the engine holds is unknown; the engine
  // calls are stopped (their late answers are dropped).
  std::vector<Row> rows;
  std::vector<WriterDelivery> out;
  std::size_t bytes = 0;
  while (!s.buffer.empty()) {
    bytes += s.buffer.front().bytes;
    rows.push_back(std::move(s.buffer.front()));
    s.buffer.pop_front();
    out.emplace_back().outcome = RowOutcome::Cancelled;
  }
  s.bufferedBytes = 0;
  const BulkError e =
      unknownOutcome("close() timed out while the row's batch was being sent; it may have been written");
  for (auto& b : s.inFlight) {
    b->abandoned = true;
    s.inFlightRows -= b->rows.size();
    bytes += b->bytes;
    for (auto& r : b->rows) {
      Row copy;  // the engine may still read the row's text: only the context and key are taken
      copy.epoch = r.epoch;
      copy.key = r.key;
      copy.context = std::move(r.context);
      rows.push_back(std::move(copy));
      auto& d = out.emplace_back();
      d.outcome = RowOutcome::Unknown;
      d.error = e;
    }
  }
  s.inFlight.clear();
  s.stop.request_stop();
  s.release(rows, bytes);
  s.deliverUnlocked(lk, out, rows);
  s.idle.wait(lk, [&] { return s.delivering == 0; });  // callbacks of other threads already running
  return false;
}

BulkWriterStats WriterCore::stats() const {
  State& s = *state_;
  std::lock_guard lk(s.m);
  BulkWriterStats st = s.stats;
  st.buffered = s.buffer.size();
  st.inFlight = s.inFlightRows;
  st.heldBytes = s.heldBytes;
  st.concurrency = s.limit();
  return st;
}

}  // namespace pgrestify::detail
