// SPDX-License-Identifier: MIT
// Streaming input readers of the `pgrestify` command-line tool: CSV (libcsv), NDJSON, a JSON array
// and key lists. Each produces one row at a time together with the input line it started on.
#pragma once

#include <pgrestify/raw_json.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgrestify::cli {

/// An input file (or standard input for "-") read line by line, with its size when known.
class Input {
 public:
  /// Opens @p path ("-" = standard input). Throws InputError when it cannot be opened.
  explicit Input(const std::string& path);
  ~Input();
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;

  /// Reads the next physical line without its '\n'; false at the end of the input.
  bool readLine(std::string& line);
  std::istream& stream() { return *in_; }
  /// Lines read so far (the number of the last line returned, 1-based).
  std::size_t lineNumber() const noexcept { return line_; }
  /// Bytes consumed so far.
  std::uint64_t bytesRead() const noexcept { return bytes_; }
  /// Size in bytes for regular files, nullopt for pipes and terminals.
  std::optional<std::uint64_t> size() const noexcept { return size_; }
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  std::unique_ptr<std::istream> owned_;
  std::istream* in_ = nullptr;
  std::vector<char> buffer_;
  std::size_t line_ = 0;
  std::uint64_t bytes_ = 0;
  std::optional<std::uint64_t> size_;
};

/// A problem with the input that stops reading (unopenable file, malformed CSV quoting, a JSON
/// document that is not an array). Rows read before it are still processed.
class InputError : public std::runtime_error {
 public:
  InputError(const std::string& message, std::size_t line = 0) : std::runtime_error(message), line_(line) {}
  std::size_t line() const noexcept { return line_; }

 private:
  std::size_t line_;
};

/// One input row.
struct InputRow {
  nlohmann::json value;         ///< a scalar key (delete; import readers leave it null)
  RawJson raw;                  ///< import: the row as a JSON object's text, numbers as written
  std::string text;             ///< what is sent, and what the reject file shows: raw.text() for
                                ///< import rows, value.dump() for keys
  std::size_t line = 0;         ///< input line the record starts on (1-based); for `json`, the element number (1-based)
  std::uint64_t endOffset = 0;  ///< input bytes consumed up to the end of this record
};

/// An input record that cannot become a row (wrong field count, a line that is not a JSON object,
/// invalid UTF-8). It is written to the reject file and counted as failed; reading goes on.
struct InputReject {
  std::size_t line = 0;
  nlohmann::json row;  ///< what could be read of it (CSV fields as an array, or the raw text)
  std::string message;
};

using RejectSink = std::function<void(InputReject&&)>;

/// Produces rows one at a time.
class RowReader {
 public:
  virtual ~RowReader() = default;
  /// The next row; false at the end of the input. Throws InputError for input it cannot go past.
  virtual bool next(InputRow& row) = 0;
  /// Bytes consumed so far.
  virtual std::uint64_t bytesRead() const = 0;
  /// Input size in bytes, when known.
  virtual std::optional<std::uint64_t> totalBytes() const = 0;
};

/// How CSV values become JSON: PostgreSQL's COPY ... CSV conventions (docs/cli.md).
struct CsvOptions {
  /// COPY's NULL option: an UNQUOTED field equal to this is null; the same text quoted is a
  /// string. Empty (the default): an unquoted empty field is null, `""` is the empty string.
  std::string nullString;
  /// Also null: every empty field, quoted or not (not COPY's convention; for files that write
  /// empty values as `""`).
  bool emptyIsNull = false;
  /// Columns whose fields are JSON text (json/jsonb columns): sent as that JSON value, verbatim;
  /// a field that is not valid JSON fails its row. Other fields are JSON strings.
  std::set<std::string> jsonColumns;
};

/// RFC 4180 CSV with a header row, parsed by libcsv. Every value is a JSON string, except null
/// fields (CsvOptions) and the fields of json columns.
std::unique_ptr<RowReader> makeCsvReader(Input& input, CsvOptions options, RejectSink rejects);
/// One JSON object per line; blank lines are skipped. Rows are sent as written (RawJson).
std::unique_ptr<RowReader> makeNdjsonReader(Input& input, RejectSink rejects);
/// A JSON array of objects, each sent as written (RawJson). The document is read whole (it is one value); use ndjson or
/// csv for inputs that do not fit in memory.
std::unique_ptr<RowReader> makeJsonArrayReader(Input& input, RejectSink rejects);
/// One key per line, each sent as a string exactly as written, except that a UTF-8 BOM at the start
/// and a '\r' at the end of a line are dropped, and with @p trimKeys surrounding spaces and tabs;
/// empty lines are skipped.
std::unique_ptr<RowReader> makeKeyReader(Input& input, RejectSink rejects, bool trimKeys = false);

}  // namespace pgrestify::cli
