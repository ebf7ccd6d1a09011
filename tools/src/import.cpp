// SPDX-License-Identifier: MIT
#include "import.hpp"

#include "column_types.hpp"
#include "progress.hpp"
#include "readers.hpp"

#include <pgrestify/detail/client_state.hpp>
#include <pgrestify/error.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>
#include <unordered_map>
#include <unordered_set>

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
      {"ClientOptions::url", "--url"},          {"retry.maxAttempts", "--retries"},
      {"maxAttempts", "--retries"},             {"conflictColumns", "--conflict-columns"},
      {"matchColumn", "--column"},              {"batchSize", "--batch-size"},
      {"onConflict", "--on-conflict"},          {"ClientOptions::timeout", "--timeout"},
      {"ClientOptions::schema", "--schema"},    {"ClientOptions::headers", "--header"},
      {"ClientOptions::bearerToken", "--token"},
  };
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '.'; };
  for (const auto& [from, to] : kNames) {
    for (auto pos = message.find(from); pos != std::string::npos; pos = message.find(from, pos)) {
      const bool before = pos > 0 && word(message[pos - 1]);
      const bool after = pos + from.size() < message.size() && word(message[pos + from.size()]) &&
                         message[pos + from.size()] != '.';
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

// The first SIGINT/SIGTERM asks for a stop (see run()); a second one ends the tool at once. That
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
      const auto wait = abandoned || !out.empty() ? std::chrono::milliseconds(0)
                                                  : std::min(maxWait, std::chrono::milliseconds(50));
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
          r.errorMessage = "no answer before the interruption: the request was abandoned, the server may have "
                           "executed it";
          out.emplace_back(tag, std::move(r));
        }
        owner_.inFlight_ -= tags_.size();
        tags_.clear();
      }
      return out;
    }
    std::size_t inFlight() const override { return tags_.size() + abandonedNow_.size(); }

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

/// The reject file (NDJSON, one record per failed input row), or standard error. Each record is
/// written with one write(2), so a failure is known per record: when the file cannot be written
/// (disk full, /dev/full, I/O error), that record and every later one go to standard error
/// instead, and the run ends with exit status 5; a record that cannot be written anywhere is
/// counted as lost.
class RejectWriter {
 public:
  explicit RejectWriter(ProgressDisplay& display) : display_(display) {}
  ~RejectWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  RejectWriter(const RejectWriter&) = delete;
  RejectWriter& operator=(const RejectWriter&) = delete;

  /// Opens (creates, truncates) @p path. Throws SetupError.
  void open(const std::string& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) throw SetupError("cannot write the reject file " + path + ": " + errnoText(errno));
    path_ = path;
  }

  /// Writes `{"line":L,"row":<rowText>,"error":{...}}`.
  void write(std::size_t line, const std::string& rowText, const nlohmann::json& error) {
    std::string record = "{\"line\":" + std::to_string(line) + ",\"row\":" + rowText +
                         ",\"error\":" + error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "}\n";
    ++count_;
    if (fd_ >= 0 && !fileFailed_) {
      if (writeAll(fd_, record)) return;
      fileFailed_ = true;
      display_.print("error: cannot write the reject file " + path_ + " (" + errnoText(errno) +
                     "): this record (line " + std::to_string(line) +
                     ") and every later one go to standard error instead");
    }
    if (fd_ >= 0) ++onStderr_;
    if (!display_.write(record)) ++lost_;
  }

  /// Closes the reject file; false when that failed (its last records may not be stored).
  bool close() {
    if (fd_ < 0) return true;
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && !fileFailed_) {
      fileFailed_ = true;
      display_.print("error: closing the reject file " + path_ + " failed (" + errnoText(errno) +
                     "): its records may be incomplete");
      return false;
    }
    return true;
  }
  std::size_t count() const { return count_; }
  /// Records not where they were asked to go (moved to standard error, or lost).
  bool incomplete() const { return fileFailed_ || lost_ > 0; }
  std::size_t onStderr() const { return onStderr_; }
  std::size_t lost() const { return lost_; }

 private:
  static bool writeAll(int fd, const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  ProgressDisplay& display_;
  int fd_ = -1;
  std::string path_;
  bool fileFailed_ = false;
  std::size_t count_ = 0;
  std::size_t onStderr_ = 0;
  std::size_t lost_ = 0;
};

