// SPDX-License-Identifier: MIT
#include "import.hpp"
#include "token_command.hpp"

#include "column_types.hpp"
#include "progress.hpp"
#include "readers.hpp"
#include "reject_writer.hpp"
#include "resume_state.hpp"
#include "row_stream.hpp"
#include "tool_transport.hpp"

#include <pgrestify/error.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace pgrestify::cli {

StandardStreams guardStandardStreams() {
  StandardStreams s;
  bool* closed[] = {&s.inClosed, &s.outClosed, &s.errClosed};
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    *closed[fd] = true;
    // open() returns the lowest free descriptor: this one. Nothing the tool opens later (the
    // reject file!) can then become "standard output".
    const int got = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (got != fd && got >= 0) ::close(got);
  }
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe is a write error we report, not a silent death
  return s;
}

std::string cliMessage(std::string message) {
  static constexpr std::string_view kPrefix = "pgrestify: ";
  while (message.compare(0, kPrefix.size(), kPrefix) == 0) message.erase(0, kPrefix.size());
  // The library's option names, as a user of the tool knows them.
  static const std::pair<std::string_view, std::string_view> kNames[] = {
      {"ClientOptions::url", "--url"},
      {"retry.maxAttempts", "--retries"},
      {"maxAttempts", "--retries"},
      {"conflictColumns", "--conflict-columns"},
      {"matchColumn", "--column"},
      {"batchSize", "--batch-size"},
      {"onConflict", "--on-conflict"},
      {"ClientOptions::timeout", "--timeout"},
      {"ClientOptions::schema", "--schema"},
      {"ClientOptions::headers", "--header"},
      {"ClientOptions::bearerToken", "--token"},
  };
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '.'; };
  for (const auto& [from, to] : kNames) {
    for (auto pos = message.find(from); pos != std::string::npos; pos = message.find(from, pos)) {
      const bool before = pos > 0 && word(message[pos - 1]);
      const bool after =
          pos + from.size() < message.size() && word(message[pos + from.size()]) && message[pos + from.size()] != '.';
      if (before || after) {
        pos += from.size();
        continue;
      }
      message.replace(pos, from.size(), to);
      pos += to.size();
    }
  }
  return message;
}

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> gSignal{0};
static_assert(std::atomic<int>::is_always_lock_free, "used in a signal handler");

// The first SIGINT/SIGTERM asks for a stop (see InterruptMonitor); a second one ends the tool at once. That
// exit is status 5 (the report is incomplete), not death by the signal: a shell would show 130,
// which means "interrupted, the summary and reject file cover every row".
extern "C" void onSignal(int sig) {
  if (gSignal.exchange(sig) != 0) {
    static const char kMessage[] =
        "pgrestify: second interrupt: exiting at once; the summary and the reject file are incomplete\n";
    [[maybe_unused]] auto n = ::write(2, kMessage, sizeof kMessage - 1);
    ::_exit(kExitReportFailed);
  }
}

/// Refused before anything is sent (exit status 4).
class SetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string errnoText(int err) { return std::strerror(err); }

/// A table that PostgREST's description does not list.
std::string notExposedMessage(const CommonOptions& common) {
  return "table '" + common.table + "' is not exposed by PostgREST" +
         (common.schema.empty() ? std::string() : " in schema '" + common.schema + "'") +
         " (no such table or view, or no privilege on it)";
}

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

bool validUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

/// Refuses a reject file that is the input itself (same device and inode: the same path, a
/// symlink, a hard link, /dev/stdin or /proc/self/fd/0 for standard input). Opening it for
/// writing would truncate the input before it is read. Character devices (/dev/null, a terminal)
/// are not files that can be destroyed and are allowed. Throws SetupError.
void checkRejectIsNotInput(const std::string& input, const std::string& reject) {
  if (reject.empty()) return;
  struct stat in {
  }, out{};
  const bool haveIn = input == "-" ? ::fstat(0, &in) == 0 : ::stat(input.c_str(), &in) == 0;
  if (!haveIn || ::stat(reject.c_str(), &out) != 0) return;  // a reject file that does not exist yet is new
  if (in.st_dev == out.st_dev && in.st_ino == out.st_ino && !S_ISCHR(in.st_mode)) {
    throw SetupError("--reject-file " + reject + " is the input file itself (" +
                     (input == "-" ? std::string("standard input") : input) +
                     "): writing it would destroy the input; choose another path. Nothing was read or written");
  }
  // The file standard output or standard error already writes to: two descriptors with their own
  // offsets would overwrite each other's lines (the summary over the first reject record).
  for (int fd : {1, 2}) {
    struct stat sst {};
    if (::fstat(fd, &sst) == 0 && S_ISREG(sst.st_mode) && sst.st_dev == out.st_dev && sst.st_ino == out.st_ino) {
      throw SetupError("--reject-file " + reject + " is the file standard " + (fd == 1 ? "output" : "error") +
                       " goes to: their lines would overwrite each other. Choose another path" +
                       (fd == 2 ? std::string(" (or leave --reject-file out to send failed rows to standard error)")
                                : std::string()) +
                       ". Nothing was sent");
    }
  }
}

/// Headers the tool (or the library) sets itself, whose value changes what the answers mean
/// (Prefer: tx=rollback makes written rows vanish, resolution=... counts skipped rows as
/// written) or how they are read. Refused, never merged.
constexpr std::string_view kOwnedHeaders[] = {
    "Prefer", "Accept",    "Content-Type", "Content-Profile", "Accept-Profile", "Content-Length", "Transfer-Encoding",
    "Range",  "Range-Unit"};

bool headerNameOk(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {  // RFC 9110 token
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(ch) == std::string_view::npos) return false;
  }
  return true;
}

// ---- the steps of a run: open the input, build the call, run it, report, exit status ----------

/// Ends a run before its report: the note to print (none when empty), the exit status, and
/// whether the summary line of a run that sent nothing (every count 0) is printed.
struct Stop {
  int status;
  std::string message;
  bool summary = true;
};

/// The counts of the summary line.
struct Counts {
  std::size_t rows = 0;
  std::size_t ok = 0;
  std::size_t skipped = 0;
  std::size_t failed = 0;
  std::size_t unknown = 0;             ///< failed rows whose outcome is unknown
  std::size_t unsent = 0;              ///< rows read but never sent (interrupted)
  std::optional<std::size_t> runRows;  ///< rows of this run, when the counts include earlier runs (--resume)
};

