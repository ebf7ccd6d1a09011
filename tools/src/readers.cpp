// SPDX-License-Identifier: MIT
#include "readers.hpp"

#include <csv.h>

#include <sys/stat.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace pgrestify::cli {

Input::Input(const std::string& path) : name_(path == "-" ? "<stdin>" : path) {
  buffer_.resize(1 << 20);
  if (path == "-") {
    std::ios::sync_with_stdio(false);
    in_ = &std::cin;
    struct stat st {};
    if (::fstat(0, &st) == 0 && S_ISREG(st.st_mode)) size_ = static_cast<std::uint64_t>(st.st_size);
    return;
  }
  auto file = std::make_unique<std::ifstream>();
  file->rdbuf()->pubsetbuf(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
  file->open(path, std::ios::binary);
  if (!*file) throw InputError("cannot open " + path);
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    auto n = std::filesystem::file_size(path, ec);
    if (!ec) size_ = n;
  }
  owned_ = std::move(file);
  in_ = owned_.get();
}

Input::~Input() = default;

bool Input::readLine(std::string& line) {
  if (!std::getline(*in_, line)) {
    if (in_->bad()) throw InputError("read error on " + name_, line_);
    return false;
  }
  ++line_;
  bytes_ += line.size() + (in_->eof() ? 0 : 1);
  return true;
}

namespace {

// The row as sent; an InputReject instead when a string is not valid UTF-8.
bool finishRow(InputRow& row, const RejectSink& rejects, nlohmann::json raw) {
  try {
    row.text = row.value.dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    rejects(InputReject{row.line, std::move(raw), "the record holds text that is not valid UTF-8"});
    return false;
  }
}

class CsvReader final : public RowReader {
 public:
  CsvReader(Input& input, CsvOptions options, RejectSink rejects)
      : input_(input), options_(std::move(options)), rejects_(std::move(rejects)) {
    if (csv_init(&parser_, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
      throw InputError("cannot initialise the CSV parser");
    }
    // RFC 4180: spaces are part of a field (libcsv trims them by default).
    csv_set_space_func(&parser_, [](unsigned char) { return 0; });
  }
  ~CsvReader() override { csv_free(&parser_); }
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  bool next(InputRow& row) override {
    while (ready_.empty()) {
      if (finished_) return false;
      feed();
    }
    row = std::move(ready_.front());
    ready_.pop_front();
    return true;
  }

  std::uint64_t bytesRead() const override { return input_.bytesRead(); }
  std::optional<std::uint64_t> totalBytes() const override { return input_.size(); }

 private:
  void feed() {
    if (!input_.readLine(line_)) {
      finished_ = true;
      if (csv_fini(&parser_, &CsvReader::onField, &CsvReader::onRecord, this) != 0) {
        throw InputError("malformed CSV at the end of the input (" +
                             std::string(csv_strerror(csv_error(&parser_))) + ", an unterminated quoted field?)",
                         recordLine_ ? recordLine_ : input_.lineNumber());
      }
      if (!headerDone_) throw InputError("the CSV input has no header row");
      return;
    }
    const bool blank = line_.empty() || line_ == "\r";
    if (!recordLine_ && !blank) recordLine_ = input_.lineNumber();
    line_.push_back('\n');
    if (csv_parse(&parser_, line_.data(), line_.size(), &CsvReader::onField, &CsvReader::onRecord, this) !=
        line_.size()) {
      throw InputError("malformed CSV (" + std::string(csv_strerror(csv_error(&parser_))) +
                           ": a quote inside an unquoted field, or text after a closing quote)",
                       input_.lineNumber());
    }
  }

  static void onField(void* data, std::size_t size, void* self) {
    auto* r = static_cast<CsvReader*>(self);
    if (!r->recordLine_) r->recordLine_ = r->input_.lineNumber();
    r->fields_.emplace_back(static_cast<const char*>(data), size);
  }

  static void onRecord(int, void* self) { static_cast<CsvReader*>(self)->record(); }

  void record() {
    const std::size_t line = recordLine_ ? recordLine_ : input_.lineNumber();
    recordLine_ = 0;
    std::vector<std::string> fields = std::move(fields_);
    fields_.clear();
    if (!headerDone_) {
      header(std::move(fields), line);
      return;
    }
    if (fields.size() != columns_.size()) {
      rejects_(InputReject{line, nlohmann::json(fields),
                           "the record has " + std::to_string(fields.size()) + " field(s), the header " +
                               std::to_string(columns_.size())});
      return;
    }
    InputRow row;
    row.line = line;
    row.endOffset = input_.bytesRead();
    row.value = nlohmann::json::object();
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].empty() || (!options_.nullString.empty() && fields[i] == options_.nullString)) {
        row.value[columns_[i]] = nullptr;
      } else {
        row.value[columns_[i]] = std::move(fields[i]);
      }
    }
    if (finishRow(row, rejects_, nlohmann::json(row.value))) ready_.push_back(std::move(row));
  }

  void header(std::vector<std::string> names, std::size_t line) {
    headerDone_ = true;
    if (!names.empty() && names[0].rfind("\xEF\xBB\xBF", 0) == 0) names[0].erase(0, 3);  // UTF-8 BOM
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty()) throw InputError("the CSV header has an empty column name (column " + std::to_string(i + 1) + ")", line);
      for (std::size_t j = 0; j < i; ++j) {
        if (names[j] == names[i]) throw InputError("the CSV header names column '" + names[i] + "' twice", line);
      }
    }
    columns_ = std::move(names);
  }

  Input& input_;
  CsvOptions options_;
  RejectSink rejects_;
  csv_parser parser_{};
  std::string line_;
  std::vector<std::string> fields_;
  std::vector<std::string> columns_;
  std::deque<InputRow> ready_;
  std::size_t recordLine_ = 0;
  bool headerDone_ = false;
  bool finished_ = false;
};

