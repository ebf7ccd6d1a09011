// SPDX-License-Identifier: MIT
#include "import.hpp"

#include "column_types.hpp"
#include "progress.hpp"
#include "readers.hpp"

#include <pgrestify/error.hpp>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <deque>
#include <iterator>
#include <map>
#include <stop_token>
#include <thread>
#include <unordered_map>

namespace pgrestify::cli {

namespace {

volatile std::sig_atomic_t gSignal = 0;

extern "C" void onSignal(int sig) { gSignal = sig; }

/// Turns SIGINT/SIGTERM into a stop request: in-flight batches finish, no new ones start.
/// A second signal kills the process (SA_RESETHAND).
class Interrupts {
 public:
  explicit Interrupts(std::stop_source source)
      : watcher_([source](std::stop_token stop) mutable {
          while (!stop.stop_requested()) {
            if (gSignal != 0) {
              source.request_stop();
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }) {
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  }
  bool interrupted() const { return gSignal != 0; }

 private:
  std::jthread watcher_;
};

/// The reject file (NDJSON, one record per failed input row), or standard error.
class RejectWriter {
 public:
  RejectWriter(const std::string& path, ProgressDisplay& display) : display_(display) {
    if (path.empty()) {
      out_ = stderr;
      return;
    }
    out_ = std::fopen(path.c_str(), "w");
    if (!out_) throw std::runtime_error("cannot write the reject file " + path);
    owned_ = true;
  }
  ~RejectWriter() {
    if (owned_) std::fclose(out_);
  }
  RejectWriter(const RejectWriter&) = delete;
  RejectWriter& operator=(const RejectWriter&) = delete;

  /// Writes `{"line":L,"row":<rowText>,"error":{...}}`.
  void write(std::size_t line, const std::string& rowText, const nlohmann::json& error) {
    if (out_ == stderr) display_.clear();
    std::string record = "{\"line\":" + std::to_string(line) + ",\"row\":" + rowText +
                         ",\"error\":" + error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "}\n";
    std::fwrite(record.data(), 1, record.size(), out_);
    ++count_;
  }
  bool flush() { return std::fflush(out_) == 0 && !std::ferror(out_); }
  std::size_t count() const { return count_; }

 private:
  ProgressDisplay& display_;
  std::FILE* out_ = nullptr;
  bool owned_ = false;
  std::size_t count_ = 0;
};

nlohmann::json errorJson(const BulkError& e) {
  nlohmann::json j;
  switch (e.kind) {
    case BulkErrorKind::Server: j["kind"] = "server"; break;
    case BulkErrorKind::Transport: j["kind"] = "transport"; break;
    case BulkErrorKind::NotFound: j["kind"] = "not_found"; break;
    case BulkErrorKind::InvalidRow: j["kind"] = "invalid"; break;
  }
  if (e.status) j["status"] = e.status;
  if (!e.code.empty()) j["code"] = e.code;
  j["message"] = e.message;
  if (!e.details.empty()) j["details"] = e.details;
  if (!e.hint.empty()) j["hint"] = e.hint;
  if (e.kind == BulkErrorKind::Transport) j["transport"] = toString(e.transport);
  if (e.outcomeUnknown) j["outcomeUnknown"] = true;
  j["attempts"] = e.attempts;
  return j;
}

/// Keeps each input row (line number, text) until the engine reports its batch complete, so that
/// failures can be traced back to input lines without holding the whole input: rows of batches
/// that had no failure are dropped, rows of batches that had one go to a temporary spill file.
/// Relies on what the engine guarantees: batch N holds the input rows that follow those of
/// batch N-1, and onBatchComplete reports each batch with its row and failure counts.
class Tracker {
 public:
  struct Row {
    std::size_t line;
    std::string text;
  };

  Tracker() : spill_(std::tmpfile()) {
    if (!spill_) throw std::runtime_error("cannot create a temporary file");
  }
  ~Tracker() { std::fclose(spill_); }
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  void add(std::size_t line, std::string text) {
    window_.push_back(Row{line, std::move(text)});
  }

  void batchDone(const BatchReport& report) {
    done_[report.batchIndex] = {report.rows, report.failed};
    for (auto it = done_.find(nextBatch_); it != done_.end(); it = done_.find(nextBatch_)) {
      const auto [rows, failed] = it->second;
      done_.erase(it);
      ++nextBatch_;
      for (std::size_t i = 0; i < rows && !window_.empty(); ++i) {
        Row& row = window_.front();
        if (failed > 0) {
          std::fprintf(spill_, "%zu %zu ", firstIndex_, row.line);
          std::fwrite(row.text.data(), 1, row.text.size(), spill_);
          std::fputc('\n', spill_);
        }
        window_.pop_front();
        ++firstIndex_;
      }
    }
  }

  /// Line of the first row without a final outcome, 0 when there is none.
  std::size_t firstOpenLine() const { return window_.empty() ? 0 : window_.front().line; }

  /// Calls @p fn(index, line, text) for every kept row (spilled ones, then the still open ones).
  template <class Fn>
  void forEach(Fn&& fn) {
    std::rewind(spill_);
    std::size_t index = 0, line = 0;
    std::string text;
    char buf[1 << 16];
    while (std::fscanf(spill_, "%zu %zu ", &index, &line) == 2) {
      text.clear();
      while (std::fgets(buf, sizeof buf, spill_)) {
        text += buf;
        if (!text.empty() && text.back() == '\n') break;
      }
      if (!text.empty() && text.back() == '\n') text.pop_back();
      fn(index, line, text);
    }
    std::size_t i = firstIndex_;
    for (const auto& row : window_) fn(i++, row.line, row.text);
  }

 private:
  std::FILE* spill_;
  std::deque<Row> window_;
  std::size_t firstIndex_ = 0;  // engine index of window_.front()
  std::map<std::size_t, std::pair<std::size_t, std::size_t>> done_;  // finished out of order
  std::size_t nextBatch_ = 0;
};

/// The input as a single-pass range of JSON rows: reads one record at a time from the reader,
/// keeps it in the tracker, and stops cleanly (end of range) at an input error.
class RowStream {
 public:
  RowStream(RowReader& reader, Tracker& tracker) : reader_(reader), tracker_(tracker) {}

  /// Iterates over the rows as V: RawJson (import rows, numbers as written) or nlohmann::json (keys).
  template <class V>
  class basic_iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using value_type = V;
    using difference_type = std::ptrdiff_t;
    basic_iterator() = default;
    explicit basic_iterator(RowStream* s) : s_(s) {}
    const V& operator*() const {
      if constexpr (std::same_as<V, RawJson>) {
        return s_->row_.raw;
      } else {
        return s_->row_.value;
      }
    }
    basic_iterator& operator++() {
      ++s_->taken_;  // the engine moved past the current row: it is its row now
      s_->takenBytes_ = s_->row_.endOffset;
      s_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return s_->done_; }

   private:
    RowStream* s_ = nullptr;
  };

  using iterator = basic_iterator<nlohmann::json>;
  iterator begin() {
    advance();
    return iterator(this);
  }
  std::default_sentinel_t end() { return {}; }

  /// The same single pass with RawJson rows (import).
  struct RawRange {
    RowStream* s;
    basic_iterator<RawJson> begin() {
      s->advance();
      return basic_iterator<RawJson>(s);
    }
    std::default_sentinel_t end() { return {}; }
  };
  RawRange raw() { return RawRange{this}; }

  /// Rows handed to the engine (the row read ahead by the iterator is not counted).
  std::size_t rows() const { return taken_; }
  /// Input bytes up to the end of the last row handed to the engine.
  std::uint64_t takenBytes() const { return takenBytes_; }
  const std::optional<InputError>& inputError() const { return error_; }

 private:
  void advance() {
    if (done_) return;
    try {
      if (reader_.next(row_)) {
        tracker_.add(row_.line, row_.text);
        return;
      }
    } catch (const InputError& e) {
      error_ = e;
    }
    done_ = true;
    row_ = InputRow{};
  }

  RowReader& reader_;
  Tracker& tracker_;
  InputRow row_;
  std::size_t taken_ = 0;
  std::uint64_t takenBytes_ = 0;
  bool done_ = false;
  std::optional<InputError> error_;
};
static_assert(std::ranges::input_range<RowStream>);
static_assert(!std::ranges::forward_range<RowStream>);
static_assert(std::ranges::input_range<RowStream::RawRange>);

enum class Kind { Import, Delete };

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string formatOf(const ImportOptions& o) {
  if (!o.format.empty()) return o.format;
  const auto& f = o.common.file;
  auto dot = f.rfind('.');
  std::string ext = dot == std::string::npos ? "" : lower(f.substr(dot + 1));
  if (ext == "ndjson" || ext == "jsonl") return "ndjson";
  if (ext == "json") return "json";
  return "csv";
}

int run(Kind kind, const CommonOptions& common, const ImportOptions* import, const DeleteOptions* del) {
  const bool terminal = ::isatty(::fileno(stderr)) == 1;
  ProgressDisplay display(stderr, terminal, !common.quiet, std::chrono::seconds(common.progressSeconds));
  auto note = [&](const std::string& text) {
    display.clear();
    std::fprintf(stderr, "pgrestify: %s\n", text.c_str());
  };

  Client client = makeClient(common);  // std::invalid_argument -> caller
  std::unique_ptr<RejectWriter> rejects;
  std::unique_ptr<Input> input;
  try {
    rejects = std::make_unique<RejectWriter>(common.rejectFile, display);
    input = std::make_unique<Input>(common.file);
  } catch (const InputError& e) {
    note(e.what());
    return kExitInput;
  } catch (const std::exception& e) {
    note(e.what());
    return kExitSetup;
  }

  std::size_t inputRejects = 0;
  RejectSink sink = [&](InputReject&& r) {
    ++inputRejects;
    rejects->write(r.line, r.row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                   {{"kind", "input"}, {"message", r.message}});
  };
  std::unique_ptr<RowReader> reader;
  if (kind == Kind::Delete) {
    reader = makeKeyReader(*input, sink);
  } else {
    const auto format = formatOf(*import);
    if (format == "csv") {
      // json/jsonb columns take their fields as JSON values: the column types, read once.
      auto json = jsonColumns(client, common.table, import->jsonColumns);
      if (!json.warning.empty()) note("warning: " + json.warning);
      reader = makeCsvReader(*input, CsvOptions{import->nullString, import->emptyIsNull, std::move(json.names)}, sink);
    }
    else if (format == "ndjson") reader = makeNdjsonReader(*input, sink);
    else reader = makeJsonArrayReader(*input, sink);
  }

  Tracker tracker;
  RowStream stream(*reader, tracker);
  std::stop_source stop;
  Interrupts interrupts(stop);

  auto progress = [&](const BulkProgress& p) {
    ProgressState s;
    s.processed = p.processed + inputRejects;
    s.successful = p.successful;
    s.skipped = p.skipped;
    s.failed = p.failed + inputRejects;
    s.elapsed = p.elapsed;
    if (auto total = reader->totalBytes(); total && *total > 0) {
      // Share of the input handed to the engine (bytes) times the share of those rows finished.
      const double taken = static_cast<double>(stream.rows());
      const double finished = taken > 0 ? std::min(1.0, static_cast<double>(p.processed) / taken) : 0.0;
      s.fraction = finished * static_cast<double>(stream.takenBytes()) / static_cast<double>(*total);
    }
    display.update(s);
  };
  auto batchDone = [&](const BatchReport& r) { tracker.batchDone(r); };

  BulkResult<nlohmann::json> result;
  try {
    auto table = client.from(common.table);
    if (kind == Kind::Import) {
      BulkInsertOptions o;
      o.batchSize = common.batchSize;
      o.concurrency = common.concurrency;
      o.onConflict = import->onConflict;
      o.conflictColumns = Columns(import->conflictColumns);
      o.onProgress = progress;
      o.onBatchComplete = batchDone;
      o.stopToken = stop.get_token();
      result = table.bulkInsert(stream.raw(), o);
    } else {
      BulkDeleteOptions o;
      o.matchColumn = Columns(del->column);
      o.batchSize = common.batchSize;
      o.concurrency = common.concurrency;
      o.onProgress = progress;
      o.onBatchComplete = batchDone;
      o.stopToken = stop.get_token();
      result = table.bulkDelete(stream, o);
    }
  } catch (const std::invalid_argument& e) {
    note(e.what());
    return kExitSetup;
  } catch (const pgrestify::Error& e) {  // e.g. reading the primary key for --on-conflict
    note(std::string("cannot start: ") + e.what());
    return kExitSetup;
  }
  display.clear();

  // Every failed row goes to the reject file with its input line; for delete, keys that match
  // no row are counted as "not found" (the row is gone either way) and are not rejects.
  std::unordered_map<std::size_t, const BulkError*> failedRows;
  std::size_t notFound = 0;
  for (const auto& e : result.errors) {
    if (kind == Kind::Delete && e.kind == BulkErrorKind::NotFound) {
      notFound += e.indexes.size();
      continue;
    }
    for (auto i : e.indexes) failedRows.emplace(i, &e);
  }
  tracker.forEach([&](std::size_t index, std::size_t line, const std::string& text) {
    auto it = failedRows.find(index);
    if (it == failedRows.end()) return;
    rejects->write(line, text, errorJson(*it->second));
    failedRows.erase(it);
  });
  for (const auto& [index, e] : failedRows) {  // not expected: a row the tracker does not know
    rejects->write(0, "null", errorJson(*e));
    note("internal: failed row #" + std::to_string(index) + " could not be traced to an input line");
  }
  const bool rejectsOk = rejects->flush();

  const std::size_t rows = stream.rows() + inputRejects;
  const std::size_t failed = result.failed - notFound + inputRejects;
  const std::size_t ok = result.successful;
  const std::size_t skipped = result.skipped + notFound;
  const double seconds = static_cast<double>(result.elapsed.count()) / 1000.0;
  const double rate = seconds > 0 ? static_cast<double>(rows) / seconds : 0.0;
  if (failed > 0 && !common.rejectFile.empty() && !common.quiet) {
    note(std::to_string(failed) + " failed row(s) written to " + common.rejectFile);
  }
  // Rows read but never sent (interrupted) get their own clause; otherwise the line is exactly
  // "N rows: S written, K skipped, F failed in T s (R rows/s)".
  const std::string unsent =
      result.notProcessed ? ", " + std::to_string(result.notProcessed) + " not sent" : std::string();
  if (kind == Kind::Import) {
    std::printf("%zu rows: %zu written, %zu skipped, %zu failed%s in %.1f s (%.0f rows/s)\n", rows, ok, skipped,
                failed, unsent.c_str(), seconds, rate);
  } else {
    std::printf("%zu rows: %zu deleted, %zu not found, %zu failed%s in %.1f s (%.0f rows/s)\n", rows, ok, skipped,
                failed, unsent.c_str(), seconds, rate);
  }
  std::fflush(stdout);
  if (!rejectsOk) note("error: writing the reject file failed");

  if (result.cancelled || interrupts.interrupted()) {
    std::string where = tracker.firstOpenLine() ? "line " + std::to_string(tracker.firstOpenLine())
                                                : "the first unread line";
    note("interrupted: every input row before " + where +
         " was written, skipped or rejected; resume from there (with --on-conflict ignore when rows after it may "
         "have been written)");
    return kExitInterrupted;
  }
  if (const auto& e = stream.inputError()) {
    note("input error" + (e->line() ? " at line " + std::to_string(e->line()) : std::string()) + ": " + e->what() +
         "; the input after it was not read");
    return kExitInput;
  }
  if (ok + skipped + failed + result.notProcessed != rows) {
    note("internal: rows do not add up (" + std::to_string(rows) + " read)");
    return kExitRowsFailed;
  }
  if (!rejectsOk) return kExitSetup;
  return failed > 0 ? kExitRowsFailed : kExitOk;
}

}  // namespace

Client makeClient(const CommonOptions& common) {
  ClientOptions o;
  o.url = common.url;
  o.bearerToken = common.token;
  o.schema = common.schema;
  for (const auto& h : common.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      throw std::invalid_argument("--header must look like 'Name: value' (got '" + h + "')");
    }
    auto value = h.substr(colon + 1);
    auto first = value.find_first_not_of(" \t");
    o.headers.emplace_back(h.substr(0, colon), first == std::string::npos ? "" : value.substr(first));
  }
  return Client(std::move(o));
}

int runImport(const ImportOptions& options) { return run(Kind::Import, options.common, &options, nullptr); }
int runDelete(const DeleteOptions& options) { return run(Kind::Delete, options.common, nullptr, &options); }

}  // namespace pgrestify::cli