/// A table that PostgREST's description does not list.
std::string notExposedMessage(const CommonOptions& common) {
  return "table '" + common.table + "' is not exposed by PostgREST" +
         (common.schema.empty() ? std::string() : " in schema '" + common.schema + "'") +
         " (no such table or view, or no privilege on it)";
}

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
/// Relies on what the engine guarantees: onBatchComplete reports each batch, with the input
/// indexes of its rows and its failure count, once every row of it has its final outcome.
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

  void add(std::size_t line, std::string text) { window_.emplace(nextIndex_++, Row{line, std::move(text)}); }

  /// Every row of the batch has its final outcome: rows of a batch with failures go to the spill
  /// file, the others are dropped. Rows are found by their input index (a batch's rows are not
  /// contiguous when key sets interleave; a row refused before sending belongs to no batch and
  /// stays until the end).
  void batchDone(const BatchReport& report) {
    for (std::size_t index : report.indexes) {
      auto it = window_.find(index);
      if (it == window_.end()) continue;
      if (report.failed > 0) {
        std::fprintf(spill_, "%zu %zu ", index, it->second.line);
        std::fwrite(it->second.text.data(), 1, it->second.text.size(), spill_);
        std::fputc('\n', spill_);
      }
      window_.erase(it);
    }
  }

  /// Line of the first kept row without a final outcome (@p final_ says which kept rows have one),
  /// 0 when there is none.
  template <class Final>
  std::size_t firstOpenLine(Final&& final_) const {
    for (const auto& [index, row] : window_) {
      if (!final_(index)) return row.line;
    }
    return 0;
  }

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
    for (const auto& [index, row] : window_) fn(index, row.line, row.text);
  }

 private:
  std::FILE* spill_;
  std::map<std::size_t, Row> window_;  // input index -> row, until its batch is done
  std::size_t nextIndex_ = 0;
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
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {  // e.g. a read error reported by the stream library
      error_ = InputError(std::string("cannot read the input: ") + e.what());
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
  struct stat in {}, out {};
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
constexpr std::string_view kOwnedHeaders[] = {"Prefer",          "Accept",         "Content-Type",
                                              "Content-Profile", "Accept-Profile", "Content-Length",
                                              "Transfer-Encoding", "Range",        "Range-Unit"};

bool headerNameOk(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {  // RFC 9110 token
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(ch) == std::string_view::npos) return false;
  }
  return true;
}