bool blankLine(const std::string& s) { return s.find_first_not_of(" \t\r") == std::string::npos; }

class NdjsonReader final : public RowReader {
 public:
  NdjsonReader(Input& input, RejectSink rejects) : input_(input), rejects_(std::move(rejects)) {}

  bool next(InputRow& row) override {
    while (input_.readLine(line_)) {
      if (blankLine(line_)) continue;
      row = InputRow{};
      row.line = input_.lineNumber();
      row.endOffset = input_.bytesRead();
      row.value = nlohmann::json::parse(line_, nullptr, /*allow_exceptions=*/false);
      if (!row.value.is_object()) {
        rejects_(InputReject{row.line, nlohmann::json(line_),
                             row.value.is_discarded() ? "the line is not valid JSON" : "the line is not a JSON object"});
        continue;
      }
      if (finishRow(row, rejects_, nlohmann::json(line_))) return true;
    }
    return false;
  }
  std::uint64_t bytesRead() const override { return input_.bytesRead(); }
  std::optional<std::uint64_t> totalBytes() const override { return input_.size(); }

 private:
  Input& input_;
  RejectSink rejects_;
  std::string line_;
};

class JsonArrayReader final : public RowReader {
 public:
  JsonArrayReader(Input& input, RejectSink rejects) : input_(input), rejects_(std::move(rejects)) {}

  bool next(InputRow& row) override {
    if (!parsed_) load();
    while (position_ < document_.size()) {
      auto& element = document_[position_++];
      row = InputRow{};
      row.line = position_;  // element number, 1-based
      row.endOffset = *size_ * position_ / document_.size();
      if (!element.is_object()) {
        rejects_(InputReject{row.line, element, "the element is not a JSON object"});
        continue;
      }
      row.value = std::move(element);
      row.text = row.value.dump();  // parsed text is valid UTF-8
      return true;
    }
    document_ = nlohmann::json();
    return false;
  }
  std::uint64_t bytesRead() const override { return parsed_ ? *size_ : 0; }
  std::optional<std::uint64_t> totalBytes() const override { return size_; }

 private:
  void load() {
    parsed_ = true;
    std::string text((std::istreambuf_iterator<char>(input_.stream())), std::istreambuf_iterator<char>());
    size_ = text.size();
    try {
      document_ = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw InputError(std::string("the input is not valid JSON: ") + e.what());
    }
    if (!document_.is_array()) throw InputError("the JSON input is not an array (use --format ndjson for one object per line)");
  }

  Input& input_;
  RejectSink rejects_;
  nlohmann::json document_;
  std::size_t position_ = 0;
  std::optional<std::uint64_t> size_ = 0;
  bool parsed_ = false;
};

class KeyReader final : public RowReader {
 public:
  KeyReader(Input& input, RejectSink rejects, bool trim) : input_(input), rejects_(std::move(rejects)), trim_(trim) {}

  // A key is the line as written, except: a UTF-8 byte-order mark at the start of the file is
  // dropped (as for CSV), one '\r' before the '\n' is dropped (CRLF files), and with --trim-keys
  // spaces and tabs around the key are dropped. Empty lines are skipped.
  bool next(InputRow& row) override {
    while (input_.readLine(line_)) {
      std::string_view key = line_;
      if (input_.lineNumber() == 1 && key.substr(0, 3) == "\xEF\xBB\xBF") key.remove_prefix(3);
      if (!key.empty() && key.back() == '\r') key.remove_suffix(1);
      if (trim_) {
        const auto first = key.find_first_not_of(" \t");
        key = first == std::string_view::npos ? std::string_view() : key.substr(first, key.find_last_not_of(" \t") - first + 1);
      }
      if (key.empty()) continue;
      row = InputRow{};
      row.line = input_.lineNumber();
      row.endOffset = input_.bytesRead();
      row.value = std::string(key);
      if (finishRow(row, rejects_, nlohmann::json(line_))) return true;
    }
    return false;
  }
  std::uint64_t bytesRead() const override { return input_.bytesRead(); }
  std::optional<std::uint64_t> totalBytes() const override { return input_.size(); }

 private:
  Input& input_;
  RejectSink rejects_;
  bool trim_;
  std::string line_;
};

}  // namespace

std::unique_ptr<RowReader> makeCsvReader(Input& input, CsvOptions options, RejectSink rejects) {
  return std::make_unique<CsvReader>(input, std::move(options), std::move(rejects));
}
std::unique_ptr<RowReader> makeNdjsonReader(Input& input, RejectSink rejects) {
  return std::make_unique<NdjsonReader>(input, std::move(rejects));
}
std::unique_ptr<RowReader> makeJsonArrayReader(Input& input, RejectSink rejects) {
  return std::make_unique<JsonArrayReader>(input, std::move(rejects));
}
std::unique_ptr<RowReader> makeKeyReader(Input& input, RejectSink rejects, bool trimKeys) {
  return std::make_unique<KeyReader>(input, std::move(rejects), trimKeys);
}

}  // namespace pgrestify::cli
