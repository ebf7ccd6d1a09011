// SPDX-License-Identifier: MIT
// The out-of-line parts of RowWriter (include/pgrestify/detail/row_writer.hpp).
#include <pgrestify/detail/row_writer.hpp>

#include "row_text.hpp"

#include <pgrestify/detail/encode.hpp>

namespace pgrestify::detail {

void RowWriter::json(const nlohmann::json& row) {
  fromJson_ = true;
  invalid_ = serializeRow(row, *out_);
  if (!invalid_.empty()) return;
  for (auto it = row.begin(); it != row.end(); ++it) {
    signature_ += it.key();
    signature_.push_back('\0');
  }
  keyFromJson_ = keyOf(row, keyColumns_);
}

void RowWriter::raw(const RawJson& row) {
  fromJson_ = true;
  keyFromJson_.clear();
  if (!row.isObject()) {
    invalid_ = "a row must be a JSON object";
    return;
  }
  const auto& members = row.members();
  for (std::size_t i = 0; i < members.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (members[j].name == members[i].name) {
        invalid_ = "the row names column '" + members[i].name.substr(0, 200) + "' more than once";
        return;
      }
    }
    signature_ += members[i].name;
    signature_.push_back('\0');
  }
  out_->assign(row.text());
  // The key as keyOf() makes it: each column's scalar text after the separator; empty when a key
  // column is absent or null.
  for (const auto& column : keyColumns_) {
    auto it = std::find_if(members.begin(), members.end(), [&](const RawJson::Member& m) { return m.name == column; });
    if (it == members.end() || row.valueText(*it) == "null") {
      keyFromJson_.clear();
      return;
    }
    keyFromJson_.push_back(kKeySeparator);
    keyFromJson_ += RawJson::scalarText(row.valueText(*it));
  }
}

void RowWriter::again(std::string_view text, std::string_view signature, std::string_view key) {
  fromJson_ = true;
  out_->assign(text);
  signature_.assign(signature);
  keyFromJson_.assign(key);
}

std::string RowWriter::key() const {
  if (fromJson_) return keyFromJson_;
  // Every part starts with the separator, so a present key is never empty, not even for ''.
  std::string key;
  for (std::size_t i = 0; i < keyColumns_.size(); ++i) {
    if (!keySeen_[i]) return {};
    key.push_back(kKeySeparator);
    key += keyParts_[i];
  }
  return key;
}

void RowWriter::writeNumber(double v) {
  if (!std::isfinite(v)) {
    invalid_ = kNonFiniteMessage;
    return;
  }
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf - 2, v);  // shortest text that reads back as v
  // Like nlohmann: a double always looks like one (1.0, not 1).
  if (std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)).find_first_of(".e") == std::string_view::npos) {
    *r.ptr++ = '.';
    *r.ptr++ = '0';
  }
  const std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
  out_->append(text);
  if (keyed_) keyPart(text);
}

void RowWriter::writeEscaped(std::string_view s) {
  try {
    out_->append(nlohmann::json(std::string(s)).dump());
  } catch (const nlohmann::json::type_error&) {
    invalid_ = kBadUtf8Message;
  }
}

void RowWriter::writeOther(const nlohmann::json& value) {
  if (auto e = checkValues(value); !e.empty()) {
    invalid_ = std::move(e);
    return;
  }
  try {
    out_->append(value.dump());
  } catch (const nlohmann::json::type_error&) {
    invalid_ = kBadUtf8Message;
    return;
  }
  if (keyed_ && !value.is_null()) keyPart(scalarText(value));
}

}  // namespace pgrestify::detail