int run(Kind kind, const CommonOptions& common, const ImportOptions* import, const DeleteOptions* del) {
  const auto started = Clock::now();
  const bool terminal = !common.streams.errClosed && ::isatty(::fileno(stderr)) == 1;
  ProgressDisplay display(stderr, terminal, !common.quiet, std::chrono::seconds(common.progressSeconds));
  auto note = [&](const std::string& text) { display.print(cliMessage(text)); };

  // The summary line, on standard output. It is printed on every path past the command line;
  // when it cannot be written it goes to standard error and the status becomes 5.
  bool summaryLost = false;
  auto summary = [&](std::size_t rows, std::size_t ok, std::size_t skipped, std::size_t failed,
                     std::size_t unknown, std::size_t unsent, double seconds) {
    const double rate = seconds > 0 ? static_cast<double>(rows) / seconds : 0.0;
    char text[512];
    const std::string unknownText =
        unknown ? " (" + std::to_string(unknown) + " with an unknown outcome)" : std::string();
    const std::string unsentText = unsent ? ", " + std::to_string(unsent) + " not sent" : std::string();
    std::snprintf(text, sizeof text,
                  kind == Kind::Import ? "%zu rows: %zu written, %zu skipped, %zu failed%s%s in %.1f s (%.0f rows/s)\n"
                                       : "%zu rows: %zu deleted, %zu not found, %zu failed%s%s in %.1f s (%.0f rows/s)\n",
                  rows, ok, skipped, failed, unknownText.c_str(), unsentText.c_str(), seconds, rate);
    display.clear();
    std::clearerr(stdout);
    const bool written = std::fputs(text, stdout) >= 0;
    if (std::fflush(stdout) == 0 && written && !std::ferror(stdout) && !common.streams.outClosed) return;
    const int err = errno;
    summaryLost = true;
    std::string line = text;
    line.pop_back();
    note("error: the summary line could not be written to standard output (" +
         (common.streams.outClosed ? std::string("closed") : errnoText(err)) + "): " + line);
  };
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - started).count(); };
  auto early = [&](int status) {  // nothing was sent
    summary(0, 0, 0, 0, 0, 0, elapsed());
    return status;
  };

  // ---- setup: nothing is sent, nothing is opened for writing until every check passed ----
  if (common.streams.outClosed) {
    note("standard output is closed: the summary line could not be written. Nothing was sent");
    return kExitSetup;
  }
  if (common.streams.errClosed && common.rejectFile.empty()) {
    return kExitSetup;  // the rows that fail would have nowhere to go (and this could not be said)
  }
  auto transport = std::make_shared<ToolTransport>([&] {
    CurlTransportOptions t;
    if (common.timeout) t.timeout = std::chrono::milliseconds(static_cast<long long>(*common.timeout * 1000.0));
    return makeCurlTransport(t);
  }());
  std::optional<Client> client;
  try {
    client.emplace(makeClient(common, transport));
  } catch (const SetupError& e) {
    note(e.what());
    return early(kExitSetup);
  } catch (const std::invalid_argument& e) {
    note(e.what());
    return kExitUsage;
  }

  std::unique_ptr<Input> input;
  try {
    struct stat st {};
    if (common.file == "-" && common.streams.inClosed) throw InputError("standard input is closed");
    if (common.file != "-" && ::stat(common.file.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      throw InputError("cannot read " + common.file + ": it is a directory");
    }
    input = std::make_unique<Input>(common.file);
  } catch (const std::exception& e) {
    note(std::string("input error: ") + e.what());
    return early(kExitInput);
  }

  RejectWriter rejects(display);
  try {
    checkRejectIsNotInput(common.file, common.rejectFile);
    if (!common.rejectFile.empty()) rejects.open(common.rejectFile);
  } catch (const std::exception& e) {
    note(e.what());
    return early(kExitSetup);
  }

  std::size_t inputRejects = 0;
  const bool csv = kind == Kind::Import && formatOf(*import) == "csv";
  RejectSink sink = [&](InputReject&& r) {
    // Invalid UTF-8 in a CSV header is a bad header (input error), not a fault of every row.
    if (csv && r.row.is_object()) {
      for (const auto& [name, value] : r.row.items()) {
        if (!validUtf8(name)) throw InputError("the CSV header holds a column name that is not valid UTF-8");
      }
    }
    ++inputRejects;
    rejects.write(r.line, r.row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  {{"kind", "input"}, {"message", r.message}});
  };
  std::unique_ptr<RowReader> reader;
  if (kind == Kind::Delete) {
    reader = makeKeyReader(*input, sink, del->trimKeys);
  } else {
    const auto format = formatOf(*import);
    if (format == "csv") {
      // json/jsonb columns take their fields as JSON values: the column types, read once. Nothing
      // is written yet, so an interruption while the server is silent ends the tool at once.
      JsonColumns json;
      {
        struct sigaction sa {};
        sa.sa_handler = onSignal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, nullptr);
        sigaction(SIGTERM, &sa, nullptr);
        std::jthread watch([&](std::stop_token own) {
          while (!own.stop_requested() && gSignal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
          if (gSignal != 0) transport->abandon();
        });
        json = jsonColumns(*client, common.table, import->jsonColumns);
      }
      if (gSignal != 0) {
        note("interrupted while reading the table's description; nothing was sent");
        return early(kExitInterrupted);
      }
      if (json.tableMissing) {
        note(notExposedMessage(common));
        return early(kExitSetup);
      }
      if (!json.warning.empty()) note("warning: " + json.warning);
      reader = makeCsvReader(*input, CsvOptions{.nullString = import->nullString, .emptyIsNull = import->emptyIsNull, .jsonColumns = std::move(json.names)}, sink);
    }
    else if (format == "ndjson") reader = makeNdjsonReader(*input, sink);
    else reader = makeJsonArrayReader(*input, sink);
  }

  Tracker tracker;
  RowStream stream(*reader, tracker);
  std::stop_source stop;

  // Signals: the first SIGINT/SIGTERM stops sending new batches; answers in flight get a grace
  // period, then they are abandoned (their rows are failed with an unknown outcome) so that the
  // tool ends within about a second with a complete summary. A second signal ends it at once
  // (onSignal).
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::atomic<bool> engineDone{false};
  std::mutex snapshotMutex;
  BulkProgress snapshot;
  constexpr auto kGrace = std::chrono::milliseconds(1000);
  constexpr auto kGiveUp = std::chrono::milliseconds(2500);
  std::jthread monitor([&](std::stop_token own) {
    std::optional<Clock::time_point> signalled;
    bool abandoned = false;
    while (!own.stop_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (engineDone) continue;  // no progress line, no stop once the bulk call has returned
      display.tick();
      if (gSignal == 0) continue;
      const auto now = Clock::now();
      if (!signalled) {
        signalled = now;
        stop.request_stop();
        note("interrupted: no new requests are sent; waiting up to 1 s for the answers in flight "
             "(a second interrupt ends the tool at once, without a summary)");
        continue;
      }
      if (!abandoned && now - *signalled >= kGrace) {
        abandoned = true;
        if (const auto n = transport->inFlight(); n > 0) {
          note("no answer within 1 s: giving up " + std::to_string(n) +
               " request(s) in flight; their rows are reported as failed with an unknown outcome");
        }
        transport->abandon();
      }
      if (now - *signalled >= kGiveUp && !engineDone) {
        // The bulk call cannot return: it is blocked reading the input (a pipe without data).
        BulkProgress p;
        {
          std::lock_guard lock(snapshotMutex);
          p = snapshot;
        }
        if (!transport->writesStarted()) {
          note("interrupted while reading the input; nothing was sent");
          summary(0, 0, 0, 0, 0, 0, elapsed());
          std::fflush(nullptr);
          std::_Exit(kExitInterrupted);
        }
        note("interrupted while blocked reading the input: exiting without a complete report. So far " +
             std::to_string(p.successful) + " row(s) written, " + std::to_string(p.skipped) + " skipped, " +
             std::to_string(p.failed) + " failed (their reject records could not be written)");
        std::fflush(nullptr);
        std::_Exit(kExitReportFailed);
      }
    }
  });

  auto progress = [&](const BulkProgress& p) {
    {
      std::lock_guard lock(snapshotMutex);
      snapshot = p;
    }
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
  auto interrupted = [&] { return gSignal != 0; };

  BulkResult<nlohmann::json> result;
  try {
    auto table = client->from(common.table);
    // --batch-size, --concurrency and the retry flags are the client's bulk defaults (makeClient).
    if (kind == Kind::Import) {
      BulkInsertOptions o;
      o.onConflict = import->onConflict;
      o.conflictColumns = Columns(import->conflictColumns);
      o.onProgress = progress;
      o.onBatchComplete = batchDone;
      o.stopToken = stop.get_token();
      result = table.bulkInsert(stream.raw(), o);
    } else {
      BulkDeleteOptions o;
      o.matchColumn = Columns(del->column);
      o.onProgress = progress;
      o.onBatchComplete = batchDone;
      o.stopToken = stop.get_token();
      result = table.bulkDelete(stream, o);
    }
  } catch (const std::exception& e) {
    // Thrown before any row was sent (invalid options, the primary key could not be read)...
    engineDone = true;
    std::string what = e.what();
    if (kind == Kind::Import && import->onConflict != OnConflict::Error && import->conflictColumns.empty() &&
        dynamic_cast<const std::invalid_argument*>(&e)) {
      try {  // "no primary key" for a table that does not exist: say so
        if (!client->state()->tableSchema(common.table)->found) {
          what = notExposedMessage(common);
        }
      } catch (const std::exception&) {
      }
    }
    if (!transport->writesStarted()) {
      note(std::string(dynamic_cast<const pgrestify::Error*>(&e) ? "cannot start: " : "") + what);
      return early(interrupted() ? kExitInterrupted : kExitSetup);
    }
    // ...or, unexpectedly, after rows were sent: they may be written, the report is lost.
    note("error after rows were sent: " + what + ". Rows may have been written; the report is incomplete");
    return kExitReportFailed;
  }
  engineDone = true;
  // A signal that comes after this point (while the report is written) changes nothing: every
  // row already has its outcome.
  const bool wasInterrupted = result.cancelled || interrupted();
  display.clear();

  // Every failed row goes to the reject file with its input line; for delete, keys that match
  // no row are counted as "not found" (the row is gone either way) and are not rejects.
  std::unordered_map<std::size_t, const BulkError*> failedRows;
  std::size_t notFound = 0;
  std::size_t unknown = 0;
  for (const auto& e : result.errors) {
    if (kind == Kind::Delete && e.kind == BulkErrorKind::NotFound) {
      notFound += e.indexes.size();
      continue;
    }
    if (e.outcomeUnknown) unknown += e.indexes.size();
    for (auto i : e.indexes) failedRows.emplace(i, &e);
  }
  std::unordered_set<std::size_t> finalRows;  // rows with a final outcome that no batch report named
  for (const auto& [index, e] : failedRows) finalRows.insert(index);
  tracker.forEach([&](std::size_t index, std::size_t line, const std::string& text) {
    auto it = failedRows.find(index);
    if (it == failedRows.end()) return;
    rejects.write(line, text, errorJson(*it->second));
    failedRows.erase(it);
  });
  for (const auto& [index, e] : failedRows) {  // not expected: a row the tracker does not know
    rejects.write(0, "null", errorJson(*e));
    note("internal: failed row #" + std::to_string(index) + " could not be traced to an input line");
  }
  rejects.close();

  const std::size_t rows = stream.rows() + inputRejects;
  const std::size_t failed = result.failed - notFound + inputRejects;
  const std::size_t ok = result.successful;
  const std::size_t skipped = result.skipped + notFound;
  if (failed > 0 && !common.rejectFile.empty() && !common.quiet && !rejects.incomplete()) {
    note(std::to_string(failed) + " failed row(s) written to " + common.rejectFile);
  }
  // Rows read but never sent (interrupted) get their own clause, and so do failed rows whose
  // outcome is unknown; otherwise the line is exactly "N rows: S written, K skipped, F failed in
  // T s (R rows/s)".
  summary(rows, ok, skipped, failed, unknown, result.notProcessed,
          static_cast<double>(result.elapsed.count()) / 1000.0);

  int status = failed > 0 ? kExitRowsFailed : kExitOk;
  if (ok + skipped + failed + result.notProcessed != rows) {
    note("internal: rows do not add up (" + std::to_string(rows) + " read)");
    status = kExitRowsFailed;
  }
  if (const auto& e = stream.inputError()) {
    note("input error" + (e->line() ? " at line " + std::to_string(e->line()) : std::string()) + ": " + e->what() +
         "; the input after it was not read");
    status = kExitInput;
  }
  if (wasInterrupted) {
    const std::size_t open = tracker.firstOpenLine([&](std::size_t index) { return finalRows.count(index) > 0; });
    std::string where = open ? "line " + std::to_string(open) : "the first unread line";
    note("interrupted: every input row before " + where +
         " was written, skipped or rejected; resume from there (with --on-conflict ignore when rows after it may "
         "have been written)" +
         (unknown ? "; " + std::to_string(unknown) +
                        " rejected row(s) have an unknown outcome (\"outcomeUnknown\": true): they may have been "
                        "written"
                  : std::string()));
    status = kExitInterrupted;
  }
  if (rejects.incomplete()) {
    note("error: the reject file " + common.rejectFile + " is incomplete: " + std::to_string(rejects.onStderr()) +
         " record(s) went to standard error instead" +
         (rejects.lost() ? ", " + std::to_string(rejects.lost()) + " could not be written anywhere" : std::string()));
    status = kExitReportFailed;
  } else if (summaryLost) {
    status = kExitReportFailed;
  }
  return status;
}

}  // namespace

