// SPDX-License-Identifier: MIT
// BulkWriter: a long-lived, thread-safe writer for rows that arrive one at a time (a queue
// consumer, telemetry, a sync job). Rows are buffered, cut into batches (maxBatchRows,
// maxBatchBytes, or when the oldest row has waited `linger`) and each batch is run through the one
// bulk engine (detail::runInsert/runUpdate/runDelete: retries, isolation, accounting); every
// accepted row gets exactly one outcome through the callback. See docs/bulk-writer.md.
#pragma once

#include <pgrestify/client_handle.hpp>
#include <pgrestify/detail/row_writer.hpp>
#include <pgrestify/options.hpp>
#include <pgrestify/result.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrestify {

/// What a writer does with its rows.
enum class WriterOperation {
  Insert,  ///< POST; with OnConflict::Ignore, rows whose key exists are skipped
  Upsert,  ///< POST with merge-duplicates on the conflict columns (last added wins)
  Update,  ///< bulkUpdate by matchColumn (each row holds the key and the new values)
  Delete,  ///< bulkDelete by matchColumn (rows are keys, or objects holding the match columns)
};

/// What add() does when the writer holds maxBufferedRows rows or maxBufferedBytes bytes.
enum class WhenFull {
  Block,   ///< wait for room, at most blockTimeout, then refuse (AddStatus::Full)
  Reject,  ///< refuse at once (AddStatus::Full)
};

/// The one outcome of an accepted row.
enum class RowOutcome {
  Written,    ///< the server reported the row written (inserted, updated, deleted)
  Skipped,    ///< OnConflict::Ignore: a row with its key existed, nothing was written
  Failed,     ///< not written; `error` says why (the server's error, NotFound, InvalidRow, transport)
  Unknown,    ///< the request may have been committed (timeout after sending, close() timed out in flight)
  Cancelled,  ///< never sent: close() timed out while the row was buffered
};

/// Options of a BulkWriter. A new struct (the bulk options of the blocking calls are not reused:
/// a writer has no input range, progress or stop token of its own).
struct BulkWriterOptions {
  WriterOperation operation = WriterOperation::Insert;
  std::size_t maxBatchRows = 500;                     ///< rows per request at most (> 0)
  std::size_t maxBatchBytes = kDefaultMaxBatchBytes;  ///< bytes of rows per request at most (> 0)
  /// A batch is sent when its oldest row has waited this long, even if not full (0 = at once).
  std::chrono::milliseconds linger{20};
  /// Requests (engine runs) at once, 1..64. Unset: ClientOptions::bulkDefaults.concurrency when
  /// the client sets one, else adaptive (docs/bulk-writer.md): from 4 up to the client's
  /// maxConnections (at most 64). The writer has one thread per request in flight, started as the
  /// limit grows (named "pgrestify-wrtr"): an idle adaptive writer holds 4.
  std::optional<std::size_t> maxInFlight;
  /// Rows held (buffered + in flight) at most; at least maxBatchRows.
  std::size_t maxBufferedRows = 100000;
  /// Bytes of rows held (buffered + in flight, each row measured once at add) at most; at least maxBatchBytes.
  std::size_t maxBufferedBytes = 64 * 1024 * 1024;
  WhenFull whenFull = WhenFull::Block;
  std::chrono::milliseconds blockTimeout{60000};  ///< WhenFull::Block: longest wait of one add()
  /// Insert: Error (a duplicate key fails the row) or Ignore (skipped). Not used by the other operations.
  OnConflict onConflict = OnConflict::Error;
  Columns conflictColumns;     ///< Upsert / Insert with Ignore: the `on_conflict` target; empty = the primary key
  Columns matchColumn = "id";  ///< Update / Delete: the column(s) identifying a row
  Missing missing = Missing::Default;  ///< Insert / Upsert: columns a row lacks
  /// Retries of each batch (as in the blocking calls); fields left unset: the client's
  /// ClientOptions::bulkDefaults.retry, else RetryPolicy's.
  RetryOptions retry;
  /// Whole-request timeout, overriding ClientOptions::timeout.
  std::optional<std::chrono::milliseconds> timeout;
  /// The timeout of the close() the destructor does.
  std::chrono::milliseconds closeTimeout{10000};
};

/// Why add() did not accept a row.
enum class AddStatus {
  Accepted,
  Full,     ///< no room (WhenFull::Reject, tryAdd, blockTimeout passed, or add() from an outcome callback)
  Closed,   ///< close() was called (or the writer is being destroyed)
  Invalid,  ///< the row cannot be sent (not a JSON object, NaN, invalid UTF-8) or is larger than maxBufferedBytes
};