/// The words of the summary line for written (deleted) and skipped (not found) rows.
struct SummaryWords {
  const char* ok;
  const char* skipped;
};

/// What the user sees: notes and the progress display on standard error, the summary line on
/// standard output.
class Reporter {
 public:
  Reporter(const CommonOptions& common, SummaryWords words)
      : common_(common),
        words_(words),
        display_(stderr, !common.streams.errClosed && ::isatty(::fileno(stderr)) == 1, !common.quiet,
                 std::chrono::seconds(common.progressSeconds)) {}

  ProgressDisplay& display() { return display_; }
  void note(const std::string& text) { display_.print(cliMessage(text)); }
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }
  /// The summary line could not be written to standard output (exit status 5).
  bool summaryLost() const { return summaryLost_; }

  /// The summary line of a run that sent nothing.
  void emptySummary() { summary(Counts{}, elapsed()); }

  /// A line on standard output before the summary line (--resume).
  void outLine(const std::string& text) {
    display_.clear();
    std::fputs((text + "\n").c_str(), stdout);
  }

  /// The summary line, on standard output; when it cannot be written it goes to standard error.
  /// Rows read but never sent (interrupted) get their own clause, and so do failed rows whose
  /// outcome is unknown; otherwise the line is exactly "N rows: S written, K skipped, F failed in
  /// T s (R rows/s)".
  void summary(const Counts& c, double seconds) {
    const double rate = seconds > 0 ? static_cast<double>(c.runRows.value_or(c.rows)) / seconds : 0.0;
    char text[512];
    const std::string unknownText =
        c.unknown ? " (" + std::to_string(c.unknown) + " with an unknown outcome)" : std::string();
    const std::string unsentText = c.unsent ? ", " + std::to_string(c.unsent) + " not sent" : std::string();
    std::snprintf(text, sizeof text, "%zu rows: %zu %s, %zu %s, %zu failed%s%s in %.1f s (%.0f rows/s)\n", c.rows, c.ok,
                  words_.ok, c.skipped, words_.skipped, c.failed, unknownText.c_str(), unsentText.c_str(), seconds,
                  rate);
    display_.clear();
    std::clearerr(stdout);
    const bool written = std::fputs(text, stdout) >= 0;
    if (std::fflush(stdout) == 0 && written && !std::ferror(stdout) && !common_.streams.outClosed) return;
    const int err = errno;
    summaryLost_ = true;
    std::string line = text;
    line.pop_back();
    note("error: the summary line could not be written to standard output (" +
         (common_.streams.outClosed ? std::string("closed") : errnoText(err)) + "): " + line);
  }

 private:
  const CommonOptions& common_;
  SummaryWords words_;
  Clock::time_point started_ = Clock::now();
  ProgressDisplay display_;
  bool summaryLost_ = false;
};

bool interrupted() { return gSignal != 0; }

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

/// Refuses to start when the summary line, or the rows that fail, would have nowhere to go.
void checkStandardStreams(const CommonOptions& common) {
  if (common.streams.outClosed) {
    throw Stop{kExitSetup, "standard output is closed: the summary line could not be written. Nothing was sent", false};
  }
  if (common.streams.errClosed && common.rejectFile.empty()) {
    throw Stop{kExitSetup, "", false};  // the rows that fail would have nowhere to go (and this could not be said)
  }
}

/// --timeout as a duration.
std::chrono::milliseconds requestTimeout(const CommonOptions& common) {
  return std::chrono::milliseconds(static_cast<long long>(common.timeout.value_or(60.0) * 1000.0));
}

std::shared_ptr<ToolTransport> openTransport(const CommonOptions& common) {
  // --timeout is the bulk call's per-request timeout (callOptions below); here it also bounds the
  // requests made before the bulk call (the table description). One connection per request in
  // flight (--concurrency up to 256; the transport would raise its per-host limit for the call anyway).
  CurlTransportOptions t;
  if (common.timeout) t.timeout = requestTimeout(common);
  t.maxConnections = common.concurrency.value_or(ClientOptions{}.maxConnections);
  return std::make_shared<ToolTransport>(makeCurlTransport(t));
}

Client openClient(const CommonOptions& common, std::shared_ptr<ToolTransport> transport) {
  try {
    return makeClient(common, std::move(transport));
  } catch (const SetupError& e) {
    throw Stop{kExitSetup, e.what()};
  } catch (const std::invalid_argument& e) {
    throw Stop{kExitUsage, e.what(), false};
  }
}

