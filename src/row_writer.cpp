// SPDX-License-Identifier: MIT
// The out-of-line parts of RowWriter (include/pgrestify/detail/row_writer.hpp).
#include <pgrestify/detail/row_writer.hpp>

#include "ops_common.hpp"

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
