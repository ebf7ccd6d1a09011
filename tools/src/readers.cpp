// SPDX-License-Identifier: MIT
#include "readers.hpp"

#include <csv.h>

#include <sys/stat.h>

#include <algorithm>
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

// A row's JSON text on one line (for the reject file and the spill file, which are line-based);
// the row itself is sent as written.
std::string oneLine(const std::string& json) {
  if (json.find_first_of("\r\n") == std::string::npos) return json;
  return RawJson::compact(json);
}

/// What every reader shares: the input, where input records that cannot become rows go, and
/// the line being read.
class ReaderBase : public RowReader {
 public:
  std::uint64_t bytesRead() const override { return input_.bytesRead(); }
  std::optional<std::uint64_t> totalBytes() const override { return input_.size(); }

 protected:
  ReaderBase(Input& input, RejectSink rejects) : input_(input), rejects_(std::move(rejects)) {}

  void reject(std::size_t line, nlohmann::json row, std::string message) const {
    rejects_(InputReject{.line = line, .row = std::move(row), .message = std::move(message)});
  }
  /// A row that starts at the line just read.
  InputRow rowAtLine() const {
    InputRow row;
    row.line = input_.lineNumber();
    row.endOffset = input_.bytesRead();
    return row;
  }
  /// The row as sent (row.value's text); a reject of @p raw instead when a string is not valid UTF-8.
  bool finishRow(InputRow& row, nlohmann::json raw) const {
    try {
      row.text = row.value.dump();
      return true;
    } catch (const nlohmann::json::type_error&) {
      reject(row.line, std::move(raw), "the record holds text that is not valid UTF-8");
      return false;
    }
  }

  Input& input_;
  RejectSink rejects_;
  std::string line_;
};

