// SPDX-License-Identifier: MIT
// How the engine counts rows when the transport or the operation misbehaves (exceptions stay
// inside the bulk call; every row gets exactly one outcome), end to end through the public bulk
// calls and a fake transport.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>

using namespace pgrestify;
using namespace pgrestify::test;
using nlohmann::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------- exceptions stay inside

TEST(EngineExceptions, ThrowingTransportStartReportsTheBatch) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) -> HttpResponse {
    if (req.body.find("\"e4@x.io\"") != std::string::npos) throw std::runtime_error("socket exploded");
    return created(json::parse(req.body).size());
  });
  auto client = fakeClient(fake);
  auto rows = userRows(9);
  BulkResult<json> r;
  ASSERT_NO_THROW(r = client.from("users").bulkInsert(rows, {.batchSize = 3}));
  expectAccounted(r, 9);
  EXPECT_EQ(r.successful, 6u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::Transport);
  EXPECT_EQ(r.errors[0].indexes, (std::vector<std::size_t>{3, 4, 5}));
  EXPECT_NE(r.errors[0].message.find("socket exploded"), std::string::npos);
  EXPECT_FALSE(r.errors[0].outcomeUnknown);
}

namespace {
class NoSessionTransport : public Transport {
 public:
  std::unique_ptr<TransportSession> openSession() override { throw std::runtime_error("no sockets left"); }
};
}  // namespace

TEST(EngineExceptions, TransportThatCannotOpenASessionReportsEveryRow) {
  auto client = Client({.url = "http://fake.test", .transport = std::make_shared<NoSessionTransport>()});
  auto rows = userRows(7);
  BulkResult<json> r;
  ASSERT_NO_THROW(r = client.from("users").bulkInsert(rows, {.batchSize = 3}));
  expectAccounted(r, 7);
  EXPECT_EQ(r.failed, 7u);
  EXPECT_EQ(r.requests, 0u);
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.kind, BulkErrorKind::Transport);
    EXPECT_NE(e.message.find("no sockets left"), std::string::npos);
  }
}

TEST(EngineExceptions, RowThatCannotBeEncodedIsIsolated) {
  // A key that PostgREST's column grammar cannot express makes building the request throw.
  auto fake = std::make_shared<FakeTransport>(
      [](const HttpRequest& req, int) { return created(json::parse(req.body).size()); });
  auto client = fakeClient(fake);
  auto rows = userRows(6);
  rows[3]["bad\ncolumn"] = 1;
  BulkResult<json> r;
  ASSERT_NO_THROW(r = client.from("users").bulkInsert(rows));
  expectAccounted(r, 6);
  EXPECT_EQ(r.successful, 5u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::InvalidRow);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{3});
  for (const auto& q : fake->requests()) EXPECT_EQ(q.body().find("bad"), std::string::npos);
}

namespace {
// A minimal operation to drive runBulk directly: rows are numbers, accept() throws on demand.
class NumberOp : public detail::BulkOperation {
 public:
  NumberOp(std::size_t n, std::function<void(const detail::Work&)> onAccept) : n_(n), onAccept_(std::move(onAccept)) {}
  bool nextRow(detail::WorkRow& row) override {
    if (next_ >= n_) return false;
    row.index = next_;
    row.data = std::to_string(next_);
    row.size = row.data.size() + 1;
    ++next_;
    return true;
  }
  std::optional<std::size_t> totalRows() const override { return n_; }
  std::size_t maxBytes() const override { return 1 << 20; }
  HttpRequest request(const detail::Work& work) const override {
    HttpRequest r;
    r.method = "POST";
    r.url = "http://fake.test/numbers";
    r.body = "[";
    for (std::size_t i = 0; i < work.rows.size(); ++i) r.body += (i ? "," : "") + work.rows[i].data;
    r.body += "]";
    return r;
  }
  void accept(const detail::Work& work, const HttpResponse&, detail::Outcome& out) const override {
    onAccept_(work);
    out.successful = work.rows.size();
  }
  bool idempotent() const override { return false; }
  bool isolatable(const detail::Work&) const override { return true; }

 private:
  std::size_t n_;
  std::size_t next_ = 0;
  std::function<void(const detail::Work&)> onAccept_;
};
}  // namespace

TEST(EngineExceptions, ThrowingAcceptReportsTheBatchAsUnknown) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return status(201); });
  NumberOp op(9, [](const detail::Work& w) {
    if (w.rows.front().index == 3) throw std::runtime_error("unreadable answer");
  });
  detail::EngineSettings s;
  s.batchSize = 3;
  BulkResult<json> r;
  ASSERT_NO_THROW(r = detail::runBulk(*fake, op, s));
  expectAccounted(r, 9);
  EXPECT_EQ(r.successful, 6u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].indexes, (std::vector<std::size_t>{3, 4, 5}));
  EXPECT_TRUE(r.errors[0].outcomeUnknown);
  EXPECT_EQ(r.errors[0].status, 201);
}

TEST(EngineExceptions, ReturnedRowsComeBackInInputOrderOfBatches) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest& req, int) {
    auto body = json::parse(req.body);
    return status(201, body.dump(), {{"Content-Range", "*/" + std::to_string(body.size())}});
  });
  auto client = fakeClient(fake);
  auto rows = userRows(30);
  auto r = client.from("users").bulkInsert(rows, {.batchSize = 4, .returning = true, .concurrency = 4});
  expectAccounted(r, 30);
  ASSERT_EQ(r.data.size(), 30u);
  for (std::size_t i = 0; i < 30; ++i) EXPECT_EQ(r.data[i]["email"], rows[i]["email"]);
}

namespace {
// An operation whose accept() reports whatever the test says, right or wrong.
class LyingOp : public NumberOp {
 public:
  LyingOp(std::size_t n, std::function<void(const detail::Work&, detail::Outcome&)> lie)
      : NumberOp(n, [](const detail::Work&) {}), lie_(std::move(lie)) {}
  void accept(const detail::Work& work, const HttpResponse& response, detail::Outcome& out) const override {
    NumberOp::accept(work, response, out);
    lie_(work, out);
  }

 private:
  std::function<void(const detail::Work&, detail::Outcome&)> lie_;
};
}  // namespace

TEST(EngineAccounting, EveryRowGetsExactlyOneOutcomeWhateverTheOperationSays) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&, int) { return status(201); });
  LyingOp op(12, [](const detail::Work& w, detail::Outcome& out) {
    switch (w.rows.front().index) {
      case 0:
        out.successful = 10;
        break;  // more than the batch
      case 4:
        out.notFound = {1, 1, 7, 99};
        break;  // duplicate and out-of-range positions
      case 8:
        out.successful = 1;
        out.skipped = 1;
        break;  // fewer than the batch
      default:
        break;
    }
  });
  detail::EngineSettings s;
  s.batchSize = 4;
  auto r = detail::runBulk(*fake, op, s);
  expectAccounted(r, 12);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, BulkErrorKind::NotFound);
  EXPECT_EQ(r.errors[0].indexes, std::vector<std::size_t>{5});
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_EQ(r.successful, 10u);
}
