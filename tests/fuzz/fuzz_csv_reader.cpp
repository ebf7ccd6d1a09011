// SPDX-License-Identifier: MIT
// Fuzz target: the CLI's CSV reader (tools/src/readers.cpp). Properties: only InputError escapes;
// every row is a JSON object (RawJson, valid JSON text) and `text` is that text on one line;
// json columns (here `a` and `b`) hold valid JSON; rows and rejects come
// in input order; the reader consumes no more than the input.
#include "fuzz_check.hpp"

#include "readers.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int fd = memfd_create("csv", 0);
  FUZZ_CHECK(fd >= 0);
  for (std::size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    FUZZ_CHECK(n > 0);
    done += static_cast<std::size_t>(n);
  }
  lseek(fd, 0, SEEK_SET);
  {
    pgrestify::cli::Input input("/proc/self/fd/" + std::to_string(fd));
    std::size_t lastLine = 0;
    std::size_t rejects = 0;
    auto reader =
        pgrestify::cli::makeCsvReader(input, {.nullString = "NULL", .emptyIsNull = false, .jsonColumns = {"a", "b"}},
                                      [&](pgrestify::cli::InputReject&& r) {
                                        ++rejects;
                                        FUZZ_CHECK(!r.message.empty());
                                      });
    try {
      pgrestify::cli::InputRow row;
      while (reader->next(row)) {
        FUZZ_CHECK(row.raw.isObject());
        FUZZ_CHECK(row.text.find_first_of("\r\n") == std::string::npos);  // one line in the reject file
        FUZZ_CHECK(row.text == pgrestify::RawJson::compact(row.raw.text()) || row.text == row.raw.text());
        auto again = pgrestify::RawJson::parse(row.raw.text());
        FUZZ_CHECK(again && again->text() == row.raw.text() && pgrestify::RawJson::parse(row.text));
        for (const auto& m : again->members()) {
          if (m.name != "a" && m.name != "b") {
            const auto v = again->valueText(m);
            FUZZ_CHECK(v == "null" || v.front() == '"');  // other columns: strings or NULL
          }
        }
        FUZZ_CHECK(row.line >= lastLine);
        FUZZ_CHECK(row.endOffset <= size);
        lastLine = row.line;
      }
    } catch (const pgrestify::cli::InputError&) {
      // malformed input that stops reading: allowed
    } catch (const std::exception& e) {
      std::fprintf(stderr, "unexpected exception: %s\n", e.what());
      FUZZ_CHECK(!"the CSV reader threw something other than InputError");
    }
    FUZZ_CHECK(reader->bytesRead() <= size);
  }
  close(fd);
  return 0;
}
