// SPDX-License-Identifier: MIT
// `pgrestify import` and `pgrestify delete`: stream an input file through the bulk engine and
// account for every input row (written, skipped, or in the reject file).
#pragma once

#include <pgrestify/client.hpp>
#include <pgrestify/options.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace pgrestify::cli {

/// Exit statuses of the tool (docs/cli.md).
enum ExitCode : int {
  kExitOk = 0,           ///< every input row was written or skipped
  kExitRowsFailed = 1,   ///< some rows failed; they are in the reject file
  kExitUsage = 2,        ///< invalid command line
  kExitInput = 3,        ///< the input could not be read to its end (rows before the problem were processed)
  kExitSetup = 4,        ///< nothing was sent: the reject file cannot be written, or the request is invalid
  kExitInterrupted = 130,///< interrupted (SIGINT/SIGTERM): in-flight batches finished, the rest not sent
};

struct CommonOptions {
  std::string url;
  std::string table;
  std::string file;
  std::string schema;
  std::string token;
  std::vector<std::string> headers;  ///< "Name: value"
  std::size_t batchSize = kDefaultBatchSize;
  std::size_t concurrency = kDefaultConcurrency;
  std::string rejectFile;            ///< empty = standard error
  bool quiet = false;
  int progressSeconds = 3;           ///< plain progress line interval when not on a terminal
};

struct ImportOptions {
  CommonOptions common;
  std::string format;  ///< csv, ndjson, json; empty = from the file extension (csv by default)
  OnConflict onConflict = OnConflict::Error;
  std::vector<std::string> conflictColumns;
  std::string nullString;
  bool emptyIsNull = false;              ///< CSV: every empty field is NULL, quoted or not
  std::vector<std::string> jsonColumns;  ///< CSV: columns whose fields are JSON (besides json/jsonb ones)
};

struct DeleteOptions {
  CommonOptions common;
  std::string column = "id";
};

int runImport(const ImportOptions& options);
int runDelete(const DeleteOptions& options);

/// The client for @p common (URL, token, schema, headers). Throws std::invalid_argument.
Client makeClient(const CommonOptions& common);

}  // namespace pgrestify::cli
