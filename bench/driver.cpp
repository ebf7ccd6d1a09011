// SPDX-License-Identifier: MIT
// pgrestify_bench: the pgrestify side of bench/run.sh, and the generator of the rows every other
// client (curl ceiling, postgrest-js, psql \copy) sends, so all of them write the same bytes.
//
//   pgrestify_bench insert  --rows N [--batch-size B] [--concurrency C] [--max-batch-bytes M]
//                           [--name-bytes W] [--json-rows 1] [--first F] [--latency-ms L]
//                           [--trace FILE]   (no B/C/M: library defaults; W pads names: wide rows;
//                           --json-rows: the rows as nlohmann::json, not structs; F: the rows are
//                           users F..F+N-1 (two clients at once write different rows); L: a proxy
//                           holding each request L ms sits in front; FILE: one line per progress
//                           report, "seconds concurrency rows-done": the concurrency over time)
//   pgrestify_bench stream  --rows N        single-pass generator, returning=false (memory number)
//   pgrestify_bench update-grouped  --rows N [--batch-size B] [--concurrency C]  (ids 1..N must exist)
//   pgrestify_bench update-distinct --rows N [...]   every row a different payload (one PATCH each)
//   pgrestify_bench update-function --rows N [...]   the same through pgrestify_bulk_update (sql/; installed)
//   pgrestify_bench delete  --rows N [...]           ids 1..N
//   pgrestify_bench upsert  --rows N [--order asc|desc|shuffled] [--tag T]   bulkUpsert on email with
//                           the library defaults, rows in that order, names "T<i>" (two of these at
//                           once are the two-writer contention case of bench/run.sh)
//   pgrestify_bench writer  --rows N [--producers P] [--batch-size B] [--concurrency C]   P threads
//                           add single rows through one BulkWriter (maxBatchRows B, maxInFlight C;
//                           default 1000/4 like bulkInsert's defaults); prints rows/s and add() p50/p99
//   pgrestify_bench writer-latency --rows N [--rate R]   one row every 1/R s into an idle writer
//                           (linger 20 ms): end-to-end latency add() -> outcome, p50/p99
//   pgrestify_bench gen-batches --rows N --batch-size B --dir DIR   DIR/NNNNNN.json + DIR/curl.cfg
//   pgrestify_bench gen-csv --rows N --file FILE
//   pgrestify_bench smoke   --rows N        reset, insert, update, delete; checks counts; exit 0/1
//
// The server comes from PGRESTIFY_TEST_URL / PGRESTIFY_TEST_JWT, or from the KEY=VALUE file named
// by PGRESTIFY_TEST_ENV_FILE (scripts/testenv.sh writes one). Timed commands print one JSON line:
// wall time and client CPU of the bulk call alone (row generation excluded), and the process's
// peak RSS (generation included).
#include <pgrestify/pgrestify.hpp>

#include "fault_proxy.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bench {

struct NewUser {
  std::string name;
  std::string email;
  std::string role;
  bool active = true;
};
PGRESTIFY_ROW(NewUser, name, email, role, active)

struct StatusChange {
  long long id = 0;
  std::string status;
};
PGRESTIFY_ROW(StatusChange, id, status)

const char* const kRoles[] = {"user", "admin", "guest"};

std::size_t nameBytes = 0;  // --name-bytes: names padded to this many bytes (wide rows)
std::size_t firstUser = 0;  // --first: the number of the first generated user

NewUser makeUser(std::size_t i) {
  i += firstUser;
  NewUser u{"user " + std::to_string(i), "user" + std::to_string(i) + "@example.com", kRoles[i % 3], i % 5 != 0};
  if (u.name.size() < nameBytes) u.name.append(nameBytes - u.name.size(), 'x');
  return u;
}

/// A single-pass input range of generated users: nothing but the current row is held.
class UserGenerator {
 public:
  class iterator {
   public:
    using value_type = NewUser;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(UserGenerator* g) : g_(g) {}
    const NewUser& operator*() const { return g_->current_; }
    iterator& operator++() {
      g_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.g_->done(); }

