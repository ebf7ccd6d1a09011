// SPDX-License-Identifier: MIT
// The "Exact numbers and JSON values" examples of docs/bulk-operations.md, verbatim (tests/docs
// checks them): a JSON value into a jsonb column from C++ (nlohmann::json member, std::string,
// RawJson), exact decimals and integers beyond 64 bits (as strings, or RawJson). CTest passes the
// test server's URL as argv[1]; the program checks what the database holds through PostgREST
// filters (nlohmann::json would round the numbers it reads back, so they are compared there).
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <iostream>
#include <string>
#include <vector>

struct Event {
  std::string kind;
  pgrestify::RawJson payload;  // JSON text, sent verbatim: every digit of its numbers is kept
};
PGRESTIFY_ROW(Event, kind, payload)

using example::expect;

namespace {

void jsonColumn(const pgrestify::Client& client) {
// A jsonb column from C++: a nlohmann::json value is JSON, a std::string is a JSON *string*.
std::vector<nlohmann::json> events = {
    {{"kind", "object"}, {"payload", {{"a", 1}, {"tags", {"x", "y"}}}}},  // payload = {"a": 1, "tags": [...]}
    {{"kind", "text"}, {"payload", R"({"a": 1})"}},                      // payload = "{\"a\": 1}", a string
};
auto r1 = client.from("events").bulkInsert(events);

// JSON text with numbers nlohmann::json cannot hold (it reads them into doubles): RawJson.
std::vector<Event> exact = {
    {"exact", pgrestify::RawJson(R"({"n": 12345678901234567890.123456789, "big": 123456789012345678901234567890})")},
};
auto r2 = client.from<Event>("events").bulkInsert(exact);
std::cout << r1.successful + r2.successful << " events written\n";

  expect(r1.successful == 2 && r2.successful == 1, "3 events written");
  expect(client.from("events").eq("kind", "object").eq("payload->>a", "1").count() == 1, "object: a JSON object");
  auto text = client.from("events").eq("kind", "text").find();
  expect(text.size() == 1 && text[0]["payload"] == nlohmann::json(R"({"a": 1})"),
         "std::string: a JSON string holding the text");
  expect(client.from("events")
                 .eq("payload->>n", "12345678901234567890.123456789")
                 .eq("payload->>big", "123456789012345678901234567890")
                 .count() == 1,
         "RawJson: every digit kept");
}

void exactNumbers(const pgrestify::Client& client) {
// numeric columns: a string keeps every digit (PostgreSQL casts it); a double has about 16.
std::vector<nlohmann::json> sales = {
    {{"region", "eu"}, {"product", "p1"}, {"amount", "9999999999.99"}},
};
// Whole rows as JSON text, numbers as written (what `pgrestify import` sends for NDJSON lines).
std::vector<pgrestify::RawJson> more = {
    pgrestify::RawJson(R"({"region": "us", "product": "p2", "amount": 1234567890.12})"),
};
auto a = client.from("sales").bulkInsert(sales);
auto b = client.from("sales").bulkInsert(more);

  expect(a.successful == 1 && b.successful == 1, "2 sales written");
  expect(client.from("sales").eq("amount", "9999999999.99").count() == 1, "string: 9999999999.99 exactly");
  expect(client.from("sales").eq("amount", "1234567890.12").count() == 1, "RawJson: 1234567890.12 exactly");
}

}  // namespace

int main(int argc, char** argv) {
  auto client = pgrestify::createClient({.url = example::serverUrl(argc, argv)});
  try {
    jsonColumn(client);
    exactNumbers(client);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return example::finish();
}
