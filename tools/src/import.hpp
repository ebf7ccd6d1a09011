// SPDX-License-Identifier: MIT
// `pgrestify import` and `pgrestify delete`: stream an input file through the bulk engine and
// account for every input row (written, skipped, or in the reject file).
#pragma once

#include "update.hpp"

#include <pgrestify/client.hpp>
#include <pgrestify/options.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace pgrestify::cli {

/// Exit statuses of the tool (docs/cli.md, "Exit status").
enum ExitCode : int {
  kExitOk = 0,            ///< every input row was written or skipped
  kExitRowsFailed = 1,    ///< some rows failed; they are in the reject file
  kExitUsage = 2,         ///< invalid command line; nothing was sent
  kExitInput = 3,         ///< the input could not be read to its end (rows before the problem were processed)
  kExitSetup = 4,         ///< setup error, NOTHING was sent (never used once a write request was started)
  kExitReportFailed = 5,  ///< rows were sent, but the report is incomplete (reject records or summary not written)
  kExitStateRefused =
      6,  ///< --resume: the state file is not valid or belongs to another input, options or shard; nothing sent
  kExitInterrupted = 130,  ///< interrupted (SIGINT/SIGTERM); the summary and reject file cover every row
};

/// The standard streams that were closed when the tool started (they are reopened on /dev/null
/// so that no file the tool opens can take their descriptor).
struct StandardStreams {
  bool inClosed = false;
  bool outClosed = false;
  bool errClosed = false;
};

/// Reopens closed descriptors 0, 1 and 2 on /dev/null and ignores SIGPIPE (write errors are
/// reported instead). Call first thing in main().
StandardStreams guardStandardStreams();

/// @p message without a leading "pgrestify: " (the tool adds its own prefix) and with the
/// library's option names replaced by the tool's flags (conflictColumns -> --conflict-columns).
std::string cliMessage(std::string message);

struct CommonOptions {
  std::string url;
  std::string table;
  std::string file;
  std::string schema;
  std::string token;
  std::string tokenCommand;          ///< --token-command: run by /bin/sh for the token, again after 401 PGRST301
  std::vector<std::string> headers;  ///< "Name: value"
  std::size_t batchSize = kDefaultBatchSize;
  /// --concurrency: requests in flight, fixed; unset = adaptive (from 4 up to the client's 32 connections).
  std::optional<std::size_t> concurrency;
  std::string rejectFile;  ///< empty = standard error
  bool quiet = false;
  int progressSeconds = 3;            ///< plain progress line interval when not on a terminal
  std::optional<int> retries;         ///< --retries: times a failed request is sent again (attempts - 1)
  std::optional<double> retryBudget;  ///< --retry-budget: seconds to keep retrying never-executed requests
  std::optional<double> timeout;      ///< --timeout: seconds per request
  StandardStreams streams;            ///< filled by main() from guardStandardStreams()
  bool dryRun = false;                ///< --dry-run: every request with Prefer: tx=rollback, nothing committed
  int maxErrors = 0;                 ///< --max-errors: stop starting batches after this many failed rows (0 = no limit)
  std::string resumeState;           ///< --resume: the state file of a resumable run (empty = not resumable)
  std::optional<std::string> shard;  ///< --shard K/N: only the records r with r % N == K - 1 (none = all)
};

struct ImportOptions {
  CommonOptions common;
  std::string format;  ///< csv, ndjson, json; empty = from the file extension (csv by default)
  OnConflict onConflict = OnConflict::Error;
  std::vector<std::string> conflictColumns;
  std::string nullString;
  bool emptyIsNull = false;              ///< CSV: every empty field is NULL, quoted or not
  std::vector<std::string> jsonColumns;  ///< CSV: columns whose fields are JSON (besides json/jsonb ones)
  std::optional<UpdateSettings> update;  ///< `pgrestify update`: bulkUpdate the rows instead of inserting them
};

struct DeleteOptions {
  CommonOptions common;
  std::string column = "id";
  bool trimKeys = false;  ///< --trim-keys: strip spaces and tabs around each key
};

int runImport(const ImportOptions& options);
int runDelete(const DeleteOptions& options);

/// The client for @p common (URL, token, schema, headers, timeout) over @p transport (empty = the
/// library's default). Throws std::invalid_argument for a malformed --header (exit status 2) and
/// std::runtime_error for a header the tool refuses (Prefer...: exit status 4). Messages never
/// quote a header's text.
Client makeClient(const CommonOptions& common, std::shared_ptr<Transport> transport = {});

}  // namespace pgrestify::cli