   private:
    UserGenerator* g_ = nullptr;
  };

  explicit UserGenerator(std::size_t n) : n_(n) { current_ = makeUser(0); }
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }
  bool done() const { return i_ >= n_; }

 private:
  void advance() {
    if (++i_ < n_) current_ = makeUser(i_);
  }

  std::size_t n_;
  std::size_t i_ = 0;
  NewUser current_;
};
static_assert(std::ranges::input_range<UserGenerator>);
static_assert(!std::ranges::forward_range<UserGenerator>);

struct Usage {
  double user = 0;
  double sys = 0;
  long maxRssKb = 0;
};

Usage usage() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return {sec(ru.ru_utime), sec(ru.ru_stime), ru.ru_maxrss};
}

struct Args {
  std::string command;
  std::size_t rows = 1000;
  std::optional<std::size_t> batchSize;
  std::optional<std::size_t> concurrency;
  std::optional<std::size_t> maxBatchBytes;
  bool jsonRows = false;
  std::string dir;
  std::string file;
  std::string order = "asc";
  std::string tag = "A";
  std::size_t producers = 8;
  double rate = 20;
  long long latencyMs = 0;  // > 0: a proxy holding each request this long sits in front (latency profiles)
  std::string trace;        // --trace: the concurrency over time is written here
};

// The latency profile's proxy, and the concurrency insert's calls had (reported with the result).
std::unique_ptr<pgrestify::test::fault::FaultProxy> latencyProxy;
long long latencyMs = 0;
std::size_t concurrencyMax = 0;
std::size_t concurrencySum = 0;
std::size_t concurrencyReports = 0;

std::map<std::string, std::string> loadEnv() {
  std::map<std::string, std::string> env;
  if (const char* file = std::getenv("PGRESTIFY_TEST_ENV_FILE"); file && *file) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  for (const char* key : {"PGRESTIFY_TEST_URL", "PGRESTIFY_TEST_JWT"}) {
    if (const char* v = std::getenv(key); v && *v) env[key] = v;
  }
  return env;
}

pgrestify::Client makeClient() {
  auto env = loadEnv();
  if (env["PGRESTIFY_TEST_URL"].empty()) throw std::runtime_error("set PGRESTIFY_TEST_URL or PGRESTIFY_TEST_ENV_FILE");
  std::string url = env["PGRESTIFY_TEST_URL"];
  if (latencyMs > 0) {
    const auto colon = url.rfind(':');
    latencyProxy = std::make_unique<pgrestify::test::fault::FaultProxy>(std::stoi(url.substr(colon + 1)), nullptr);
    latencyProxy->setLatency(std::chrono::milliseconds(latencyMs));
    url = latencyProxy->url();
  }
  return pgrestify::createClient({.url = url, .bearerToken = env["PGRESTIFY_TEST_JWT"]});
}

template <class Options>
Options withArgs(Options o, const Args& a) {
  if (a.batchSize) o.batchSize = *a.batchSize;
  if (a.concurrency) o.concurrency = *a.concurrency;
  return o;
}

template <class T>
void report(const Args& a, const char* client, const pgrestify::BulkResult<T>& r, double wall, const Usage& before) {
  Usage after = usage();
  const double cpu = (after.user - before.user) + (after.sys - before.sys);
  std::printf(
      "{\"client\":\"%s\",\"op\":\"%s\",\"rows\":%zu,\"batch_size\":%zu,\"concurrency\":%zu,\"wall_s\":%.4f,"
      "\"rows_per_s\":%.0f,\"cpu_s\":%.4f,\"user_s\":%.4f,\"sys_s\":%.4f,\"maxrss_kb\":%ld,\"successful\":%zu,"
      "\"failed\":%zu,\"requests\":%zu,\"max_batch_bytes\":%zu,\"name_bytes\":%zu,\"latency_ms\":%lld,"
      "\"adaptive\":%s,\"concurrency_max\":%zu,\"concurrency_mean\":%.1f,\"retries\":%zu,\"extra_requests\":%zu,"
      "\"first\":%zu}\n",
      client, a.command.c_str(), a.rows, a.batchSize.value_or(pgrestify::kDefaultBatchSize),
      a.concurrency.value_or(pgrestify::kDefaultConcurrency), wall, static_cast<double>(a.rows) / wall, cpu,
      after.user - before.user, after.sys - before.sys, after.maxRssKb, r.successful, r.failed, r.requests,
      a.maxBatchBytes.value_or(pgrestify::kDefaultMaxBatchBytes), nameBytes, latencyMs,
      a.concurrency ? "false" : "true", concurrencyMax,
      concurrencyReports ? static_cast<double>(concurrencySum) / static_cast<double>(concurrencyReports) : 0.0,
      r.retries, r.requests > r.batches ? r.requests - r.batches : 0, firstUser);
  if (!r.errors.empty()) std::fprintf(stderr, "first error: %s\n", r.errors.front().message.c_str());
}