Client makeClient(const CommonOptions& common, std::shared_ptr<Transport> transport) {
  ClientOptions o;
  o.url = common.url;
  o.bearerToken = common.token;
  o.schema = common.schema;
  if (common.timeout) o.timeout = std::chrono::milliseconds(static_cast<long long>(*common.timeout * 1000.0));
  o.transport = std::move(transport);
  // The bulk flags, as client-wide defaults: the bulk calls resolve them like any client's.
  o.bulkDefaults.batchSize = common.batchSize;
  o.bulkDefaults.concurrency = common.concurrency;
  if (common.retries || common.retryBudget) {
    RetryPolicy policy;
    if (common.retries) policy.maxAttempts = *common.retries + 1;
    if (common.retryBudget) {
      policy.retryBudget = std::chrono::milliseconds(static_cast<long long>(*common.retryBudget * 1000.0));
    }
    o.bulkDefaults.retry = policy;
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
      throw std::invalid_argument(which + " must look like 'Name: value' (the text before ':' is not a header name;"
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
    if (!common.token.empty() && lower(name) == "authorization") {
      throw SetupError(which + " sets Authorization, and --token (or PGRESTIFY_TOKEN) sets it too: give only one. "
                               "Nothing was sent");
    }
    auto value = h.substr(colon + 1);
    auto first = value.find_first_not_of(" \t");
    o.headers.emplace_back(std::move(name), first == std::string::npos ? "" : value.substr(first));
  }
  return Client(std::move(o));
}

int runImport(const ImportOptions& options) { return run(Kind::Import, options.common, &options, nullptr); }
int runDelete(const DeleteOptions& options) { return run(Kind::Delete, options.common, nullptr, &options); }

}  // namespace pgrestify::cli
