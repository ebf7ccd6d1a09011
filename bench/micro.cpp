// SPDX-License-Identifier: MIT
// Google Benchmark micro-benchmarks of the client-side hot path, without a network: turning typed
// rows into batch bodies (the insert operation's nextRow + request), computing `columns`,
// encoding `in.()` key lists, and a whole bulkInsert through a transport that answers 201 at once.
// Run: build-bench/bench/pgrestify_micro  (items_per_second = rows per second on one core)
#include <pgrestify/pgrestify.hpp>

#include "operations.hpp"  // the engine's internals (src/), timed here

#include <benchmark/benchmark.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace {

struct NewUser {
  std::string name;
  std::string email;
  std::string role;
  bool active = true;
};
PGRESTIFY_ROW(NewUser, name, email, role, active)

struct PartialUser {  // some rows leave columns out: `columns` is a union of several key sets
  std::string name;
  std::string email;
  std::optional<std::string> role;
  std::optional<bool> active;
};
PGRESTIFY_ROW(PartialUser, name, email, role, active)

const char* const kRoles[] = {"user", "admin", "guest"};

NewUser makeUser(std::size_t i) {
  return NewUser{"user " + std::to_string(i), "user" + std::to_string(i) + "@example.com", kRoles[i % 3], i % 5 != 0};
}

std::vector<NewUser> users(std::size_t n) {
  std::vector<NewUser> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(makeUser(i));
  return out;
}

/// Answers every request with 201 and `Content-Range: */n`, as PostgREST does for a write with
/// `count=exact` (the rows are flat objects: n is the number of `{`).
class InstantSession final : public pgrestify::TransportSession {
 public:
  void start(std::uint64_t tag, pgrestify::HttpRequest request) override {
    benchmark::DoNotOptimize(request.body.data());
    done_.push_back(tag);
    rows_.push_back(static_cast<std::size_t>(std::count(request.body.begin(), request.body.end(), '{')));
  }
  std::vector<std::pair<std::uint64_t, pgrestify::HttpResponse>> poll(std::chrono::milliseconds) override {
    std::vector<std::pair<std::uint64_t, pgrestify::HttpResponse>> out;
    for (std::size_t i = 0; i < done_.size(); ++i) {
      pgrestify::HttpResponse r;
      r.status = 201;
      r.headers.emplace_back("Content-Range", "*/" + std::to_string(rows_[i]));
      out.emplace_back(done_[i], std::move(r));
    }
    done_.clear();
    rows_.clear();
    return out;
  }
  std::size_t inFlight() const override { return done_.size(); }

 private:
  std::vector<std::uint64_t> done_;
  std::vector<std::size_t> rows_;
};

class InstantTransport final : public pgrestify::Transport {
 public:
  std::unique_ptr<pgrestify::TransportSession> openSession() override { return std::make_unique<InstantSession>(); }
};

pgrestify::Client fakeClient() {
  return pgrestify::createClient({.url = "http://127.0.0.1:3000",
                                  .bearerToken = "header.payload.signature",
                                  .transport = std::make_shared<InstantTransport>()});
}

// nextRow for every row (row writing, validation, key sets) + request() per batch (columns=,
// body join, URL and headers): the insert operation's whole share of the CPU.
template <class Row>
void insertRowsToBodies(benchmark::State& state, const std::vector<Row>& rows) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  auto client = fakeClient();
  std::size_t bytes = 0;
  for (auto _ : state) {
    pgrestify::detail::InsertSpec spec;
    spec.table = "users";
    auto op = pgrestify::detail::makeInsertOperation(*pgrestify::detail::HandleAccess::state(client), spec,
                                                     pgrestify::detail::rowWriterSource(rows), rows.size());
    pgrestify::detail::Work work;
    for (;;) {
      pgrestify::detail::WorkRow r;
      const bool more = op->nextRow(r);
      if (more) {
        work.bytes += r.size;
        work.rows.push_back(std::move(r));
      }
      if (work.rows.size() == batch || (!more && !work.rows.empty())) {
        auto req = op->request(work);
        bytes += req.body.size();
        benchmark::DoNotOptimize(req);
        work.rows.clear();
        work.bytes = 0;
      }
      if (!more) break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
// PGRESTIFY_ROW structs: written directly by the generated writer.
void BM_InsertRowsToBodies(benchmark::State& state) { insertRowsToBodies(state, users(10000)); }
BENCHMARK(BM_InsertRowsToBodies)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMillisecond);

// The same rows as nlohmann::json objects (the path of the CLI and of types with their own to_json).
void BM_InsertJsonRowsToBodies(benchmark::State& state) {
  std::vector<nlohmann::json> rows;
  for (const auto& u : users(10000)) rows.emplace_back(u);
  insertRowsToBodies(state, rows);
}
BENCHMARK(BM_InsertJsonRowsToBodies)->Arg(1000)->Unit(benchmark::kMillisecond);

// request() alone on a prepared batch: `columns=` from the key sets, body join, URL, headers.
template <class Row>
void requestOnly(benchmark::State& state, std::vector<Row> rows) {
  auto client = fakeClient();
  pgrestify::detail::InsertSpec spec;
  spec.table = "users";
  auto op = pgrestify::detail::makeInsertOperation(*pgrestify::detail::HandleAccess::state(client), spec,
                                                   pgrestify::detail::rowWriterSource(rows), rows.size());
  pgrestify::detail::Work work;
  pgrestify::detail::WorkRow r;
  while (op->nextRow(r)) {
    work.bytes += r.size;
    work.rows.push_back(std::move(r));
    r = {};
  }
  for (auto _ : state) benchmark::DoNotOptimize(op->request(work));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * work.rows.size()));
}