template <class F>
int timed(const Args& a, const char* client, F&& run) {
  Usage before = usage();
  auto t0 = std::chrono::steady_clock::now();
  auto r = run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report(a, client, r, wall, before);
  return r.successful == a.rows && r.failed == 0 ? 0 : 1;
}

int insert(const Args& a) {
  auto client = makeClient();
  std::vector<NewUser> users;
  users.reserve(a.rows);
  for (std::size_t i = 0; i < a.rows; ++i) users.push_back(makeUser(i));
  const bool defaults = !a.batchSize && !a.concurrency && !a.maxBatchBytes;
  auto options = withArgs(pgrestify::BulkInsertOptions{}, a);
  if (a.maxBatchBytes) options.maxBatchBytes = *a.maxBatchBytes;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> trace(nullptr, &std::fclose);
  if (!a.trace.empty()) {
    trace.reset(std::fopen(a.trace.c_str(), "w"));
    if (!trace) throw std::runtime_error("cannot write " + a.trace);
  }
  const auto start = std::chrono::steady_clock::now();
  options.onProgress = [&trace, start](const pgrestify::BulkProgress& p) {
    concurrencyMax = std::max(concurrencyMax, p.concurrency);
    concurrencySum += p.concurrency;
    ++concurrencyReports;
    if (trace) {
      std::fprintf(trace.get(), "%.4f %zu %zu\n",
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), p.concurrency,
                   p.processed);
    }
  };
  if (a.jsonRows) {  // the path of nlohmann::json rows (the CLI's, and types with their own to_json)
    std::vector<nlohmann::json> rows(users.begin(), users.end());
    users = {};
    auto table = client.from("users");
    return timed(a, defaults ? "pgrestify-json-defaults" : "pgrestify-json",
                 [&] { return table.bulkInsert(rows, options); });
  }
  auto table = client.from<NewUser>("users");
  return timed(a, defaults ? "pgrestify-defaults" : "pgrestify", [&] { return table.bulkInsert(users, options); });
}

int stream(const Args& a) {
  auto client = makeClient();
  UserGenerator gen(a.rows);
  auto table = client.from<NewUser>("users");
  return timed(a, "pgrestify-stream",
               [&] { return table.bulkInsert(gen, withArgs(pgrestify::BulkInsertOptions{.returning = false}, a)); });
}

int update(const Args& a, bool grouped, pgrestify::UpdateStrategy strategy = pgrestify::UpdateStrategy::Auto) {
  auto client = makeClient();
  std::vector<StatusChange> changes;
  changes.reserve(a.rows);
  for (std::size_t i = 1; i <= a.rows; ++i) {
    changes.push_back({static_cast<long long>(i), grouped ? "s" + std::to_string(i % 10) : "x" + std::to_string(i)});
  }
  auto table = client.from<StatusChange>("users");
  return timed(a, "pgrestify", [&] {
    return table.bulkUpdate(changes, withArgs(pgrestify::BulkUpdateOptions{.strategy = strategy}, a));
  });
}

