// SPDX-License-Identifier: MIT
#include "resume_state.hpp"
#include "write_all.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace pgrestify::cli {

namespace {

constexpr const char* kFormat = "pgrestify import state";
constexpr int kVersion = 1;
constexpr std::size_t kMaxStateBytes = 1 << 20;

std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
std::uint64_t fmix(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

/// Two 64-bit lanes over the input taken as little-endian 8-byte words, then the tail and the
/// length (128 bits). Fast enough to run at disk speed; not cryptographic.
class Hasher {
 public:
  void update(const char* p, std::size_t n) {
    length_ += n;
    while (n > 0 && pendingN_ > 0) {
      pending_[pendingN_++] = static_cast<unsigned char>(*p++);
      --n;
      if (pendingN_ == 8) {
        mix(word(pending_));
        pendingN_ = 0;
      }
    }
    while (n >= 8) {
      mix(word(reinterpret_cast<const unsigned char*>(p)));
      p += 8;
      n -= 8;
    }
    while (n > 0) {
      pending_[pendingN_++] = static_cast<unsigned char>(*p++);
      --n;
    }
  }
  std::string hex() {
    std::uint64_t tail = 0;
    for (std::size_t i = 0; i < pendingN_; ++i) tail |= static_cast<std::uint64_t>(pending_[i]) << (8 * i);
    mix(tail ^ (static_cast<std::uint64_t>(pendingN_) << 56));
    const std::uint64_t x = fmix(a_ ^ rotl(b_, 17) ^ length_);
    const std::uint64_t y = fmix(b_ + rotl(a_, 41) + (length_ * 0x9e3779b97f4a7c15ULL));
    char out[33];
    std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(x),
                  static_cast<unsigned long long>(y));
    return out;
  }

 private:
  static std::uint64_t word(const unsigned char* p) {
    std::uint64_t w = 0;
    for (int i = 7; i >= 0; --i) w = (w << 8) | p[i];
    return w;
  }
  void mix(std::uint64_t w) {
    a_ = rotl((a_ ^ w) * 0x87c37b91114253d5ULL, 31) * 0x4cf5ad432745937fULL;
    b_ = rotl(b_ + (w * 0x9e3779b97f4a7c15ULL), 27) * 0xc2b2ae3d27d4eb4fULL + 0x52dce729;
  }
  std::uint64_t a_ = 0x243f6a8885a308d3ULL;
  std::uint64_t b_ = 0x13198a2e03707344ULL;
  std::uint64_t length_ = 0;
  unsigned char pending_[8] = {};
  std::size_t pendingN_ = 0;
};

std::string errnoText() { return std::strerror(errno); }

std::string dirOf(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

nlohmann::json toJson(const ResumeState& s) {
  nlohmann::json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["input"] = {{"size", s.input.size}, {"hash", s.input.hash}};
  j["options"] = nlohmann::json::object();
  for (const auto& [name, value] : s.options) j["options"][name] = value;
  j["shard"] = s.shard.text();
  j["position"] = s.position;
  j["sent_up_to"] = s.sentUpTo;
  j["reject_bytes"] = s.rejectBytes;
  j["counts"] = {{"rows", s.counts.rows},
                 {"written", s.counts.written},
                 {"skipped", s.counts.skipped},
                 {"failed", s.counts.failed},
                 {"unknown", s.counts.unknown}};
  j["resent"] = s.resent;
  j["runs"] = s.runs;
  j["complete"] = s.complete;
  return j;
}

std::string compact(const nlohmann::json& j) { return j.dump(-1, ' ', true); }

/// The unsigned integer member @p name of @p j. Throws StateRefused.
std::uint64_t number(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_unsigned()) {
    throw StateRefused(std::string("\"") + name + "\" is missing or not a non-negative integer");
  }
  return it->get<std::uint64_t>();
}

std::string string(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) throw StateRefused(std::string("\"") + name + "\" is missing or not a string");
  return it->get<std::string>();
}

const nlohmann::json& object(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_object())
    throw StateRefused(std::string("\"") + name + "\" is missing or not an object");
  return *it;
}

