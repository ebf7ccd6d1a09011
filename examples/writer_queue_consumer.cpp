// SPDX-License-Identifier: MIT
// A queue consumer built on BulkWriter (docs/bulk-writer.md): events arrive one at a time with an
// offset; each is added to the writer with its offset as context, and the queue's committed offset
// moves forward only over events whose outcome has arrived. Keys are made by the producer and the
// writer inserts with OnConflict::Ignore, so an event delivered twice (after a crash, before its
// offset was committed) is skipped instead of written twice. CTest passes the test server's URL as
// argv[1]; the program checks its own expectations (exit status 0 = they held).
#include "example_support.hpp"

#include <pgrestify/pgrestify.hpp>

#include <cstdint>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using example::expect;

struct Event {
  std::uint64_t offset;
  std::string key;  // made by the producer: re-delivery writes nothing twice
  std::string label;
};

// The queue's side: which offsets have their outcome, and the committed offset (every event
// below it is finished). A real consumer would commit it to Kafka, SQS, a database...
class Acknowledger {
 public:
  void finished(std::uint64_t offset) {
    std::lock_guard lock(mutex_);
    done_.insert(offset);
    while (!done_.empty() && *done_.begin() == committed_) {
      done_.erase(done_.begin());
      ++committed_;
    }
  }
  std::uint64_t committed() const {
    std::lock_guard lock(mutex_);
    return committed_;
  }

 private:
  mutable std::mutex mutex_;
  std::set<std::uint64_t> done_;
  std::uint64_t committed_ = 0;
};

int main(int argc, char** argv) {
  pgrestify::Client client({.url = example::serverUrl(argc, argv)});
  auto tags = client.from("tags");
  tags.like("key", "writer-example-*").remove();

  Acknowledger acks;
  std::mutex failedMutex;
  std::vector<std::uint64_t> failed;  // events to dead-letter; they are acknowledged too

  {
    auto writer = tags.bulkWriter<std::uint64_t>(
        {.maxBatchRows = 200, .linger = std::chrono::milliseconds(20), .onConflict = pgrestify::OnConflict::Ignore},
        [&](pgrestify::WriterOutcome<std::uint64_t>& outcome) {
          if (outcome.outcome == pgrestify::RowOutcome::Failed || outcome.outcome == pgrestify::RowOutcome::Unknown ||
              outcome.outcome == pgrestify::RowOutcome::Cancelled) {
            std::lock_guard lock(failedMutex);
            failed.push_back(outcome.context);
          }
          acks.finished(outcome.context);  // only now may the queue forget the event
        });

    // Four consumer threads take events from the queue (here: offsets modulo 4).
    std::vector<std::thread> consumers;
    for (std::uint64_t t = 0; t < 4; ++t) {
      consumers.emplace_back([&writer, t] {
        for (std::uint64_t offset = t; offset < 2000; offset += 4) {
          Event e{offset, "writer-example-" + std::to_string(offset), "event " + std::to_string(offset)};
          auto added = writer.add(nlohmann::json{{"key", e.key}, {"label", e.label}}, e.offset);
          if (!added) std::cerr << "not accepted: " << added.message << "\n";  // stays in the queue
        }
      });
    }
    for (auto& c : consumers) c.join();
    writer.flush().get();  // e.g. before a rebalance: every event added so far has its outcome
    expect(acks.committed() == 2000, "every event is acknowledged after its outcome");

    // The queue delivers events 1990..1999 again (say the offset commit was lost in a crash).
    for (std::uint64_t offset = 1990; offset < 2000; ++offset) {
      writer.add(nlohmann::json{{"key", "writer-example-" + std::to_string(offset)}, {"label", "again"}}, offset);
    }
    writer.close(std::chrono::seconds(10));
    auto stats = writer.stats();
    expect(stats.written == 2000 && stats.skipped == 10, "re-delivered events are skipped, not written twice");
  }
  expect(failed.empty(), "no event failed");
  expect(tags.like("key", "writer-example-*").count() == 2000, "the table holds each event once");
  tags.like("key", "writer-example-*").remove();
  return example::finish();
}