int remove(const Args& a) {
  auto client = makeClient();
  std::vector<long long> ids;
  ids.reserve(a.rows);
  for (std::size_t i = 1; i <= a.rows; ++i) ids.push_back(static_cast<long long>(i));
  auto table = client.from("users");
  return timed(a, "pgrestify", [&] { return table.bulkDelete(ids, withArgs(pgrestify::BulkDeleteOptions{}, a)); });
}

int upsert(const Args& a) {
  auto client = makeClient();
  std::vector<std::size_t> ids(a.rows);
  for (std::size_t i = 0; i < a.rows; ++i) ids[i] = i;
  if (a.order == "desc") {
    std::reverse(ids.begin(), ids.end());
  } else if (a.order == "shuffled") {
    std::shuffle(ids.begin(), ids.end(), std::mt19937(20));
  } else if (a.order != "asc") {
    throw std::invalid_argument("--order must be asc, desc or shuffled");
  }
  std::vector<NewUser> users;
  users.reserve(a.rows);
  for (std::size_t i : ids) {
    NewUser u = makeUser(i);
    u.name = a.tag + std::to_string(i);
    users.push_back(std::move(u));
  }
  auto table = client.from<NewUser>("users");
  const std::string name = "pgrestify-upsert-" + a.order;
  return timed(a, name.c_str(), [&] {
    return table.bulkUpsert(users, withArgs(pgrestify::BulkUpsertOptions{.conflictColumns = {"email"}}, a));
  });
}

// The same JSON text pgrestify sends (its row writer on the same rows), batch by batch, and a curl
// config that POSTs every file with the ceiling's query and headers.
int genBatches(const Args& a) {
  auto env = loadEnv();
  if (a.dir.empty() || !a.batchSize) throw std::invalid_argument("gen-batches needs --dir and --batch-size");
  std::filesystem::create_directories(a.dir);
  std::ofstream cfg(a.dir + "/curl.cfg");
  const std::string url = env["PGRESTIFY_TEST_URL"] + "/users?columns=name,email,role,active";
  std::size_t file = 0;
  const std::vector<std::string> noKey;
  pgrestify::detail::RowWriter writer(noKey);
  std::string row;
  for (std::size_t start = 0; start < a.rows; start += *a.batchSize, ++file) {
    char name[32];
    std::snprintf(name, sizeof name, "%06zu.json", file);
    const std::string path = a.dir + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out << '[';
    for (std::size_t i = start; i < std::min(a.rows, start + *a.batchSize); ++i) {
      if (i != start) out << ',';
      pgrestify::detail::writeRow(writer, row, makeUser(i));  // the bytes bulkInsert sends
      out << row;
    }
    out << ']';
    if (file) cfg << "next\n";
    cfg << "url = \"" << url << "\"\n"
        << "data-binary = \"@" << path << "\"\n"
        << "header = \"Content-Type: application/json\"\n"
        << "header = \"Prefer: return=minimal\"\n";
    if (!env["PGRESTIFY_TEST_JWT"].empty())
      cfg << "header = \"Authorization: Bearer " << env["PGRESTIFY_TEST_JWT"] << "\"\n";
    cfg << "output = \"/dev/null\"\n"
        << "write-out = \"%{http_code}\\n\"\n";
  }
  return 0;
}

int genCsv(const Args& a) {
  if (a.file.empty()) throw std::invalid_argument("gen-csv needs --file");
  std::ofstream out(a.file, std::ios::binary);
  for (std::size_t i = 0; i < a.rows; ++i) {
    auto u = makeUser(i);
    out << u.name << ',' << u.email << ',' << u.role << ',' << (u.active ? "t" : "f") << '\n';
  }
  return 0;
}