ResumeState fromJson(const nlohmann::json& j) {
  if (!j.is_object()) throw StateRefused("it is not a JSON object");
  if (!j.contains("format") || j["format"] != kFormat) throw StateRefused("it is not a pgrestify import state");
  if (number(j, "version") != kVersion) throw StateRefused("it is of another version of the format");
  const std::string check = string(j, "check");
  nlohmann::json body = j;
  body.erase("check");
  if (hashText(compact(body)) != check)
    throw StateRefused("its check value does not match its content (edited or damaged)");
  ResumeState s;
  const auto& input = object(j, "input");
  s.input.size = number(input, "size");
  s.input.hash = string(input, "hash");
  for (const auto& [name, value] : object(j, "options").items()) {
    if (!value.is_string()) throw StateRefused("option \"" + name + "\" is not a string");
    s.options[name] = value.get<std::string>();
  }
  try {
    s.shard = parseShard(string(j, "shard"));
  } catch (const std::invalid_argument&) {
    throw StateRefused("\"shard\" is not K/N");
  }
  s.position = number(j, "position");
  s.sentUpTo = number(j, "sent_up_to");
  s.rejectBytes = number(j, "reject_bytes");
  const auto& counts = object(j, "counts");
  s.counts.rows = number(counts, "rows");
  s.counts.written = number(counts, "written");
  s.counts.skipped = number(counts, "skipped");
  s.counts.failed = number(counts, "failed");
  s.counts.unknown = number(counts, "unknown");
  s.resent = number(j, "resent");
  s.runs = number(j, "runs");
  auto complete = j.find("complete");
  if (complete == j.end() || !complete->is_boolean()) throw StateRefused("\"complete\" is missing or not true/false");
  s.complete = complete->get<bool>();
  // What the counts say must be possible.
  const auto& c = s.counts;
  if (c.written > c.rows || c.skipped > c.rows - c.written || c.failed != c.rows - c.written - c.skipped ||
      c.unknown > c.failed || c.rows > s.position || s.sentUpTo < s.position) {
    throw StateRefused("its counts do not add up");
  }
  return s;
}

}  // namespace

ShardSpec parseShard(const std::string& text) {
  const auto slash = text.find('/');
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 7 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  const std::string k = slash == std::string::npos ? "" : text.substr(0, slash);
  const std::string n = slash == std::string::npos ? "" : text.substr(slash + 1);
  if (!digits(k) || !digits(n)) {
    throw std::invalid_argument("--shard must be K/N with whole numbers 1 <= K <= N (e.g. --shard 2/3), not '" +
                                text.substr(0, 40) + "'");
  }
  ShardSpec s{std::stoul(k), std::stoul(n)};
  if (s.n < 1 || s.n > 1000000 || s.k < 1 || s.k > s.n) {
    throw std::invalid_argument("--shard " + s.text() + ": K must be from 1 to N, and N from 1 to 1000000");
  }
  return s;
}

InputFingerprint fingerprintFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot read " + path + ": " + errnoText());
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error("--resume needs a regular input file (it is read again by a resumed run); " + path +
                             " is not one");
  }
  Hasher h;
  std::vector<char> buffer(1 << 20);
  InputFingerprint f;
  for (;;) {
    const auto n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string what = errnoText();
      ::close(fd);
      throw std::runtime_error("cannot read " + path + ": " + what);
    }
    if (n == 0) break;
    h.update(buffer.data(), static_cast<std::size_t>(n));
    f.size += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  f.hash = h.hex();
  return f;
}

std::string hashText(const std::string& bytes) {
  Hasher h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

std::optional<ResumeState> loadState(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw StateRefused("cannot read it: " + errnoText());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw StateRefused("it is not a regular file");
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string what = errnoText();
      ::close(fd);
      throw StateRefused("cannot read it: " + what);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxStateBytes) {
      ::close(fd);
      throw StateRefused("it is larger than any state file (1 MiB)");
    }
  }
  ::close(fd);
  if (text.empty()) throw StateRefused("it is empty");
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw StateRefused("it is not valid JSON (truncated or damaged)");
  return fromJson(j);
}

void saveState(const std::string& path, const ResumeState& state) {
  nlohmann::json j = toJson(state);
  j["check"] = hashText(compact(j));
  const std::string text = j.dump(1, ' ', true) + "\n";
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write the state file " + tmp + ": " + errnoText());
  if (!writeAll(fd, text) || ::fsync(fd) != 0) {
    const std::string what = errnoText();
    ::close(fd);
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write the state file " + tmp + ": " + what);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string what = errnoText();
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write the state file " + path + ": " + what);
  }
  const int dir = ::open(dirOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) throw std::runtime_error("cannot sync the directory of the state file " + path + ": " + errnoText());
  const bool synced = ::fsync(dir) == 0;
  const std::string what = errnoText();
  ::close(dir);
  if (!synced) throw std::runtime_error("cannot sync the directory of the state file " + path + ": " + what);
}

std::string stateMismatch(const ResumeState& saved, const InputFingerprint& input,
                          const std::map<std::string, std::string>& options, const ShardSpec& shard) {
  if (saved.shard.k != shard.k || saved.shard.n != shard.n) {
    return "it is the state of shard " + saved.shard.text() + ", not of shard " + shard.text();
  }
  if (saved.input.size != input.size || saved.input.hash != input.hash) {
    return "the input file changed since the state was written (" + std::to_string(saved.input.size) + " bytes, hash " +
           saved.input.hash + "; now " + std::to_string(input.size) + " bytes, hash " + input.hash + ")";
  }
  for (const auto& [name, value] : options) {
    auto it = saved.options.find(name);
    if (it == saved.options.end()) return "it does not record " + name;
    if (it->second != value) return name + " was '" + it->second + "' and is now '" + value + "'";
  }
  for (const auto& [name, value] : saved.options) {
    if (!options.count(name)) return "it records an option this run does not know: " + name;
  }
  return {};
}

}  // namespace pgrestify::cli
