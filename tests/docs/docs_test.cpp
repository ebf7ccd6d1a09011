// SPDX-License-Identifier: MIT
// Every C++ code block of the documentation is part of a compiled, tested example program.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = PGRESTIFY_SOURCE_DIR;

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Block {
  fs::path doc;
  int line = 0;
  std::string example;  // from the marker, empty when missing
  std::string code;
};

std::vector<Block> cppBlocks(const fs::path& doc) {
  std::vector<Block> blocks;
  std::ifstream in(doc);
  std::string line, previous;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("```cpp", 0) == 0) {
      Block b;
      b.doc = doc;
      b.line = number;
      const std::string marker = "<!-- example: ";
      if (previous.rfind(marker, 0) == 0) {
        auto end = previous.find(" -->");
        b.example = previous.substr(marker.size(), end == std::string::npos ? std::string::npos : end - marker.size());
      }
      while (std::getline(in, line)) {
        ++number;
        if (line.rfind("```", 0) == 0) break;
        b.code += line + "\n";
      }
      blocks.push_back(std::move(b));
    }
    if (!line.empty()) previous = line;
  }
  return blocks;
}

std::vector<fs::path> documents() {
  std::vector<fs::path> docs{kRoot / "README.md"};
  for (const auto& entry : fs::directory_iterator(kRoot / "docs")) {
    if (entry.path().extension() == ".md") docs.push_back(entry.path());
  }
  return docs;
}

// Lines trimmed on the right so editors' trailing spaces do not matter.
std::string normalize(const std::string& text) {
  std::stringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    out += line + "\n";
  }
  return out;
}

TEST(Docs, EveryCppBlockIsPartOfAnExampleProgram) {
  int checked = 0;
  for (const auto& doc : documents()) {
    for (const auto& block : cppBlocks(doc)) {
      SCOPED_TRACE(doc.filename().string() + ":" + std::to_string(block.line));
      ASSERT_FALSE(block.example.empty())
          << "a ```cpp block needs a preceding <!-- example: examples/NAME.cpp --> line";
      fs::path example = kRoot / block.example;
      ASSERT_TRUE(fs::exists(example)) << block.example << " does not exist";
      EXPECT_NE(normalize(readFile(example)).find(normalize(block.code)), std::string::npos)
          << "the block is not verbatim in " << block.example << ":\n"
          << block.code;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