struct AddResult {
  AddStatus status = AddStatus::Accepted;
  std::string message;  ///< why, when not accepted
  bool accepted() const noexcept { return status == AddStatus::Accepted; }
  explicit operator bool() const noexcept { return accepted(); }
};

/// Counters of a writer (a consistent snapshot). Every accepted row is counted once in `added` and,
/// once finished, once in written/skipped/failed/unknown/cancelled; refused rows only in `refused`.
struct BulkWriterStats {
  std::size_t added = 0;
  std::size_t written = 0;
  std::size_t skipped = 0;
  std::size_t failed = 0;
  std::size_t unknown = 0;
  std::size_t cancelled = 0;
  std::size_t refused = 0;
  std::size_t buffered = 0;   ///< rows waiting for a batch
  std::size_t inFlight = 0;   ///< rows handed to the engine, outcome not yet known
  std::size_t heldBytes = 0;  ///< bytes of the buffered and in-flight rows
  std::size_t batches = 0;    ///< engine runs finished
  std::size_t requests = 0;   ///< requests sent (retries included)
  std::size_t retries = 0;
  std::size_t concurrency = 0;  ///< batches the writer may have in flight now (maxInFlight, or the adaptive limit)
};

/// A row's outcome, handed to the writer's callback with the context given to add().
template <class Context>
struct WriterOutcome {
  RowOutcome outcome = RowOutcome::Written;
  Context context;
  /// Failed / Unknown: the error (the server's, a transport's, NotFound, InvalidRow); its
  /// `indexes` are cleared (they are positions inside the writer's batch).
  std::optional<BulkError> error;
};

namespace detail {

class ClientState;

/// What the writer writes to: the query builder's table, headers and schema.
struct WriterTarget {
  std::shared_ptr<const ClientState> client;
  std::string table;
  Headers headers;
  std::string schema;
};

/// A row's context, type-erased (BulkWriter<T, Context> stores a ContextBox<Context>).
struct WriterBox {
  virtual ~WriterBox() = default;
};
template <class Context>
struct ContextBox final : WriterBox {
  explicit ContextBox(Context c) : value(std::move(c)) {}
  Context value;
};

/// A row as add() hands it to the core: serialized once, never parsed again.
struct PreparedRow {
  std::string text;            // JSON text (an object for Insert/Upsert)
  std::string key;             // empty: no ordering constraint
  std::string_view signature;  // Insert/Upsert: RowWriter::signature() (its columns); valid during add()
  std::string invalid;         // why the row cannot be sent; empty when it can
};

/// One outcome as the core delivers it.
struct WriterDelivery {
  RowOutcome outcome = RowOutcome::Written;
  std::unique_ptr<WriterBox> context;
  std::optional<BulkError> error;
};

/// The non-template part of every BulkWriter (src/bulk_writer.cpp): buffer, batches, threads,
/// capacity, key ordering, outcomes. Thread-safe.
class WriterCore {
 public:
  /// Validates @p options (std::invalid_argument), resolves the key columns (for Upsert and
  /// Insert with Ignore: the primary key when conflictColumns is empty; may throw Error or
  /// std::invalid_argument for a table PostgREST does not expose) and starts a thread per request
  /// the starting limit allows (more as an adaptive limit grows).
  WriterCore(WriterTarget target, BulkWriterOptions options, std::function<void(WriterDelivery&)> deliver);
  /// close(options.closeTimeout), then joins the threads. Never throws.
  ~WriterCore();
  WriterCore(const WriterCore&) = delete;
  WriterCore& operator=(const WriterCore&) = delete;

  /// The columns a row's key is made of (RowWriter key columns); empty = rows need no key.
  const std::vector<std::string>& keyColumns() const noexcept { return keyColumns_; }
  /// Update/Delete rows travel as JSON; Insert/Upsert rows as object text.
  bool jsonRows() const noexcept {
    return options_.operation == WriterOperation::Update || options_.operation == WriterOperation::Delete;
  }
  /// The size to reserve for a row's text before it is written: the size of the row written
  /// before, rounded up to 64 bytes (any thread; a hint), at most 4 KiB (a larger row grows as it is written).
  std::size_t rowSizeHint() const noexcept { return rowSizeHint_.load(std::memory_order_relaxed); }
  /// After a row was written into @p text: remembers its size for the next (rounded up to 64
  /// bytes, and stored only when that changes: producers on many cores do not write one cache line
  /// for every row), and gives back what a hint too large for it reserved (a buffered row holds at
  /// most twice its size).
  void noteRowSize(std::string& text) {
    const std::size_t hint = std::min<std::size_t>((text.size() + 8 + 63) / 64 * 64, 4096);
    if (rowSizeHint_.load(std::memory_order_relaxed) != hint) rowSizeHint_.store(hint, std::memory_order_relaxed);
    if (text.capacity() > 2 * text.size() + 64) text.shrink_to_fit();
  }
  /// Update/Delete: the row's text and key, or why it cannot be sent.
  void prepareJson(const nlohmann::json& row, PreparedRow& prepared) const;
  /// Admits a prepared row. @p wait: may block (WhenFull::Block); false = tryAdd.
  AddResult add(PreparedRow prepared, std::unique_ptr<WriterBox> context, bool wait);
  std::future<void> flush();
  bool close(std::chrono::milliseconds timeout);
  BulkWriterStats stats() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the threads
  BulkWriterOptions options_;
  std::vector<std::string> keyColumns_;
  std::atomic<std::size_t> rowSizeHint_{32};
};

}  // namespace detail

