// SPDX-License-Identifier: MIT
#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace pgrestify::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string format(const char* fmt, auto... args) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

double rate(const ProgressState& s) {
  double t = seconds(s.elapsed);
  return t > 0 ? static_cast<double>(s.processed) / t : 0.0;
}

std::optional<Clock::duration> eta(const ProgressState& s) {
  if (!s.fraction || *s.fraction <= 0.0 || *s.fraction > 1.0) return std::nullopt;
  double left = seconds(s.elapsed) * (1.0 - *s.fraction) / *s.fraction;
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(left));
}

}  // namespace

ProgressDisplay::ProgressDisplay(std::FILE* out, bool terminal, bool enabled, std::chrono::milliseconds plainInterval)
    : out_(out),
      terminal_(terminal),
      enabled_(enabled),
      interval_(plainInterval),
      start_(Clock::now()),
      last_(start_) {}

std::string ProgressDisplay::duration(Clock::duration d) {
  auto total = static_cast<long long>(std::llround(seconds(d)));
  if (total < 60) return std::to_string(total) + " s";
  if (total < 3600) return format("%lld:%02lld", total / 60, total % 60);
  return format("%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
}

int ProgressDisplay::width() const {
  winsize ws{};
  if (::ioctl(::fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 80;
}

std::string ProgressDisplay::barLine(const ProgressState& s, int cols) const {
  std::string tail = format(" %zu rows  %.0f rows/s", s.processed, rate(s));
  if (auto e = eta(s)) tail += "  ETA " + duration(*e);
  tail += format("  %zu failed", s.failed);
  std::string head;
  if (s.fraction) {
    const double f = std::clamp(*s.fraction, 0.0, 1.0);
    const int barWidth = std::clamp(cols - 58, 10, 50);  // fixed while the numbers grow
    const int filled = static_cast<int>(f * barWidth);
    head.reserve(static_cast<std::size_t>(barWidth) + 10);
    head.push_back('[');
    head.append(static_cast<std::size_t>(filled), '#');
    head.append(static_cast<std::size_t>(barWidth - filled), '.');
    head.push_back(']');
    head += format(" %5.1f%%", f * 100.0);
  } else {
    head = "elapsed ";
    head += duration(s.elapsed);
  }
  std::string line = head + tail;
  if (static_cast<int>(line.size()) > cols - 1) line.resize(static_cast<std::size_t>(cols - 1));
  return line;
}

std::string ProgressDisplay::plainLine(const ProgressState& s) const {
  std::string line = "progress:";
  if (s.fraction) line += format(" %.1f%%", std::clamp(*s.fraction, 0.0, 1.0) * 100.0);
  line += format(" %zu rows (%zu written, %zu skipped, %zu failed), %.0f rows/s, elapsed %s", s.processed, s.successful,
                 s.skipped, s.failed, rate(s), duration(s.elapsed).c_str());
  if (auto e = eta(s)) line += ", ETA " + duration(*e);
  return line;
}

void ProgressDisplay::update(const ProgressState& state, bool force) {
  std::lock_guard lock(mutex_);
  state_ = state;
  show(state_, force);
}

void ProgressDisplay::tick() {
  std::lock_guard lock(mutex_);
  show(state_, false);
}

// The first plain line comes one interval after the start; the bar is drawn at most ten times a
// second. The elapsed time is always the time since the start, so a line printed while no request
// finishes still tells the truth (the rate falls).
void ProgressDisplay::show(ProgressState state, bool force) {
  if (!enabled_) return;
  const auto now = Clock::now();
  const auto every = terminal_ ? std::chrono::milliseconds(100) : interval_;
  if (!force && now - last_ < every) return;
  last_ = now;
  state.elapsed = now - start_;
  if (terminal_) {
    std::fprintf(out_, "\r%s\x1b[K", barLine(state, width()).c_str());
    drawn_ = true;
  } else {
    std::fprintf(out_, "%s\n", plainLine(state).c_str());
  }
  std::fflush(out_);
}

void ProgressDisplay::clear() {
  std::lock_guard lock(mutex_);
  clearLocked();
}

void ProgressDisplay::clearLocked() {
  if (!drawn_) return;
  std::fprintf(out_, "\r\x1b[K");
  std::fflush(out_);
  drawn_ = false;
}

bool ProgressDisplay::writeLocked(const std::string& bytes) {
  clearLocked();
  std::clearerr(out_);
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), out_) == bytes.size();
  return std::fflush(out_) == 0 && ok && !std::ferror(out_);
}

bool ProgressDisplay::print(const std::string& text) {
  std::lock_guard lock(mutex_);
  return writeLocked("pgrestify: " + text + "\n");
}

bool ProgressDisplay::write(const std::string& bytes) {
  std::lock_guard lock(mutex_);
  return writeLocked(bytes);
}

}  // namespace pgrestify::cli