// Libcsv gives a field's text but not whether it was quoted, which COPY's conventions need (an
// unquoted empty field is NULL, `""` is the empty string). The parser keeps that state in its
// public `quoted` member and stores it back when csv_parse returns, so the input is fed in
// segments that end before each delimiter or line break: before the character that ends a field
// is fed, `quoted` tells whether that field was quoted.
class CsvReader final : public ReaderBase {
 public:
  CsvReader(Input& input, CsvOptions options, RejectSink rejects)
      : ReaderBase(input, std::move(rejects)), options_(std::move(options)) {
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

 private:
  struct Field {
    std::string text;
    bool quoted = false;
  };

  void feed() {
    if (!input_.readLine(line_)) {
      finished_ = true;
      fieldQuoted_ = parser_.quoted != 0;
      if (csv_fini(&parser_, &CsvReader::onField, &CsvReader::onRecord, this) != 0) {
        throw InputError("malformed CSV at the end of the input (" + std::string(csv_strerror(csv_error(&parser_))) +
                             ", an unterminated quoted field?)",
                         recordLine_ ? recordLine_ : input_.lineNumber());
      }
      if (!headerDone_) throw InputError("the CSV input has no header row");
      return;
    }
    const bool blank = line_.empty() || line_ == "\r";
    if (!recordLine_ && !blank) recordLine_ = input_.lineNumber();
    line_.push_back('\n');
    const char* data = line_.data();
    const std::size_t size = line_.size();
    for (std::size_t i = 0; i < size;) {
      std::size_t j = i;
      while (j < size && data[j] != ',' && data[j] != '\n' && data[j] != '\r') ++j;
      if (j > i) parse(data + i, j - i);
      if (j < size) {
        fieldQuoted_ = parser_.quoted != 0;  // of the field this character may end
        parse(data + j, 1);
      }
      i = j + 1;
    }
  }

  void parse(const char* data, std::size_t size) {
    if (csv_parse(&parser_, data, size, &CsvReader::onField, &CsvReader::onRecord, this) != size) {
      throw InputError("malformed CSV (" + std::string(csv_strerror(csv_error(&parser_))) +
                           ": a quote inside an unquoted field, or text after a closing quote)",
                       input_.lineNumber());
    }
  }

  static void onField(void* data, std::size_t size, void* self) {
    auto* r = static_cast<CsvReader*>(self);
    if (!r->recordLine_) r->recordLine_ = r->input_.lineNumber();
    r->fields_.push_back(
        Field{size ? std::string(static_cast<const char*>(data), size) : std::string(), r->fieldQuoted_});
  }

  static void onRecord(int, void* self) { static_cast<CsvReader*>(self)->record(); }

  static nlohmann::json fieldsJson(const std::vector<Field>& fields) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& f : fields) a.push_back(f.text);
    return a;
  }

  bool isNull(const Field& f) const {
    if (!f.quoted && f.text == options_.nullString) return true;
    return options_.emptyIsNull && f.text.empty();
  }

  void record() {
    const std::size_t line = recordLine_ ? recordLine_ : input_.lineNumber();
    recordLine_ = 0;
    std::vector<Field> fields = std::move(fields_);
    fields_.clear();
    if (!headerDone_) {
      std::vector<std::string> names;
      for (auto& f : fields) names.push_back(std::move(f.text));
      header(std::move(names), line);
      return;
    }
    if (fields.size() != columns_.size()) {
      reject(line, fieldsJson(fields),
             "the record has " + std::to_string(fields.size()) + " field(s), the header " +
                 std::to_string(columns_.size()));
      return;
    }
    std::string problem;
    const auto text = objectText(fields, problem);
    if (!text) {
      reject(line, fieldsJson(fields), std::move(problem));
      return;
    }
    std::string error;
    auto raw = RawJson::parse(*text, &error);  // built from valid JSON parts; checked all the same
    if (!raw) {
      reject(line, fieldsJson(fields), "the record does not make a valid JSON row (" + error + ")");
      return;
    }
    InputRow row;
    row.line = line;
    row.endOffset = input_.bytesRead();
    row.raw = std::move(*raw);
    row.text = oneLine(row.raw.text());
    ready_.push_back(std::move(row));
  }

  /// The record as a JSON object's text, columns in name order; nullopt, and @p problem, when a
  /// field cannot be its column's value.
  std::optional<std::string> objectText(const std::vector<Field>& fields, std::string& problem) const {
    std::string text = "{";
    for (std::size_t n = 0; n < fields.size(); ++n) {
      const std::size_t i = order_[n];
      if (n) text.push_back(',');
      text += quotedNames_[i];
      text.push_back(':');
      if (!appendValue(text, fields[i], i, problem)) return std::nullopt;
    }
    text.push_back('}');
    return text;
  }

  /// Appends field @p f of column @p i as a JSON value; false, and @p problem, when it cannot be one.
  bool appendValue(std::string& text, const Field& f, std::size_t i, std::string& problem) const {
    if (isNull(f)) {
      text += "null";
      return true;
    }
    if (!jsonColumn_[i]) {
      try {
        text += nlohmann::json(f.text).dump();
        return true;
      } catch (const nlohmann::json::type_error&) {
        problem = "the record holds text that is not valid UTF-8";
        return false;
      }
    }
    std::string error;
    auto value = RawJson::parse(f.text, &error);
    if (!value) {
      problem = "column '" + columns_[i] + "' is json: the field is not valid JSON (" + error + ")";
      return false;
    }
    if (value->isNull()) {  // PostgREST stores a JSON null as SQL NULL: refuse to alter it
      problem = "column '" + columns_[i] +
                "' is json: the JSON value null cannot be stored as sent (PostgREST makes it SQL NULL); a NULL is "
                "written as an unquoted empty field";
      return false;
    }
    text += value->text();
    return true;
  }

  void header(std::vector<std::string> names, std::size_t line) {
    headerDone_ = true;
    if (!names.empty() && names[0].rfind("\xEF\xBB\xBF", 0) == 0) names[0].erase(0, 3);  // UTF-8 BOM
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty())
        throw InputError("the CSV header has an empty column name (column " + std::to_string(i + 1) + ")", line);
      for (std::size_t j = 0; j < i; ++j) {
        if (names[j] == names[i]) throw InputError("the CSV header names column '" + names[i] + "' twice", line);
      }
      try {
        quotedNames_.push_back(nlohmann::json(names[i]).dump());
      } catch (const nlohmann::json::type_error&) {
        throw InputError("the CSV header holds text that is not valid UTF-8 (column " + std::to_string(i + 1) + ")",
                         line);
      }
      jsonColumn_.push_back(options_.jsonColumns.count(names[i]) > 0);
    }
    columns_ = std::move(names);
    // Columns in name order, as nlohmann::json objects have them (the reject file's `row` keeps
    // the form it had before rows were written as text).
    order_.resize(columns_.size());
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    std::sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) { return columns_[a] < columns_[b]; });
  }

  CsvOptions options_;
  csv_parser parser_{};
  std::vector<Field> fields_;
  bool fieldQuoted_ = false;
  std::vector<std::string> columns_;
  std::vector<std::string> quotedNames_;  // each column name as a JSON string
  std::vector<bool> jsonColumn_;
  std::vector<std::size_t> order_;  // indexes of columns_ in name order
  std::deque<InputRow> ready_;
  std::size_t recordLine_ = 0;
  bool headerDone_ = false;
  bool finished_ = false;
};