/// A long-lived writer bound to one table and one operation; see docs/bulk-writer.md. Every
/// member function is thread-safe. Move-only; using a moved-from writer throws std::invalid_argument.
///
/// Each accepted row gets exactly one outcome, delivered with its context to the callback, on one
/// of the writer's threads, never under the writer's lock and after the row's room has been given
/// back. A callback may call add()/tryAdd() (add() then never waits: it refuses with Full when there
/// is no room) and flush(); it must not throw (an exception from it is swallowed).
template <class T = nlohmann::json, class Context = std::uint64_t>
class BulkWriter {
 public:
  using Callback = std::function<void(WriterOutcome<Context>&)>;

  /// What QueryBuilder::bulkWriter does. Throws std::invalid_argument for invalid options.
  BulkWriter(detail::WriterTarget target, BulkWriterOptions options, Callback onOutcome)
      : callback_(std::make_shared<Callback>(std::move(onOutcome))) {
    auto cb = callback_;
    core_ =
        std::make_unique<detail::WriterCore>(std::move(target), std::move(options), [cb](detail::WriterDelivery& d) {
          WriterOutcome<Context> o{d.outcome, std::move(static_cast<detail::ContextBox<Context>&>(*d.context).value),
                                   std::move(d.error)};
          if (*cb) (*cb)(o);
        });
  }
  BulkWriter(BulkWriter&&) noexcept = default;
  BulkWriter& operator=(BulkWriter&&) noexcept = default;
  /// Closes with BulkWriterOptions::closeTimeout; never throws.
  ~BulkWriter() = default;

  /// Accepts @p row (a T, nlohmann::json, RawJson, or anything with to_json) or says why not;
  /// with WhenFull::Block waits for room at most blockTimeout. A refused row gets no outcome.
  template <class Row>
  AddResult add(const Row& row, Context context) {
    return admit(row, std::move(context), true);
  }
  /// Like add(), never waiting: Full at once when there is no room.
  template <class Row>
  AddResult tryAdd(const Row& row, Context context) {
    return admit(row, std::move(context), false);
  }
  /// Ready when every row added before this call has its outcome (callbacks run). The writer stays usable.
  std::future<void> flush() { return core().flush(); }
  /// Stops intake (add() refuses with Closed), sends what is buffered and waits at most @p timeout
  /// for every outcome (requests, retries and callbacks). Rows unfinished at the timeout are
  /// reported then: Cancelled when never sent, Unknown when handed to the engine. True when
  /// everything finished in time. Calling it again returns at once.
  bool close(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) { return core().close(timeout); }
  BulkWriterStats stats() const { return core().stats(); }

 private:
  detail::WriterCore& core() const {
    if (!core_) throw std::invalid_argument("pgrestify: this BulkWriter was moved from");
    return *core_;
  }

  template <class Row>
  AddResult admit(const Row& row, Context&& context, bool wait) {
    auto& c = core();
    detail::PreparedRow prepared;
    if (c.jsonRows()) {
      c.prepareJson(nlohmann::json(row), prepared);
    } else {
      // The row's columns go to this thread's buffer: the core keeps one copy of each column set.
      thread_local std::string signature;
      detail::RowWriter writer(c.keyColumns(), std::move(signature));
      prepared.text.reserve(c.rowSizeHint());  // one allocation, not one per doubling
      detail::writeRow(writer, prepared.text, row);
      c.noteRowSize(prepared.text);
      prepared.invalid = writer.invalid();
      if (prepared.invalid.empty() && !c.keyColumns().empty()) prepared.key = writer.key();
      signature = writer.takeSignature();
      prepared.signature = signature;
    }
    return c.add(std::move(prepared), std::make_unique<detail::ContextBox<Context>>(std::move(context)), wait);
  }

  std::shared_ptr<Callback> callback_;
  std::unique_ptr<detail::WriterCore> core_;  // destroyed first: its threads use callback_
};

}  // namespace pgrestify
