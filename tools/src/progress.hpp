// SPDX-License-Identifier: MIT
// The progress display of the `pgrestify` tool: a live bar on a terminal, a plain line every few
// seconds otherwise. A few dozen lines of our own: no Debian-packaged progress library fits
// (indicators and similar are not packaged; curses would take over the terminal).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>

namespace pgrestify::cli {

/// What the display shows.
struct ProgressState {
  std::size_t processed = 0;   ///< rows with an outcome
  std::size_t successful = 0;
  std::size_t skipped = 0;
  std::size_t failed = 0;
  std::optional<double> fraction;  ///< 0..1 when the input size is known
  std::chrono::steady_clock::duration elapsed{};
};

class ProgressDisplay {
 public:
  /// @p out is where progress goes (stderr); @p terminal selects the live bar.
  ProgressDisplay(std::FILE* out, bool terminal, bool enabled, std::chrono::milliseconds plainInterval);

  /// Shows @p state if enough time has passed since the last update (or @p force).
  void update(const ProgressState& state, bool force = false);
  /// Removes the bar (terminal) so other output starts on a clean line.
  void clear();

  /// Formats e.g. "1:05" or "12 s".
  static std::string duration(std::chrono::steady_clock::duration d);

 private:
  std::string barLine(const ProgressState& s, int width) const;
  std::string plainLine(const ProgressState& s) const;
  int width() const;

  std::FILE* out_;
  bool terminal_;
  bool enabled_;
  std::chrono::milliseconds interval_;
  std::optional<std::chrono::steady_clock::time_point> last_;
  bool drawn_ = false;
};

}  // namespace pgrestify::cli