bool blankLine(const std::string& s) { return s.find_first_not_of(" \t\r") == std::string::npos; }

class NdjsonReader final : public ReaderBase {
 public:
  NdjsonReader(Input& input, RejectSink rejects) : ReaderBase(input, std::move(rejects)) {}

  bool next(InputRow& row) override {
    while (input_.readLine(line_)) {
      if (blankLine(line_)) continue;
      row = rowAtLine();
      // Kept as written (RawJson): nlohmann::json would change the digits of numbers.
      std::string error;
      auto value = RawJson::parse(line_, &error);
      if (!value || !value->isObject()) {
        reject(row.line, nlohmann::json(line_),
               value ? "the line is not a JSON object" : "the line is not valid JSON (" + error + ")");
        continue;
      }
      row.raw = std::move(*value);
      row.text = oneLine(row.raw.text());
      return true;
    }
    return false;
  }
};

class JsonArrayReader final : public ReaderBase {
 public:
  JsonArrayReader(Input& input, RejectSink rejects) : ReaderBase(input, std::move(rejects)) {}

  bool next(InputRow& row) override {
    if (!parsed_) load();
    while (position_ < elements_.size()) {
      const auto [offset, size] = elements_[position_++];
      const std::string_view text = std::string_view(document_.text()).substr(offset, size);
      row = InputRow{};
      row.line = position_;  // element number, 1-based
      row.endOffset = *size_ * position_ / elements_.size();
      if (text.find_first_not_of(" \t\r\n") == std::string_view::npos ||
          text[text.find_first_not_of(" \t\r\n")] != '{') {
        nlohmann::json shown = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (shown.is_discarded()) shown = std::string(text.substr(0, 200));  // e.g. 1e400
        reject(row.line, std::move(shown), "the element is not a JSON object");
        continue;
      }
      row.raw = RawJson(text);  // part of a valid document
      row.text = oneLine(row.raw.text());
      return true;
    }
    document_ = RawJson();
    elements_.clear();
    return false;
  }
  std::uint64_t bytesRead() const override { return parsed_ ? *size_ : 0; }
  std::optional<std::uint64_t> totalBytes() const override { return size_; }

 private:
  void load() {
    parsed_ = true;
    std::string text((std::istreambuf_iterator<char>(input_.stream())), std::istreambuf_iterator<char>());
    size_ = text.size();
    // Kept as written (RawJson): nlohmann::json would change the digits of numbers.
    std::string error;
    auto document = RawJson::parse(text, &error);
    if (!document) throw InputError("the input is not valid JSON: " + error);
    if (document->text().front() != '[') {
      throw InputError("the JSON input is not an array (use --format ndjson for one object per line)");
    }
    document_ = std::move(*document);
    // The top-level elements of the array (each element's text may have whitespace around it).
    const std::string& t = document_.text();
    int depth = 0;
    std::size_t start = 1;
    auto element = [&](std::size_t end) {
      if (t.find_first_not_of(" \t\r\n", start) < end) elements_.emplace_back(start, end - start);
      start = end + 1;
    };
    for (std::size_t i = 0; i < t.size(); ++i) {
      const char c = t[i];
      if (c == '"') {
        for (++i; t[i] != '"'; ++i) {
          if (t[i] == '\\') ++i;
        }
      } else if (c == '[' || c == '{') {
        ++depth;
      } else if (c == ']' || c == '}') {
        if (--depth == 0) element(i);
      } else if (c == ',' && depth == 1) {
        element(i);
      }
    }
  }

  RawJson document_;
  std::vector<std::pair<std::size_t, std::size_t>> elements_;  // offset and size in document_.text()
  std::size_t position_ = 0;
  std::optional<std::uint64_t> size_ = 0;
  bool parsed_ = false;
};

class KeyReader final : public ReaderBase {
 public:
  KeyReader(Input& input, RejectSink rejects, bool trim) : ReaderBase(input, std::move(rejects)), trim_(trim) {}

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
        key = first == std::string_view::npos ? std::string_view()
                                              : key.substr(first, key.find_last_not_of(" \t") - first + 1);
      }
      if (key.empty()) continue;
      row = rowAtLine();
      row.value = std::string(key);
      if (finishRow(row, nlohmann::json(line_))) return true;
    }
    return false;
  }

 private:
  bool trim_;
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
