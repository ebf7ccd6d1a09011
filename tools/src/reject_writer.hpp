// SPDX-License-Identifier: MIT
// The reject file of the `pgrestify` tool: one NDJSON record per failed input row (docs/cli.md).
#pragma once

#include "progress.hpp"
#include "write_all.hpp"

#include <pgrestify/error.hpp>
#include <pgrestify/result.hpp>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace pgrestify::cli {

/// The reject file (NDJSON, one record per failed input row), or standard error. Each record is
/// written with one write(2), so a failure is known per record: when the file cannot be written
/// (disk full, /dev/full, I/O error), that record and every later one go to standard error
/// instead, and the run ends with exit status 5; a record that cannot be written anywhere is
/// counted as lost.
class RejectWriter {
 public:
  explicit RejectWriter(ProgressDisplay& display) : display_(display) {}
  ~RejectWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  RejectWriter(const RejectWriter&) = delete;
  RejectWriter& operator=(const RejectWriter&) = delete;

  /// Opens (creates, truncates) @p path. Throws std::runtime_error.
  void open(const std::string& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) throw std::runtime_error("cannot write the reject file " + path + ": " + std::strerror(errno));
    path_ = path;
  }

  /// Opens @p path to continue it (resumable runs): its first @p length bytes are kept, whatever
  /// follows them is cut off (records of rows that are processed again). Throws std::runtime_error,
  /// before changing the file, when it is shorter than @p length.
  void openAt(const std::string& path, std::uint64_t length) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) throw std::runtime_error("cannot write the reject file " + path + ": " + std::strerror(errno));
    path_ = path;
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
      throw std::runtime_error("cannot read the reject file " + path + ": " + std::strerror(errno));
    if (S_ISREG(st.st_mode)) {
      if (static_cast<std::uint64_t>(st.st_size) < length) {
        throw std::runtime_error("the reject file " + path + " holds " + std::to_string(st.st_size) +
                                 " bytes, fewer than the " + std::to_string(length) +
                                 " the state file records: records of earlier runs are missing");
      }
      if (::ftruncate(fd_, static_cast<off_t>(length)) != 0 || ::lseek(fd_, 0, SEEK_END) < 0) {
        throw std::runtime_error("cannot write the reject file " + path + ": " + std::strerror(errno));
      }
    }
    bytes_ = length;
  }

  /// Forces the records written so far to the disk (fsync); false when that failed.
  bool sync() {
    if (fd_ < 0 || fileFailed_) return !fileFailed_;
    if (::fsync(fd_) == 0 || errno == EINVAL || errno == EROFS) return true;  // EINVAL: /dev/null, a pipe
    fileFailed_ = true;
    display_.print("error: cannot write the reject file " + path_ + " (" + std::strerror(errno) + ")");
    return false;
  }
  /// Bytes in the reject file (what it held when opened, and the records written since).
  std::uint64_t bytes() const { return bytes_; }

  /// Writes `{"line":L,"row":<rowText>,"error":{...}}`.
  void write(std::size_t line, const std::string& rowText, const nlohmann::json& error) {
    std::string record = "{\"line\":" + std::to_string(line) + ",\"row\":" + rowText +
                         ",\"error\":" + error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "}\n";
    ++count_;
    if (fd_ >= 0 && !fileFailed_) {
      if (writeAll(fd_, record)) {
        bytes_ += record.size();
        return;
      }
      fileFailed_ = true;
      display_.print("error: cannot write the reject file " + path_ + " (" + std::strerror(errno) +
                     "): this record (line " + std::to_string(line) +
                     ") and every later one go to standard error instead");
    }
    if (fd_ >= 0) ++onStderr_;
    if (!display_.write(record)) ++lost_;
  }

  /// Closes the reject file; false when that failed (its last records may not be stored).
  bool close() {
    if (fd_ < 0) return true;
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && !fileFailed_) {
      fileFailed_ = true;
      display_.print("error: closing the reject file " + path_ + " failed (" + std::strerror(errno) +
                     "): its records may be incomplete");
      return false;
    }
    return true;
  }
  std::size_t count() const { return count_; }
  /// Records not where they were asked to go (moved to standard error, or lost).
  bool incomplete() const { return fileFailed_ || lost_ > 0; }
  std::size_t onStderr() const { return onStderr_; }
  std::size_t lost() const { return lost_; }

 private:
  ProgressDisplay& display_;
  int fd_ = -1;
  std::string path_;
  bool fileFailed_ = false;
  std::uint64_t bytes_ = 0;
  std::size_t count_ = 0;
  std::size_t onStderr_ = 0;
  std::size_t lost_ = 0;
};

/// The `error` member of a reject record for a row that failed with @p e.
inline nlohmann::json errorJson(const BulkError& e) {
  nlohmann::json j;
  switch (e.kind) {
    case BulkErrorKind::Server:
      j["kind"] = "server";
      break;
    case BulkErrorKind::Transport:
      j["kind"] = "transport";
      break;
    case BulkErrorKind::NotFound:
      j["kind"] = "not_found";
      break;
    case BulkErrorKind::InvalidRow:
      j["kind"] = "invalid";
      break;
  }
  if (e.status) j["status"] = e.status;
  if (!e.code.empty()) j["code"] = e.code;
  j["message"] = e.message;
  if (!e.details.empty()) j["details"] = e.details;
  if (!e.hint.empty()) j["hint"] = e.hint;
  if (e.kind == BulkErrorKind::Transport) j["transport"] = toString(e.transport);
  if (e.outcomeUnknown) j["outcomeUnknown"] = true;
  j["attempts"] = e.attempts;
  return j;
}

}  // namespace pgrestify::cli