// Not a timing: checks that every bulk path the benchmark uses works end to end.
int smoke(const Args& a) {
  auto client = makeClient();
  client.rpc("reset_tables");
  auto fail = [](const std::string& what) {
    std::fprintf(stderr, "smoke: %s\n", what.c_str());
    return 1;
  };
  Args small = a;
  small.batchSize = 100;
  small.concurrency = 2;
  if (int rc = stream(small); rc != 0) return fail("streamed insert did not write every row");
  if (auto n = client.from("users").count(); n != a.rows) return fail("users holds " + std::to_string(n) + " rows");
  small.command = "update-grouped";
  if (int rc = update(small, true); rc != 0) return fail("grouped update did not match every row");
  if (auto n = client.from("users").eq("status", "s3").count(); n != a.rows / 10) {
    return fail("grouped update: " + std::to_string(n) + " rows have status s3");
  }
  small.command = "update-distinct";
  small.rows = std::min<std::size_t>(a.rows, 50);
  if (int rc = update(small, false); rc != 0) return fail("distinct update did not match every row");
  if (auto n = client.from("users").like("status", "x*").count(); n != small.rows) {
    return fail("distinct update: " + std::to_string(n) + " rows have status x*");
  }
  small.command = "delete";
  small.rows = a.rows;
  if (int rc = remove(small); rc != 0) return fail("delete did not match every row");
  if (auto n = client.from("users").count(); n != 0) return fail("users still holds " + std::to_string(n) + " rows");
  small.command = "insert";
  client.rpc("reset_tables");
  if (int rc = insert(small); rc != 0) return fail("insert did not write every row");
  return 0;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// P producer threads add single rows through one writer; the time runs from the first add() to the
// end of close() (every outcome delivered). add() latency is measured on every call.
int writer(const Args& a) {
  auto client = makeClient();
  std::vector<NewUser> users;
  users.reserve(a.rows);
  for (std::size_t i = 0; i < a.rows; ++i) users.push_back(makeUser(i));
  std::atomic<std::size_t> written{0}, other{0};
  std::mutex latMutex;
  std::vector<double> addMicros;
  addMicros.reserve(a.rows);
  Usage before = usage();
  auto t0 = std::chrono::steady_clock::now();
  pgrestify::BulkWriterStats stats;
  {
    auto w = client.from<NewUser>("users").bulkWriter<std::size_t>(
        {.maxBatchRows = a.batchSize.value_or(pgrestify::kDefaultBatchSize),
         .maxInFlight = a.concurrency.value_or(pgrestify::kDefaultConcurrency)},
        [&](pgrestify::WriterOutcome<std::size_t>& o) {
          if (o.outcome == pgrestify::RowOutcome::Written) {
            ++written;
          } else {
            ++other;
          }
        });
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < a.producers; ++t) {
      threads.emplace_back([&, t] {
        std::vector<double> mine;
        for (std::size_t i = t; i < a.rows; i += a.producers) {
          auto s0 = std::chrono::steady_clock::now();
          if (!w.add(users[i], i)) ++other;
          mine.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s0).count());
        }
        std::lock_guard lk(latMutex);
        addMicros.insert(addMicros.end(), mine.begin(), mine.end());
      });
    }
    for (auto& th : threads) th.join();
    w.close(std::chrono::minutes(5));
    stats = w.stats();
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Usage after = usage();
  std::printf(
      "{\"client\":\"pgrestify-writer\",\"op\":\"writer\",\"rows\":%zu,\"producers\":%zu,\"batch_size\":%zu,"
      "\"concurrency\":%zu,\"wall_s\":%.4f,\"rows_per_s\":%.0f,\"cpu_s\":%.4f,\"maxrss_kb\":%ld,"
      "\"successful\":%zu,\"failed\":%zu,\"requests\":%zu,\"add_p50_us\":%.2f,\"add_p99_us\":%.2f}\n",
      a.rows, a.producers, a.batchSize.value_or(pgrestify::kDefaultBatchSize),
      a.concurrency.value_or(pgrestify::kDefaultConcurrency), wall, static_cast<double>(a.rows) / wall,
      (after.user - before.user) + (after.sys - before.sys), after.maxRssKb, written.load(), other.load(),
      stats.requests, percentile(addMicros, 0.5), percentile(addMicros, 0.99));
  return written == a.rows && other == 0 ? 0 : 1;
}