std::unique_ptr<Input> openInput(const CommonOptions& common) {
  try {
    struct stat st {};
    if (common.file == "-" && common.streams.inClosed) throw InputError("standard input is closed");
    if (common.file != "-" && ::stat(common.file.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      throw InputError("cannot read " + common.file + ": it is a directory");
    }
    return std::make_unique<Input>(common.file);
  } catch (const std::exception& e) {
    throw Stop{kExitInput, std::string("input error: ") + e.what()};
  }
}

/// Opens the reject file: new, or (@p state: a resumed run) continued at the length the state
/// records.
void openRejects(const CommonOptions& common, RejectWriter& rejects, const ResumeState* state) {
  try {
    checkRejectIsNotInput(common.file, common.rejectFile);
    if (!common.rejectFile.empty()) {
      if (state && state->runs > 0) {
        rejects.openAt(common.rejectFile, state->rejectBytes);
      } else {
        rejects.open(common.rejectFile);
      }
    }
  } catch (const std::exception& e) {
    throw Stop{state && state->runs > 0 ? kExitStateRefused : kExitSetup, std::string(e.what()) + ". Nothing was sent"};
  }
}

/// --shard K/N (all records without it). Throws Stop (usage error).
ShardSpec shardOf(const CommonOptions& common) {
  if (!common.shard) return ShardSpec{};
  try {
    return parseShard(*common.shard);
  } catch (const std::invalid_argument& e) {
    throw Stop{kExitUsage, e.what(), false};
  }
}

/// A resumable run (--resume STATE, docs/cli.md "Resumable and sharded imports"): keeps the
/// state file's position at the low-water mark of the input records (every record before it has
/// its final outcome, whatever order the batches complete in) and the reject file consistent with
/// it. Reject records are held until the position passes their rows, then written in input order
/// and synced before the state that counts them: the reject file holds exactly the records of the
/// rows before the position (a resumed run cuts it back to the length the state records).
class ResumeBook {
 public:
  ResumeBook(std::string path, ResumeState state, RejectWriter& rejects, Tracker& tracker,
             const RecordSelector& selector, std::uint64_t reserve, Reporter& report)
      : path_(std::move(path)),
        state_(std::move(state)),
        base_(state_.counts),
        baseResent_(state_.resent),
        startSentUpTo_(state_.sentUpTo),
        rejects_(rejects),
        tracker_(tracker),
        selector_(selector),
        reserve_(reserve),
        report_(report) {
    state_.complete = false;
    ++state_.runs;
  }

  /// The input record this run started at.
  std::uint64_t startPosition() const { return selector_.start(); }
  /// The state as it was before this run (counts of earlier runs, where it resumes).
  const StateCounts& base() const { return base_; }
  const ResumeState& state() const { return state_; }
  /// Rows this run sent that an interrupted run may have sent already.
  std::uint64_t resentThisRun() const { return resent_; }
  /// The state could not be written: the run was stopped.
  bool failed() const { return failed_; }
  /// How to stop the bulk call when the state cannot be written.
  void setStop(std::function<void()> stop) { stop_ = std::move(stop); }

  /// The first state of this run, before anything is sent. Throws Stop (exit status 4).
  void start() {
    checkpoint(0);
    if (failed_) throw Stop{kExitSetup, "nothing was sent"};
  }

  /// Input record @p record could not become a row.
  void inputReject(std::uint64_t record, std::size_t line, std::string row, nlohmann::json error) {
    Held h{record, record};
    h.failed = 1;
    h.records.push_back(Record{record, line, std::move(row), std::move(error)});
    held_.push_back(std::move(h));
  }

  /// The engine is given the row of input record @p record: before it can be sent, the state
  /// records that rows up to it may have been sent (reserving the next rows too).
  void rowTaken(std::uint64_t record) {
    if (record < startSentUpTo_) ++resent_;
    if (record >= state_.sentUpTo) checkpoint(record + reserve_);
  }

  /// Every row of the batch has its outcome: its counts and reject records wait until the
  /// position passes its rows.
  void batchDone(const BatchReport& report) {
    std::unordered_map<std::size_t, const BulkError*> failedRows;
    Held h{std::numeric_limits<std::uint64_t>::max(), 0};
    for (const auto& e : report.errors) {
      if (e.outcomeUnknown) h.unknown += e.indexes.size();
      for (auto i : e.indexes) failedRows.emplace(i, &e);
    }
    h.ok = report.successful;
    h.skipped = report.skipped;
    h.failed = report.failed;
    for (auto index : report.indexes) {
      auto row = tracker_.take(index);
      if (!row) continue;
      h.minRecord = std::min(h.minRecord, row->record);
      h.maxRecord = std::max(h.maxRecord, row->record);
      if (auto it = failedRows.find(index); it != failedRows.end()) {
        h.records.push_back(Record{row->record, row->line, std::move(row->text), errorJson(*it->second)});
      }
    }
    if (h.minRecord > h.maxRecord) h.minRecord = h.maxRecord = selector_.next();  // no row known: not expected
    held_.push_back(std::move(h));
    if (Clock::now() - last_ >= kInterval) checkpoint(0);
  }

  /// The bulk call returned: failed rows no batch report named (refused before sending) get their
  /// records, and the last state is written; complete when @p inputDone and every row has its outcome.
  void finish(const BulkResult<nlohmann::json>& result, bool inputDone) {
    for (const auto& e : result.errors) {
      for (auto index : e.indexes) {
        auto row = tracker_.take(index);
        if (!row) continue;
        Held h{row->record, row->record};
        h.failed = 1;
        h.unknown = e.outcomeUnknown ? 1 : 0;
        h.records.push_back(Record{row->record, row->line, std::move(row->text), errorJson(e)});
        held_.push_back(std::move(h));
      }
    }
    checkpoint(0);
    if (failed_) return;
    // Nothing is in flight any more: only the finished rows after the position (in batches that
    // finished before an earlier one that was never sent) will be sent again.
    std::uint64_t sent = state_.position;
    for (const auto& h : held_) sent = std::max(sent, h.maxRecord + 1);
    state_.sentUpTo = sent;
    state_.complete = inputDone && !tracker_.firstRecord() && held_.empty();
    save();
  }

 private:
  static constexpr auto kInterval = std::chrono::milliseconds(250);

  struct Record {
    std::uint64_t record;
    std::size_t line;
    std::string text;
    nlohmann::json error;
  };
  /// Rows with their outcome whose counts and records the state does not hold yet.
  struct Held {
    std::uint64_t minRecord;
    std::uint64_t maxRecord;
    std::uint64_t ok = 0;
    std::uint64_t skipped = 0;
    std::uint64_t failed = 0;
    std::uint64_t unknown = 0;
    std::vector<Record> records;
  };

  /// Moves the position to the low-water mark, writes the reject records of the rows before it,
  /// syncs the reject file, then writes the state (raising sent_up_to to @p sentUpTo).
  void checkpoint(std::uint64_t sentUpTo) {
    if (failed_) return;
    // The first row without its outcome (rows are kept in input order), else every record read.
    std::uint64_t position = tracker_.firstRecord().value_or(selector_.next());
    // A finished batch whose rows are on both sides of the position (key sets interleave) holds
    // the position before its first row: its counts are not split.
    for (bool moved = true; moved;) {
      moved = false;
      for (const auto& h : held_) {
        if (h.minRecord < position && h.maxRecord >= position) {
          position = h.minRecord;
          moved = true;
        }
      }
    }
    std::vector<Record> records;
    auto keep = std::partition(held_.begin(), held_.end(), [&](const Held& h) { return h.maxRecord >= position; });
    for (auto it = keep; it != held_.end(); ++it) {
      state_.counts.rows += it->ok + it->skipped + it->failed;
      state_.counts.written += it->ok;
      state_.counts.skipped += it->skipped;
      state_.counts.failed += it->failed;
      state_.counts.unknown += it->unknown;
      for (auto& r : it->records) records.push_back(std::move(r));
    }
    held_.erase(keep, held_.end());
    std::stable_sort(records.begin(), records.end(),
                     [](const Record& a, const Record& b) { return a.record < b.record; });
    for (const auto& r : records) rejects_.write(r.line, r.text, r.error);
    if (!rejects_.sync() || rejects_.incomplete()) {
      fail("the reject file could not be written");
      return;
    }
    state_.position = std::max(state_.position, position);
    state_.rejectBytes = rejects_.bytes();
    state_.sentUpTo = std::max({state_.sentUpTo, sentUpTo, state_.position});
    state_.resent = baseResent_ + resent_;
    save();
  }

  void save() {
    try {
      saveState(path_, state_);
      last_ = Clock::now();
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }

  void fail(const std::string& why) {
    failed_ = true;
    report_.note("error: " + why + "; the state file " + path_ +
                 " is not updated any more: stopping (run the same command again to continue from its last "
                 "position)");
    if (stop_) stop_();
  }

  std::string path_;
  ResumeState state_;
  StateCounts base_;
  std::uint64_t baseResent_;
  std::uint64_t startSentUpTo_;
  RejectWriter& rejects_;
  Tracker& tracker_;
  const RecordSelector& selector_;
  std::uint64_t reserve_;
  Reporter& report_;
  std::vector<Held> held_;
  std::uint64_t resent_ = 0;
  bool failed_ = false;
  Clock::time_point last_ = Clock::now();
  std::function<void()> stop_;
};

/// Input records that cannot become rows: counted (they are failed rows) and written to the
/// reject file (a resumable run gives them to its ResumeBook). Records the run does not take
/// (another shard's, or before the resume position) are dropped.
class InputRejects {
 public:
  InputRejects(RejectWriter& rejects, RecordSelector& selector, ResumeBook* book)
      : rejects_(rejects), selector_(selector), book_(book) {}
  RejectSink sink() {
    return [this](InputReject&& r) {
      const auto record = selector_.take();
      if (!record) return;
      ++count_;
      std::string row = r.row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      nlohmann::json error = {{"kind", "input"}, {"message", r.message}};
      if (book_) {
        book_->inputReject(*record, r.line, std::move(row), std::move(error));
      } else {
        rejects_.write(r.line, row, error);
      }
    };
  }
  std::size_t count() const { return count_; }

 private:
  RejectWriter& rejects_;
  RecordSelector& selector_;
  ResumeBook* book_;
  std::size_t count_ = 0;
};

/// The server connection and the user, for the steps that need them.
struct Session {
  Client& client;
  ToolTransport& transport;
  Reporter& report;
};

/// What the bulk call reports to, and its stop token.
struct CallHooks {
  ProgressCallback onProgress;
  BatchCallback onBatchComplete;
  std::stop_token stop;
};

/// Options of a bulk call with what every call of the tool sets: hooks, dry run, error limit,
/// timeout. --batch-size, --concurrency and the retry flags are the client's bulk defaults
/// (makeClient): the call resolves them like any client's.
template <class Options>
Options callOptions(const CommonOptions& common, const CallHooks& hooks) {
  Options o;
  o.onProgress = hooks.onProgress;
  o.onBatchComplete = hooks.onBatchComplete;
  o.stopToken = hooks.stop;
  o.dryRun = common.dryRun;
  o.maxFailures = static_cast<std::size_t>(common.maxErrors);
  if (common.timeout) o.timeout = requestTimeout(common);
  return o;
}

/// What differs between `import` and `delete`: how the input is read, the bulk call, and the
/// words of the report.
class Command {
 public:
  virtual ~Command() = default;
  virtual const CommonOptions& common() const = 0;
  virtual SummaryWords words() const = 0;
  /// The reader of @p input. Throws Stop when the run ends before anything is sent.
  virtual std::unique_ptr<RowReader> openReader(Input& input, RejectSink sink, Session& session) const = 0;
  virtual BulkResult<nlohmann::json> call(Client& client, RowStream& rows, const CallHooks& hooks) const = 0;
  /// Rows that fail as NotFound are counted as "not found" (skipped), not failed.
  virtual bool notFoundIsSkipped() const { return false; }
  /// ...and, for `update` (the row was not applied), still written to the reject file, status 1.
  virtual bool notFoundIsRejected() const { return false; }
  /// What to say about @p e, thrown by the bulk call.
  virtual std::string callFailure(const std::exception& e, Client&) const { return e.what(); }
  /// --resume: the options that change what is written, by name (the state file records them).
  virtual std::map<std::string, std::string> writeOptions() const = 0;
};

/// @p names joined with ','.
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

/// @p text as the state file keeps it (JSON text: invalid UTF-8 replaced).
std::string asStored(const std::string& text) {
  return nlohmann::json::parse(nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      .get<std::string>();
}

class ImportCommand final : public Command {
 public:
  explicit ImportCommand(const ImportOptions& options) : o_(options) {}
  const CommonOptions& common() const override { return o_.common; }
  SummaryWords words() const override {
    return o_.update ? SummaryWords{"updated", "not found"} : SummaryWords{"written", "skipped"};
  }
  bool notFoundIsSkipped() const override { return o_.update.has_value(); }
  bool notFoundIsRejected() const override { return o_.update.has_value(); }

  std::unique_ptr<RowReader> openReader(Input& input, RejectSink sink, Session& session) const override {
    const auto format = formatOf(o_);
    if (format == "ndjson") return makeNdjsonReader(input, std::move(sink));
    if (format == "json") return makeJsonArrayReader(input, std::move(sink));
    return makeCsvReader(input, csvOptions(session), csvHeaderCheck(std::move(sink)));
  }

  BulkResult<nlohmann::json> call(Client& client, RowStream& rows, const CallHooks& hooks) const override {
    auto table = client.from(o_.common.table);
    if (o_.update) {
      auto o = callOptions<BulkUpdateOptions>(o_.common, hooks);
      o.matchColumn = Columns(o_.update->key);
      o.strategy = o_.update->strategy;
      // The readers give the rows as RawJson (exact text); bulkUpdate takes JSON values: numbers
      // nlohmann::json would change go as strings of their text, or refuse their row (ExactRows).
      // validate() sees each row right after it was converted.
      auto exact = std::make_shared<ExactRows>(client, o_.common.table, o_.update->key);
      o.validate = [exact](const nlohmann::json&) -> std::optional<std::string> {
        if (exact->verdict().empty()) return std::nullopt;
        return exact->verdict();
      };
      return table.bulkUpdate(
          rows.raw() | std::views::transform([exact](const RawJson& row) { return exact->convert(row); }), o);
    }
    auto o = callOptions<BulkInsertOptions>(o_.common, hooks);
    o.onConflict = o_.onConflict;
    o.conflictColumns = Columns(o_.conflictColumns);
    return table.bulkInsert(rows.raw(), o);
  }

  std::map<std::string, std::string> writeOptions() const override {
    std::map<std::string, std::string> m{
        {"command", o_.update ? "update" : "import"},
        {"--table", o_.common.table},
        {"--schema", o_.common.schema},
        {"--format", formatOf(o_)},
        {"--on-conflict", o_.onConflict == OnConflict::Ignore   ? "ignore"
                          : o_.onConflict == OnConflict::Update ? "update"
                                                                : "error"},
        {"--conflict-columns", joined(o_.conflictColumns)},
        {"--null-string", o_.nullString},
        {"--empty-as-null", o_.emptyIsNull ? "yes" : "no"},
        {"--json-columns", joined(o_.jsonColumns)},
        {"--reject-file", o_.common.rejectFile},
    };
    for (auto& [name, value] : m) value = asStored(value);
    return m;
  }

  std::string callFailure(const std::exception& e, Client& client) const override {
    if (o_.onConflict != OnConflict::Error && o_.conflictColumns.empty() &&
        dynamic_cast<const std::invalid_argument*>(&e)) {
      try {  // "no primary key" for a table that does not exist: say so
        if (!client.describeTable(o_.common.table)->found) return notExposedMessage(o_.common);
      } catch (const std::exception&) {
      }
    }
    return e.what();
  }

 private:
  /// json/jsonb columns take their fields as JSON values: the column types, read once. Nothing
  /// is written yet, so an interruption while the server is silent ends the tool at once.
  CsvOptions csvOptions(Session& session) const {
    JsonColumns json;
    {
      installSignalHandlers();
      std::jthread watch([&](std::stop_token own) {
        while (!own.stop_requested() && gSignal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (gSignal != 0) session.transport.abandon();
      });
      json = jsonColumns(session.client, o_.common.table, o_.jsonColumns);
    }
    if (interrupted()) {
      throw Stop{kExitInterrupted, "interrupted while reading the table's description; nothing was sent"};
    }
    if (json.tableMissing) throw Stop{kExitSetup, notExposedMessage(o_.common)};
    if (!json.warning.empty()) session.report.note("warning: " + json.warning);
    return CsvOptions{.nullString = o_.nullString, .emptyIsNull = o_.emptyIsNull, .jsonColumns = std::move(json.names)};
  }

  /// Invalid UTF-8 in a CSV header is a bad header (input error), not a fault of every row.
  static RejectSink csvHeaderCheck(RejectSink sink) {
    return [sink = std::move(sink)](InputReject&& r) {
      if (r.row.is_object()) {
        for (const auto& [name, value] : r.row.items()) {
          if (!validUtf8(name)) throw InputError("the CSV header holds a column name that is not valid UTF-8");
        }
      }
      sink(std::move(r));
    };
  }

  const ImportOptions& o_;
};

class DeleteCommand final : public Command {
 public:
  explicit DeleteCommand(const DeleteOptions& options) : o_(options) {}
  const CommonOptions& common() const override { return o_.common; }
  SummaryWords words() const override { return {"deleted", "not found"}; }
  bool notFoundIsSkipped() const override { return true; }

  std::unique_ptr<RowReader> openReader(Input& input, RejectSink sink, Session&) const override {
    return makeKeyReader(input, std::move(sink), o_.trimKeys);
  }

  std::map<std::string, std::string> writeOptions() const override {
    return {{"command", "delete"},
            {"--table", o_.common.table},
            {"--schema", o_.common.schema},
            {"--column", o_.column},
            {"--reject-file", o_.common.rejectFile}};
  }

  BulkResult<nlohmann::json> call(Client& client, RowStream& rows, const CallHooks& hooks) const override {
    auto table = client.from(o_.common.table);
    auto o = callOptions<BulkDeleteOptions>(o_.common, hooks);
    o.matchColumn = Columns(o_.column);
    return table.bulkDelete(rows, o);
  }

 private:
  const DeleteOptions& o_;
};

/// Interruptions while the bulk call runs. The first SIGINT/SIGTERM stops sending new batches;
/// answers in flight get a grace period, then they are abandoned (their rows are failed with an
/// unknown outcome) so that the tool ends within about a second with a complete summary. A second
/// signal ends it at once (onSignal). Also ticks the progress display.
class InterruptMonitor {
 public:
  InterruptMonitor(Reporter& report, ToolTransport& transport) : report_(report), transport_(transport) {
    installSignalHandlers();
    thread_ = std::jthread([this](std::stop_token own) { watch(own); });
  }
  InterruptMonitor(const InterruptMonitor&) = delete;
  InterruptMonitor& operator=(const InterruptMonitor&) = delete;

  std::stop_token stopToken() const { return stop_.get_token(); }
  /// Stops starting new batches (the state of a resumable run cannot be written).
  void requestStop() { stop_.request_stop(); }
  /// The last progress of the bulk call (reported if the tool must exit without its result).
  void progress(const BulkProgress& p) {
    std::lock_guard lock(mutex_);
    snapshot_ = p;
  }
  /// The bulk call returned: no progress line and no stop after this.
  void callReturned() { callReturned_ = true; }

 private:
  static constexpr auto kGrace = std::chrono::milliseconds(1000);
  static constexpr auto kGiveUp = std::chrono::milliseconds(2500);

  void watch(const std::stop_token& own) {
    std::optional<Clock::time_point> signalled;
    bool abandoned = false;
    while (!own.stop_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (callReturned_) continue;
      report_.display().tick();
      if (gSignal == 0) continue;
      const auto now = Clock::now();
      if (!signalled) {
        signalled = now;
        stop_.request_stop();
        report_.note(
            "interrupted: no new requests are sent; waiting up to 1 s for the answers in flight "
            "(a second interrupt ends the tool at once, without a summary)");
        continue;
      }
      if (!abandoned && now - *signalled >= kGrace) {
        abandoned = true;
        if (const auto n = transport_.inFlight(); n > 0) {
          report_.note("no answer within 1 s: giving up " + std::to_string(n) +
                       " request(s) in flight; their rows are reported as failed with an unknown outcome");
        }
        transport_.abandon();
      }
      if (now - *signalled >= kGiveUp && !callReturned_) exitBlocked();
    }
  }

  /// The bulk call cannot return: it is blocked reading the input (a pipe without data).
  [[noreturn]] void exitBlocked() {
    BulkProgress p;
    {
      std::lock_guard lock(mutex_);
      p = snapshot_;
    }
    if (!transport_.writesStarted()) {
      report_.note("interrupted while reading the input; nothing was sent");
      report_.emptySummary();
      std::fflush(nullptr);
      std::_Exit(kExitInterrupted);
    }
    report_.note("interrupted while blocked reading the input: exiting without a complete report. So far " +
                 std::to_string(p.successful) + " row(s) written, " + std::to_string(p.skipped) + " skipped, " +
                 std::to_string(p.failed) + " failed (their reject records could not be written)");
    std::fflush(nullptr);
    std::_Exit(kExitReportFailed);
  }

  Reporter& report_;
  ToolTransport& transport_;
  std::stop_source stop_;
  std::atomic<bool> callReturned_{false};
  std::mutex mutex_;
  BulkProgress snapshot_;
  std::jthread thread_;  // last: stopped and joined before the members it uses are destroyed
};

/// The progress display's view of @p p: input rejects count as processed and failed rows; the
/// fraction done is the share of the input handed to the engine (bytes) times the share of those
/// rows finished.
ProgressState progressState(const BulkProgress& p, std::size_t inputRejects, const RowReader& reader,
                            const RowStream& stream) {
  ProgressState s;
  s.processed = p.processed + inputRejects;
  s.successful = p.successful;
  s.skipped = p.skipped;
  s.failed = p.failed + inputRejects;
  s.elapsed = p.elapsed;
  if (auto total = reader.totalBytes(); total && *total > 0) {
    const double taken = static_cast<double>(stream.rows());
    const double finished = taken > 0 ? std::min(1.0, static_cast<double>(p.processed) / taken) : 0.0;
    s.fraction = finished * static_cast<double>(stream.takenBytes()) / static_cast<double>(*total);
  }
  return s;
}

/// The input, read as rows, with what follows each row until it has its outcome.
struct Rows {
  RowReader& reader;
  RowStream& stream;
  Tracker& tracker;
  const InputRejects& inputRejects;
  ResumeBook* book = nullptr;  ///< --resume
};

/// Stop for an exception of the bulk call: thrown before any row was sent (invalid options, the
/// primary key could not be read) or, unexpectedly, after rows were sent.
Stop callFailed(const Command& command, Session& session, const std::exception& e) {
  const std::string what = command.callFailure(e, session.client);
  if (!session.transport.writesStarted()) {
    return Stop{interrupted() ? kExitInterrupted : kExitSetup,
                std::string(dynamic_cast<const pgrestify::Error*>(&e) ? "cannot start: " : "") + what};
  }
  // Rows may be written; the report is lost.
  return Stop{kExitReportFailed,
              "error after rows were sent: " + what + ". Rows may have been written; the report is incomplete", false};
}

/// Runs the bulk call under the interruption monitor, with the progress display. Throws Stop when
/// the call throws.
BulkResult<nlohmann::json> runCall(const Command& command, Session& session, Rows& rows) {
  InterruptMonitor monitor(session.report, session.transport);
  CallHooks hooks;
  hooks.onProgress = [&](const BulkProgress& p) {
    monitor.progress(p);
    session.report.display().update(progressState(p, rows.inputRejects.count(), rows.reader, rows.stream));
  };
  hooks.onBatchComplete = [&](const BatchReport& r) {
    if (rows.book) {
      rows.book->batchDone(r);
    } else {
      rows.tracker.batchDone(r);
    }
  };
  hooks.stop = monitor.stopToken();
  if (rows.book) rows.book->setStop([&monitor] { monitor.requestStop(); });
  try {
    auto result = command.call(session.client, rows.stream, hooks);
    monitor.callReturned();
    if (rows.book) rows.book->setStop({});
    return result;
  } catch (const std::exception& e) {
    monitor.callReturned();
    if (rows.book) rows.book->setStop({});
    throw callFailed(command, session, e);
  }
}

/// The rows of the bulk call's result as the summary counts them, after each failed row went to
/// the reject file with its input line.
struct Outcome {
  Counts counts;
  std::size_t notFoundRejects = 0;  ///< `update`: rows that matched nothing, in the reject file
  bool interrupted = false;
  std::unordered_set<std::size_t> finalRows;  ///< rows with a final outcome that no batch report named
};

/// Every failed row goes to the reject file with its input line; for delete, keys that match no
/// row are counted as "not found" (the row is gone either way) and are not rejects.
Outcome writeFailedRows(const Command& command, const BulkResult<nlohmann::json>& result, Rows& rows,
                        RejectWriter& rejects, Reporter& report) {
  Outcome out;
  std::size_t notFound = 0;
  std::unordered_map<std::size_t, const BulkError*> failedRows;
  for (const auto& e : result.errors) {
    if (command.notFoundIsSkipped() && e.kind == BulkErrorKind::NotFound) {
      notFound += e.indexes.size();
      if (!command.notFoundIsRejected()) continue;
      out.notFoundRejects += e.indexes.size();
    }
    if (e.outcomeUnknown) out.counts.unknown += e.indexes.size();
    for (auto i : e.indexes) failedRows.emplace(i, &e);
  }
  for (const auto& [index, e] : failedRows) out.finalRows.insert(index);
  if (rows.book) failedRows.clear();  // their records were written as their batches finished (ResumeBook)
  rows.tracker.forEach([&](std::size_t index, std::size_t line, const std::string& text) {
    auto it = failedRows.find(index);
    if (it == failedRows.end()) return;
    rejects.write(line, text, errorJson(*it->second));
    failedRows.erase(it);
  });
  for (const auto& [index, e] : failedRows) {  // not expected: a row the tracker does not know
    rejects.write(0, "null", errorJson(*e));
    report.note("internal: failed row #" + std::to_string(index) + " could not be traced to an input line");
  }
  rejects.close();

  const std::size_t inputRejects = rows.inputRejects.count();
  out.counts.rows = rows.stream.rows() + inputRejects;
  out.counts.failed = result.failed - notFound + inputRejects;
  out.counts.ok = result.successful;
  out.counts.skipped = result.skipped + notFound;
  out.counts.unsent = result.notProcessed;
  if (rows.book) {  // the totals of every run
    const StateCounts& base = rows.book->base();
    out.counts.runRows = out.counts.rows;
    out.counts.rows += base.rows;
    out.counts.ok += base.written;
    out.counts.skipped += base.skipped;
    out.counts.failed += base.failed;
    out.counts.unknown += base.unknown;
  }
  return out;
}

/// The exit status of a run whose bulk call returned, with the notes that explain it.
int exitStatus(const CommonOptions& common, const Outcome& out, Rows& rows, const RejectWriter& rejects,
               Reporter& report) {
  const Counts& c = out.counts;
  int status = c.failed > 0 || out.notFoundRejects > 0 ? kExitRowsFailed : kExitOk;
  if (c.ok + c.skipped + c.failed + c.unsent != c.rows) {
    report.note("internal: rows do not add up (" + std::to_string(c.rows) + " read)");
    status = kExitRowsFailed;
  }
  if (const auto& e = rows.stream.inputError()) {
    report.note("input error" + (e->line() ? " at line " + std::to_string(e->line()) : std::string()) + ": " +
                e->what() + "; the input after it was not read");
    status = kExitInput;
  }
  if (out.interrupted && rows.book) {
    report.note("interrupted: the state file " + common.resumeState +
                " records where to continue: run the same command again to resume");
    status = kExitInterrupted;
  } else if (out.interrupted) {
    const std::size_t open =
        rows.tracker.firstOpenLine([&](std::size_t index) { return out.finalRows.count(index) > 0; });
    std::string where = open ? "line " + std::to_string(open) : "the first unread line";
    report.note("interrupted: every input row before " + where +
                " was written, skipped or rejected; resume from there (with --on-conflict ignore when rows after it "
                "may have been written)" +
                (c.unknown ? "; " + std::to_string(c.unknown) +
                                 " rejected row(s) have an unknown outcome (\"outcomeUnknown\": true): they may have "
                                 "been written"
                           : std::string()));
    status = kExitInterrupted;
  }
  if (rejects.incomplete()) {
    report.note(
        "error: the reject file " + common.rejectFile + " is incomplete: " + std::to_string(rejects.onStderr()) +
        " record(s) went to standard error instead" +
        (rejects.lost() ? ", " + std::to_string(rejects.lost()) + " could not be written anywhere" : std::string()));
    status = kExitReportFailed;
  } else if (report.summaryLost()) {
    status = kExitReportFailed;
  }
  if (rows.book && rows.book->failed()) status = kExitReportFailed;
  return status;
}

/// The line of a resumed run before its summary: which run it is, where it continued, and how many
/// rows it sent again that the interrupted run may already have written.
void resumeLine(const ResumeBook& book, Reporter& report) {
  const ResumeState& s = book.state();
  if (s.runs <= 1) return;
  report.outLine("resumed: run " + std::to_string(s.runs) + " of this import continued at input record " +
                 std::to_string(book.startPosition()) + "; " + std::to_string(book.resentThisRun()) +
                 " row(s) sent again that the interrupted run may already have written (" + std::to_string(s.resent) +
                 " over all runs; with --on-conflict error, those already written fail as duplicates of themselves)");
}

/// Reports a run whose bulk call returned (reject records, summary line, notes) and returns its
/// exit status.
int reportResult(const Command& command, const BulkResult<nlohmann::json>& result, Rows& rows, RejectWriter& rejects,
                 Reporter& report) {
  // A signal that comes after the call returned (while the report is written) changes nothing:
  // every row already has its outcome.
  const bool wasInterrupted = result.cancelled || interrupted();
  report.display().clear();
  if (rows.book) {
    rows.book->finish(result, rows.stream.exhausted() && !wasInterrupted && result.notProcessed == 0);
  }
  Outcome out = writeFailedRows(command, result, rows, rejects, report);
  out.interrupted = wasInterrupted;
  const CommonOptions& common = command.common();
  const std::size_t rejected = out.counts.failed + out.notFoundRejects;
  if (rejected > 0 && !common.rejectFile.empty() && !common.quiet && !rejects.incomplete()) {
    report.note(std::to_string(rejected) + " failed row(s) written to " + common.rejectFile);
  }
  if (rows.book) resumeLine(*rows.book, report);
  report.summary(out.counts, static_cast<double>(result.elapsed.count()) / 1000.0);
  return exitStatus(common, out, rows, rejects, report);
}

/// True when @p a and @p b name the same existing file.
bool sameFile(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/// --resume STATE: the state to continue (a new one when the file does not exist), after checking
/// that it belongs to this input, these options and this shard. nullopt without --resume. Throws
/// Stop: usage errors (status 2), a refused state (status 6); nothing is written before.
std::optional<ResumeState> resumeState(const Command& command, const ShardSpec& shard) {
  const CommonOptions& common = command.common();
  if (common.resumeState.empty()) return std::nullopt;
  const std::string& path = common.resumeState;
  if (common.file == "-") {
    throw Stop{kExitUsage, "--resume needs an input file that can be read again, not standard input", false};
  }
  if (common.rejectFile.empty()) {
    throw Stop{kExitUsage,
               "--resume needs --reject-file: the failed rows of every run are kept in it, consistent with the state",
               false};
  }
  if (common.dryRun) throw Stop{kExitUsage, "--resume and --dry-run cannot be used together (nothing is kept)", false};
  if (path == common.rejectFile || sameFile(path, common.file) || sameFile(path, common.rejectFile)) {
    throw Stop{kExitUsage, "--resume " + path + " must be a file of its own, not the input or the reject file", false};
  }
  std::optional<ResumeState> saved;
  try {
    saved = loadState(path);
  } catch (const StateRefused& e) {
    throw Stop{kExitStateRefused, "the state file " + path + " cannot be used: " + e.what() +
                                      ". Nothing was sent and nothing written (the state file is left as it is)"};
  }
  InputFingerprint input;
  try {
    input = fingerprintFile(common.file);
  } catch (const std::exception& e) {
    throw Stop{kExitInput, std::string("input error: ") + e.what()};
  }
  const auto options = command.writeOptions();
  if (saved) {
    if (auto why = stateMismatch(*saved, input, options, shard); !why.empty()) {
      throw Stop{kExitStateRefused, "the state file " + path + " belongs to another import: " + why +
                                        ". Nothing was sent and nothing written. Run the import as it was started, "
                                        "or give another --resume file to start over"};
    }
    return saved;
  }
  ResumeState fresh;
  fresh.input = input;
  fresh.options = options;
  fresh.shard = shard;
  return fresh;
}

/// A rerun of an import its state records as complete: nothing to do.
int finishedBefore(const ResumeState& state, const CommonOptions& common, Reporter& report) {
  report.note("the import recorded in " + common.resumeState + " is complete (" + std::to_string(state.runs) +
              " run(s)): nothing was sent. The summary is that of the import");
  Counts c;
  c.rows = state.counts.rows;
  c.ok = state.counts.written;
  c.skipped = state.counts.skipped;
  c.failed = state.counts.failed;
  c.unknown = state.counts.unknown;
  c.runRows = 0;
  report.summary(c, 0.0);
  if (report.summaryLost()) return kExitReportFailed;
  return c.failed > 0 ? kExitRowsFailed : kExitOk;
}

/// A run of the tool: setup (nothing is sent, nothing is opened for writing until every check
/// passed), the bulk call, the report.
int run(const Command& command) {
  const CommonOptions& common = command.common();
  Reporter reporter(common, command.words());
  try {
    checkStandardStreams(common);
    const ShardSpec shard = shardOf(common);
    std::optional<ResumeState> state = resumeState(command, shard);
    if (state && state->complete) return finishedBefore(*state, common, reporter);
    auto transport = openTransport(common);
    Client client = openClient(common, transport);
    auto input = openInput(common);
    RejectWriter rejects(reporter.display());
    openRejects(common, rejects, state ? &*state : nullptr);
    RecordSelector selector(state ? state->position : 0, shard);
    Tracker tracker;
    std::optional<ResumeBook> book;
    if (state) {
      const std::uint64_t reserve = std::max<std::uint64_t>(
          10000, 4 * common.batchSize * common.concurrency.value_or(ClientOptions{}.maxConnections));
      book.emplace(common.resumeState, std::move(*state), rejects, tracker, selector, reserve, reporter);
    }
    ResumeBook* bookPtr = book ? &*book : nullptr;
    InputRejects inputRejects(rejects, selector, bookPtr);
    Session session{client, *transport, reporter};
    auto reader = command.openReader(*input, inputRejects.sink(), session);
    std::function<void(std::uint64_t)> onRow;
    if (bookPtr) onRow = [bookPtr](std::uint64_t record) { bookPtr->rowTaken(record); };
    RowStream stream(*reader, tracker, selector, std::move(onRow));
    Rows rows{*reader, stream, tracker, inputRejects, bookPtr};
    if (bookPtr) bookPtr->start();
    const auto result = runCall(command, session, rows);
    return reportResult(command, result, rows, rejects, reporter);
  } catch (const Stop& stop) {
    if (!stop.message.empty()) reporter.note(stop.message);
    if (stop.summary) reporter.emptySummary();
    return stop.status;
  }
}

}  // namespace

Client makeClient(const CommonOptions& common, std::shared_ptr<Transport> transport) {
  ClientOptions o;
  o.url = common.url;
  o.bearerToken = common.token;
  if (!common.tokenCommand.empty()) {
    if (!common.token.empty()) {
      throw SetupError(
          "--token-command and --token (or PGRESTIFY_TOKEN) both give the token: give only one. Nothing was sent");
    }
    o.tokenProvider = tokenCommandProvider(common.tokenCommand);
  }
  o.schema = common.schema;
  if (common.timeout) o.timeout = std::chrono::milliseconds(static_cast<long long>(*common.timeout * 1000.0));
  o.transport = std::move(transport);
  // The bulk flags, as client-wide defaults: the bulk calls resolve them like any client's.
  o.bulkDefaults.batchSize = common.batchSize;
  o.bulkDefaults.concurrency = common.concurrency;
  if (common.retries) o.bulkDefaults.retry.maxAttempts = *common.retries + 1;
  if (common.retryBudget) {
    o.bulkDefaults.retry.retryBudget = std::chrono::milliseconds(static_cast<long long>(*common.retryBudget * 1000.0));
  }
  std::size_t n = 0;
  for (const auto& h : common.headers) {
    ++n;
    // Messages name the header by its position (and its name once it is known to be one), never
    // quote the text: a malformed `--header "Authorization Bearer <token>"` is a secret.
    const std::string which = "--header #" + std::to_string(n);
    auto colon = h.find(':');
    if (colon == std::string::npos) {
      throw std::invalid_argument(which + " must look like 'Name: value' (it has no ':'; its text is not shown)");
    }
    std::string name = h.substr(0, colon);
    if (!headerNameOk(name)) {
      throw std::invalid_argument(which +
                                  " must look like 'Name: value' (the text before ':' is not a header name;"
                                  " its text is not shown)");
    }
    for (auto owned : kOwnedHeaders) {
      if (lower(name) == lower(std::string(owned))) {
        throw SetupError(which + " sets " + std::string(owned) +
                         ", which the tool sets itself: a user value would change what the server's answers mean "
                         "(e.g. Prefer: tx=rollback reports rows written that are not stored). Use --on-conflict "
                         "and --schema instead. Nothing was sent");
      }
    }
    if ((!common.token.empty() || !common.tokenCommand.empty()) && lower(name) == "authorization") {
      throw SetupError(
          which +
          " sets Authorization, and --token/--token-command (or PGRESTIFY_TOKEN) sets it too: give only one. "
          "Nothing was sent");
    }
    auto value = h.substr(colon + 1);
    auto first = value.find_first_not_of(" \t");
    o.headers.emplace_back(std::move(name), first == std::string::npos ? "" : value.substr(first));
  }
  return Client(std::move(o));
}

int runImport(const ImportOptions& options) { return run(ImportCommand(options)); }
int runDelete(const DeleteOptions& options) { return run(DeleteCommand(options)); }

}  // namespace pgrestify::cli
