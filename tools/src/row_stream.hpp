// SPDX-License-Identifier: MIT
// The input of the `pgrestify` tool as the single-pass range the bulk call reads (RowStream), and
// the rows kept until their batch is done, to trace failures back to input lines (Tracker).
#pragma once

#include "readers.hpp"
#include "resume_state.hpp"

#include <pgrestify/options.hpp>
#include <pgrestify/raw_json.hpp>

#include <nlohmann/json.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iterator>
#include <map>
#include <new>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>

namespace pgrestify::cli {

/// Keeps each input row (line number, text) until the engine reports its batch complete, so that
/// failures can be traced back to input lines without holding the whole input: rows of batches
/// that had no failure are dropped, rows of batches that had one go to a temporary spill file.
/// Relies on what the engine guarantees: onBatchComplete reports each batch, with the input
/// indexes of its rows and its failure count, once every row of it has its final outcome.
class Tracker {
 public:
  struct Row {
    std::size_t line;
    std::string text;
    std::uint64_t record = 0;  ///< the record number in the input (RecordSelector)
  };

  Tracker() : spill_(std::tmpfile()) {
    if (!spill_) throw std::runtime_error("cannot create a temporary file");
  }
  ~Tracker() { std::fclose(spill_); }
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  void add(std::size_t line, std::string text, std::uint64_t record) {
    window_.emplace(nextIndex_++, Row{line, std::move(text), record});
  }

  /// Removes the kept row of input index @p index and gives it (resumable runs: the caller records
  /// its outcome itself); nullopt when it is not kept.
  std::optional<Row> take(std::size_t index) {
    auto it = window_.find(index);
    if (it == window_.end()) return std::nullopt;
    Row row = std::move(it->second);
    window_.erase(it);
    return row;
  }

  /// The record number of the first kept row (rows are kept in input order), nullopt when none is.
  std::optional<std::uint64_t> firstRecord() const {
    if (window_.empty()) return std::nullopt;
    return window_.begin()->second.record;
  }

  /// Every row of the batch has its final outcome: rows of a batch with failures go to the spill
  /// file, the others are dropped. Rows are found by their input index (a batch's rows are not
  /// contiguous when key sets interleave; a row refused before sending belongs to no batch and
  /// stays until the end).
  void batchDone(const BatchReport& report) {
    for (std::size_t index : report.indexes) {
      auto it = window_.find(index);
      if (it == window_.end()) continue;
      if (report.failed > 0) {
        std::fprintf(spill_, "%zu %zu ", index, it->second.line);
        std::fwrite(it->second.text.data(), 1, it->second.text.size(), spill_);
        std::fputc('\n', spill_);
      }
      window_.erase(it);
    }
  }

  /// Line of the first kept row without a final outcome (@p final_ says which kept rows have one),
  /// 0 when there is none.
  template <class Final>
  std::size_t firstOpenLine(Final&& final_) const {
    for (const auto& [index, row] : window_) {
      if (!final_(index)) return row.line;
    }
    return 0;
  }

  /// Calls @p fn(index, line, text) for every kept row (spilled ones, then the still open ones).
  template <class Fn>
  void forEach(Fn&& fn) {
    std::rewind(spill_);
    std::size_t index = 0, line = 0;
    std::string text;
    char buf[1 << 16];
    while (std::fscanf(spill_, "%zu %zu ", &index, &line) == 2) {
      text.clear();
      while (std::fgets(buf, sizeof buf, spill_)) {
        text += buf;
        if (!text.empty() && text.back() == '\n') break;
      }
      if (!text.empty() && text.back() == '\n') text.pop_back();
      fn(index, line, text);
    }
    for (const auto& [index, row] : window_) fn(index, row.line, row.text);
  }

 private:
  std::FILE* spill_;
  std::map<std::size_t, Row> window_;  // input index -> row, until its batch is done
  std::size_t nextIndex_ = 0;
};

/// The input as a single-pass range of JSON rows: reads one record at a time from the reader,
/// keeps it in the tracker, and stops cleanly (end of range) at an input error.
class RowStream {
 public:
  /// @p selector says which records the run takes (the others are read and dropped); @p onRow is
  /// called with the record number of each row taken, before the engine can have it.
  RowStream(RowReader& reader, Tracker& tracker, RecordSelector& selector,
            std::function<void(std::uint64_t)> onRow = {})
      : reader_(reader), tracker_(tracker), selector_(selector), onRow_(std::move(onRow)) {}

  /// Iterates over the rows as V: RawJson (import rows, numbers as written) or nlohmann::json (keys).
  template <class V>
  class basic_iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using value_type = V;
    using difference_type = std::ptrdiff_t;
    basic_iterator() = default;
    explicit basic_iterator(RowStream* s) : s_(s) {}
    const V& operator*() const {
      if constexpr (std::same_as<V, RawJson>) {
        return s_->row_.raw;
      } else {
        return s_->row_.value;
      }
    }
    basic_iterator& operator++() {
      ++s_->taken_;  // the engine moved past the current row: it is its row now
      s_->takenBytes_ = s_->row_.endOffset;
      s_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return s_->done_; }

   private:
    RowStream* s_ = nullptr;
  };

  using iterator = basic_iterator<nlohmann::json>;
  iterator begin() {
    advance();
    return iterator(this);
  }
  std::default_sentinel_t end() { return {}; }

  /// The same single pass with RawJson rows (import).
  struct RawRange {
    RowStream* s;
    basic_iterator<RawJson> begin() {
      s->advance();
      return basic_iterator<RawJson>(s);
    }
    std::default_sentinel_t end() { return {}; }
  };
  RawRange raw() { return RawRange{this}; }

  /// Rows handed to the engine (the row read ahead by the iterator is not counted).
  std::size_t rows() const { return taken_; }
  /// Input bytes up to the end of the last row handed to the engine.
  std::uint64_t takenBytes() const { return takenBytes_; }
  const std::optional<InputError>& inputError() const { return error_; }
  /// The input was read to its end without an error.
  bool exhausted() const { return done_ && !error_; }

 private:
  void advance() {
    if (done_) return;
    try {
      while (reader_.next(row_)) {
        const auto record = selector_.take();
        if (!record) continue;
        tracker_.add(row_.line, row_.text, *record);
        if (onRow_) onRow_(*record);
        return;
      }
    } catch (const InputError& e) {
      error_ = e;
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {  // e.g. a read error reported by the stream library
      error_ = InputError(std::string("cannot read the input: ") + e.what());
    }
    done_ = true;
    row_ = InputRow{};
  }

  RowReader& reader_;
  Tracker& tracker_;
  RecordSelector& selector_;
  std::function<void(std::uint64_t)> onRow_;
  InputRow row_;
  std::size_t taken_ = 0;
  std::uint64_t takenBytes_ = 0;
  bool done_ = false;
  std::optional<InputError> error_;
};
static_assert(std::ranges::input_range<RowStream>);
static_assert(!std::ranges::forward_range<RowStream>);
static_assert(std::ranges::input_range<RowStream::RawRange>);

}  // namespace pgrestify::cli
