// SPDX-License-Identifier: MIT
// The progress display of the `pgrestify` tool: a live bar on a terminal, a plain line every few
// seconds otherwise. A few dozen lines of our own: no Debian-packaged progress library fits
// (indicators and similar are not packaged; curses would take over the terminal).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

namespace pgrestify::cli {

/// What the display shows.
struct ProgressState {
  std::size_t processed = 0;  ///< rows with an outcome
  std::size_t successful = 0;
  std::size_t skipped = 0;
  std::size_t failed = 0;
  std::optional<double> fraction;  ///< 0..1 when the input size is known
  std::chrono::steady_clock::duration elapsed{};
};

/// Thread-safe: the bulk call updates the state from its thread, a ticker thread calls tick() so
/// that the display stays on time when no request finishes (a slow or silent server), and every
/// other write to the same stream goes through print()/write() so that lines never interleave.
class ProgressDisplay {
 public:
  /// @p out is where progress goes (stderr); @p terminal selects the live bar.
  ProgressDisplay(std::FILE* out, bool terminal, bool enabled, std::chrono::milliseconds plainInterval);

  /// Records @p state (its elapsed time is replaced by the time since construction) and shows it
  /// if enough time has passed since the last line (or @p force).
  void update(const ProgressState& state, bool force = false);
  /// Shows the last recorded state, with the elapsed time brought up to date, when it is due.
  void tick();
  /// Removes the bar (terminal) so other output starts on a clean line.
  void clear();
  /// Writes "pgrestify: <text>\n" on a clean line; false when the write failed.
  bool print(const std::string& text);
  /// Writes @p bytes as they are on a clean line; false when the write failed.
  bool write(const std::string& bytes);

  /// Formats e.g. "1:05" or "12 s".
  static std::string duration(std::chrono::steady_clock::duration d);

 private:
  std::string barLine(const ProgressState& s, int width) const;
  std::string plainLine(const ProgressState& s) const;
  int width() const;
  void show(ProgressState state, bool force);  // mutex_ held
  void clearLocked();
  bool writeLocked(const std::string& bytes);

  std::mutex mutex_;
  std::FILE* out_;
  bool terminal_;
  bool enabled_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;  ///< last line shown (start_ before the first)
  ProgressState state_;
  bool drawn_ = false;
};

}  // namespace pgrestify::cli
