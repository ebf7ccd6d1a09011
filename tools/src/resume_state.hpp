// SPDX-License-Identifier: MIT
// `pgrestify import --resume STATE` and `--shard K/N` (docs/cli.md, "Resumable and sharded
// imports"): the state file (read, checked, written atomically), the fingerprint of the input,
// and which input records a run takes.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace pgrestify::cli {

/// `--shard K/N`: the records whose 0-based record number r has r % N == K - 1.
struct ShardSpec {
  std::size_t k = 1;
  std::size_t n = 1;
  std::string text() const { return std::to_string(k) + "/" + std::to_string(n); }
};

/// Parses "K/N" (1 <= K <= N, N <= 1000000). Throws std::invalid_argument with a usage message.
ShardSpec parseShard(const std::string& text);

/// The input's size and a 128-bit hash of every byte (hex), read once from the start to the end.
struct InputFingerprint {
  std::uint64_t size = 0;
  std::string hash;
};

/// Reads @p path whole. Throws std::runtime_error when it cannot be read, or is not a regular file.
InputFingerprint fingerprintFile(const std::string& path);

/// A 128-bit hash (32 hex digits) of @p bytes: the same function as the input's (not cryptographic:
/// it detects changed, added or removed bytes, not a deliberate collision).
std::string hashText(const std::string& bytes);

/// The state refuses the run (exit status 6): not a valid state file, or one of another input,
/// other options or another shard.
class StateRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The counts of the rows before `position`, over every run.
struct StateCounts {
  std::uint64_t rows = 0;
  std::uint64_t written = 0;
  std::uint64_t skipped = 0;
  std::uint64_t failed = 0;
  std::uint64_t unknown = 0;  ///< failed rows whose outcome is unknown (they may have been written)
};

/// The state file's content (docs/cli.md, "The state file").
struct ResumeState {
  InputFingerprint input;
  std::map<std::string, std::string> options;  ///< what changes what is written: name -> value
  ShardSpec shard;
  std::uint64_t position = 0;     ///< every record before it has its final outcome
  std::uint64_t sentUpTo = 0;     ///< records from `position` up to here may have been sent
  std::uint64_t rejectBytes = 0;  ///< the reject file's length holding exactly the records of rows before `position`
  StateCounts counts;
  std::uint64_t resent = 0;  ///< rows sent again by resumed runs (they may have been written before)
  std::uint64_t runs = 0;    ///< runs that wrote this state
  bool complete = false;     ///< the input was read to its end and every row has its outcome
};

/// Reads the state at @p path: nullopt when it does not exist. Throws StateRefused when it cannot
/// be read or is not a valid, intact state file (truncated, edited, another format).
std::optional<ResumeState> loadState(const std::string& path);

/// Writes @p state to @p path atomically: a temporary file in the same directory, fsync, rename
/// over @p path, fsync of the directory. Throws std::runtime_error (the old state is unchanged).
void saveState(const std::string& path, const ResumeState& state);

/// Why @p saved does not belong to this run (@p input, @p options, @p shard), or empty.
std::string stateMismatch(const ResumeState& saved, const InputFingerprint& input,
                          const std::map<std::string, std::string>& options, const ShardSpec& shard);

/// Which input records a run takes, in input order: those of its shard from `start` on. Every
/// record (a row, or an input reject) gets the next record number.
class RecordSelector {
 public:
  RecordSelector(std::uint64_t start, ShardSpec shard) : start_(start), shard_(shard) {}
  /// The next record: its number when the run takes it.
  std::optional<std::uint64_t> take() {
    const std::uint64_t r = next_++;
    if (r < start_ || r % shard_.n != shard_.k - 1) return std::nullopt;
    return r;
  }
  /// Records read so far (the number of the next one).
  std::uint64_t next() const { return next_; }
  std::uint64_t start() const { return start_; }

 private:
  std::uint64_t start_;
  ShardSpec shard_;
  std::uint64_t next_ = 0;
};

}  // namespace pgrestify::cli