// Single rows at a low rate into an idle writer (linger 20 ms): add() to outcome.
int writerLatency(const Args& a) {
  auto client = makeClient();
  std::mutex m;
  std::vector<double> millis;
  std::size_t written = 0;
  std::vector<std::chrono::steady_clock::time_point> addedAt(a.rows);
  {
    auto w = client.from<NewUser>("users").bulkWriter<std::size_t>(
        {.linger = std::chrono::milliseconds(20)}, [&](pgrestify::WriterOutcome<std::size_t>& o) {
          std::lock_guard lk(m);
          millis.push_back(
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - addedAt[o.context]).count());
          written += o.outcome == pgrestify::RowOutcome::Written;
        });
    const auto gap = std::chrono::duration<double>(1.0 / a.rate);
    for (std::size_t i = 0; i < a.rows; ++i) {
      {
        std::lock_guard lk(m);
        addedAt[i] = std::chrono::steady_clock::now();
      }
      w.add(makeUser(i), i);
      std::this_thread::sleep_for(gap);
    }
    w.close(std::chrono::seconds(30));
  }
  std::printf(
      "{\"client\":\"pgrestify-writer\",\"op\":\"writer-latency\",\"rows\":%zu,\"rate_per_s\":%.1f,"
      "\"linger_ms\":20,\"latency_p50_ms\":%.2f,\"latency_p99_ms\":%.2f,\"successful\":%zu}\n",
      a.rows, a.rate, percentile(millis, 0.5), percentile(millis, 0.99), written);
  return written == a.rows ? 0 : 1;
}

Args parse(int argc, char** argv) {
  if (argc < 2)
    throw std::invalid_argument("usage: pgrestify_bench COMMAND [--rows N] [--batch-size B] [--concurrency C] ...");
  Args a;
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("missing value after " + k);
    std::string v = argv[++i];
    if (k == "--rows") {
      a.rows = std::stoul(v);
    } else if (k == "--batch-size") {
      a.batchSize = std::stoul(v);
    } else if (k == "--concurrency") {
      a.concurrency = std::stoul(v);
    } else if (k == "--max-batch-bytes") {
      a.maxBatchBytes = std::stoul(v);
    } else if (k == "--json-rows") {
      a.jsonRows = v == "1";
    } else if (k == "--name-bytes") {
      nameBytes = std::stoul(v);
    } else if (k == "--dir") {
      a.dir = v;
    } else if (k == "--file") {
      a.file = v;
    } else if (k == "--order") {
      a.order = v;
    } else if (k == "--producers") {
      a.producers = std::stoul(v);
    } else if (k == "--rate") {
      a.rate = std::stod(v);
    } else if (k == "--latency-ms") {
      a.latencyMs = std::stoll(v);
      latencyMs = a.latencyMs;
    } else if (k == "--first") {
      firstUser = std::stoul(v);
    } else if (k == "--trace") {
      a.trace = v;
    } else if (k == "--tag") {
      a.tag = v;
    } else {
      throw std::invalid_argument("unknown option " + k);
    }
  }
  return a;
}

}  // namespace bench

int main(int argc, char** argv) {
  try {
    auto a = bench::parse(argc, argv);
    if (a.command == "insert") return bench::insert(a);
    if (a.command == "stream") return bench::stream(a);
    if (a.command == "update-grouped") return bench::update(a, true);
    if (a.command == "update-distinct") return bench::update(a, false, pgrestify::UpdateStrategy::PerRow);
    if (a.command == "update-function") return bench::update(a, false, pgrestify::UpdateStrategy::Function);
    if (a.command == "delete") return bench::remove(a);
    if (a.command == "upsert") return bench::upsert(a);
    if (a.command == "writer") return bench::writer(a);
    if (a.command == "writer-latency") return bench::writerLatency(a);
    if (a.command == "gen-batches") return bench::genBatches(a);
    if (a.command == "gen-csv") return bench::genCsv(a);
    if (a.command == "smoke") return bench::smoke(a);
    throw std::invalid_argument("unknown command " + a.command);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgrestify_bench: %s\n", e.what());
    return 2;
  }
}
