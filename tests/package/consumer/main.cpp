// SPDX-License-Identifier: MIT
// A pgrestify user's program that needs no server: it builds a client on the real libcurl
// transport (so libcurl must link) without sending anything, then runs a read and a bulk insert
// through a Transport of its own. Exit status 0 = every check held. Also built by the
// pkg-config test of tests/package, hence no CMake-only macros.
#include <pgrestify/pgrestify.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

struct Item {
  std::optional<long long> id;
  std::string name;
};
PGRESTIFY_ROW(Item, id, name)

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::cout << (ok ? "ok   " : "FAIL ") << what << "\n";
  if (!ok) ++failures;
}

/// Answers every request as soon as it starts, as PostgREST 12 does: GET returns two rows (JSON
/// Content-Type and Content-Range), POST returns 201 `*/<rows>`.
class CannedTransport final : public pgrestify::Transport {
 public:
  std::unique_ptr<pgrestify::TransportSession> openSession() override { return std::make_unique<Session>(*this); }
  std::vector<pgrestify::HttpRequest> requests;

 private:
  class Session final : public pgrestify::TransportSession {
   public:
    explicit Session(CannedTransport& owner) : owner_(owner) {}
    void start(std::uint64_t tag, pgrestify::HttpRequest request) override {
      pgrestify::HttpResponse response;
      if (request.method == "GET") {
        response.status = 200;
        response.body = R"([{"id":1,"name":"a"},{"id":2,"name":"b"}])";
        // What PostgREST 12 sends with rows (simple calls refuse other answers).
        response.headers = {{"Content-Type", "application/json; charset=utf-8"}, {"Content-Range", "0-1/*"}};
      } else {
        // As PostgREST does for a write with `Prefer: count=exact`: the rows written, counted.
        response.status = 201;
        auto rows = nlohmann::json::parse(request.body, nullptr, false);
        response.headers.emplace_back("Content-Range", "*/" + std::to_string(rows.is_array() ? rows.size() : 0));
      }
      owner_.requests.push_back(std::move(request));
      done_.emplace_back(tag, std::move(response));
    }
    std::vector<std::pair<std::uint64_t, pgrestify::HttpResponse>> poll(std::chrono::milliseconds) override {
      return std::exchange(done_, {});
    }
    std::size_t inFlight() const override { return done_.size(); }

   private:
    CannedTransport& owner_;
    std::vector<std::pair<std::uint64_t, pgrestify::HttpResponse>> done_;
  };
};

}  // namespace

int main() {
  std::cout << "pgrestify " << pgrestify::kVersion << "\n";
  check(PGRESTIFY_VERSION_MAJOR == 0 && PGRESTIFY_VERSION_MINOR == 1, "version.hpp says 0.1.x");

  // The default libcurl transport: created, never used (nothing listens on port 9).
  auto client = pgrestify::createClient({.url = "http://127.0.0.1:9", .timeout = std::chrono::seconds(1)});
  auto query = client.from<Item>("items").select("id,name").eq("name", "a").order("id").limit(10);
  check(query.table() == "items" && query.hasFilters(), "query builder");
  try {
    client.from<Item>("items").remove();
    check(false, "remove() without a filter throws std::invalid_argument");
  } catch (const std::invalid_argument&) {
    check(true, "remove() without a filter throws std::invalid_argument");
  }

  // A transport of the program's own.
  auto canned = std::make_shared<CannedTransport>();
  auto offline = pgrestify::createClient({.url = "http://offline.invalid", .transport = canned});
  auto rows = offline.from<Item>("items").eq("name", "a").find();
  check(rows.size() == 2 && rows[1].id == 2 && rows[1].name == "b", "find() through a custom Transport");
  check(canned->requests.size() == 1 && canned->requests[0].url.find("/items?") != std::string::npos &&
            canned->requests[0].url.find("name=eq.a") != std::string::npos,
        "GET /items?name=eq.a sent");

  canned->requests.clear();
  std::vector<Item> items;
  for (int i = 0; i < 5; ++i) items.push_back({.name = "item " + std::to_string(i)});
  auto result = offline.from<Item>("items").bulkInsert(items, {.batchSize = 2});
  std::size_t sent = 0;
  for (const auto& r : canned->requests) {
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    if (r.method == "POST" && body.is_array()) sent += body.size();
  }
  check(result.ok() && result.successful == 5 && result.requests == 3, "bulkInsert: 5 rows in 3 requests");
  check(canned->requests.size() == 3 && sent == 5, "the transport saw 3 POSTs carrying 5 rows");

  std::cout << (failures ? "FAILED" : "PASSED") << "\n";
  return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