void BM_InsertRequestColumns(benchmark::State& state) { requestOnly(state, users(1000)); }
BENCHMARK(BM_InsertRequestColumns)->Unit(benchmark::kMicrosecond);

void BM_InsertRequestColumnsMixedKeySets(benchmark::State& state) {
  std::vector<PartialUser> rows;
  for (std::size_t k = 0; k < 1000; ++k) {
    auto u = makeUser(k);
    PartialUser p{u.name, u.email, {}, {}};
    if (k % 2) p.role = u.role;
    if (k % 3) p.active = u.active;
    rows.push_back(std::move(p));
  }
  requestOnly(state, std::move(rows));
}
BENCHMARK(BM_InsertRequestColumnsMixedKeySets)->Unit(benchmark::kMicrosecond);

void BM_JoinIdentifiers(benchmark::State& state) {
  const std::vector<std::string> names = {"name", "email", "role", "active", "created at"};
  for (auto _ : state) benchmark::DoNotOptimize(pgrestify::detail::joinIdentifiers(names));
}
BENCHMARK(BM_JoinIdentifiers);

// in.() lists: ids and strings (strings are quoted and escaped).
void BM_InListIds(benchmark::State& state) {
  std::vector<nlohmann::json> ids;
  for (long long k = 0; k < 1000; ++k) ids.emplace_back(1000000 + k);
  for (auto _ : state) benchmark::DoNotOptimize(pgrestify::detail::inList(ids));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ids.size()));
}
BENCHMARK(BM_InListIds)->Unit(benchmark::kMicrosecond);

void BM_InListStrings(benchmark::State& state) {
  std::vector<nlohmann::json> keys;
  for (std::size_t k = 0; k < 1000; ++k) keys.emplace_back("user" + std::to_string(k) + "@example.com, \"x\"");
  for (auto _ : state) benchmark::DoNotOptimize(pgrestify::detail::inList(keys));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * keys.size()));
}
BENCHMARK(BM_InListStrings)->Unit(benchmark::kMicrosecond);

// The delete operation: keys to list elements (nextRow) and the DELETE ?id=in.(...) URL (request).
void BM_DeleteKeysToUrls(benchmark::State& state) {
  auto client = fakeClient();
  const std::size_t n = 10000;
  for (auto _ : state) {
    std::size_t i = 0;
    pgrestify::detail::DeleteSpec spec;
    spec.table = "users";
    spec.matchColumns = {"id"};
    auto op = pgrestify::detail::makeDeleteOperation(
        *pgrestify::detail::HandleAccess::state(client), spec,
        [&](nlohmann::json& j) {
          if (i == n) return false;
          j = static_cast<long long>(1000000 + i++);
          return true;
        },
        n);
    pgrestify::detail::Work work;
    for (;;) {
      pgrestify::detail::WorkRow r;
      const bool more = op->nextRow(r);
      if (more) work.rows.push_back(std::move(r));
      if (work.rows.size() == 1000 || (!more && !work.rows.empty())) {
        benchmark::DoNotOptimize(op->request(work));
        work.rows.clear();
      }
      if (!more) break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_DeleteKeysToUrls)->Unit(benchmark::kMillisecond);

// A whole bulkInsert (engine included) against a transport that answers at once: the client CPU
// one row costs, minus libcurl and the kernel.
void BM_BulkInsertInstantServer(benchmark::State& state) {
  auto client = fakeClient();
  auto rows = users(static_cast<std::size_t>(state.range(0)));
  auto table = client.from<NewUser>("users");
  for (auto _ : state) {
    auto r = table.bulkInsert(rows);
    if (r.successful != rows.size()) state.SkipWithError("not every row succeeded");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows.size()));
}
BENCHMARK(BM_BulkInsertInstantServer)->Arg(100000)->Unit(benchmark::kMillisecond);

// Baseline: what nlohmann alone costs per row (to_json + dump).
void BM_ToJsonDumpOnly(benchmark::State& state) {
  auto rows = users(10000);
  for (auto _ : state) {
    for (const auto& u : rows) {
      nlohmann::json j = u;
      benchmark::DoNotOptimize(j.dump());
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows.size()));
}
BENCHMARK(BM_ToJsonDumpOnly)->Unit(benchmark::kMillisecond);

// The library's direct writer alone (detail::writeRow on a PGRESTIFY_ROW struct), same rows.
void BM_RowWriterOnly(benchmark::State& state) {
  auto rows = users(10000);
  const std::vector<std::string> noKey;
  pgrestify::detail::RowWriter writer(noKey);
  std::string row;
  for (auto _ : state) {
    for (const auto& u : rows) {
      pgrestify::detail::writeRow(writer, row, u);
      benchmark::DoNotOptimize(std::string(row));  // the engine keeps one string per row
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows.size()));
}
BENCHMARK(BM_RowWriterOnly)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
