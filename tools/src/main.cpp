// SPDX-License-Identifier: MIT
// pgrestify: command-line importer for PostgREST (docs/cli.md).
#include "import.hpp"
#include "update.hpp"

#include <pgrestify/version.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <limits>

namespace {

using namespace pgrestify;
using namespace pgrestify::cli;

void addCommon(CLI::App& cmd, CommonOptions& o, const char* fileHelp) {
  cmd.add_option("--url", o.url, "PostgREST base URL, e.g. http://localhost:3000")->required();
  cmd.add_option("--table", o.table, "Table (or view) to write to")->required();
  cmd.add_option("--file", o.file, fileHelp)->required();
  cmd.add_option("--batch-size", o.batchSize, "Rows per request")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
      ->capture_default_str();
  cmd.add_option("--concurrency", o.concurrency,
                 "Requests in flight at once, fixed (default: adaptive, from 4 up to 32 as the server allows)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{256}));
  cmd.add_option("--token", o.token, "JWT sent as 'Authorization: Bearer <token>' (or set PGRESTIFY_TOKEN)")
      ->envname("PGRESTIFY_TOKEN");
  cmd.add_option("--token-command", o.tokenCommand,
                 "Shell command that prints the JWT (instead of --token); run again shortly before the JWT's exp "
                 "and when PostgREST answers 401 PGRST301 (expired), and the refused request is sent once more");
  cmd.add_option("--header", o.headers, "Extra request header 'Name: value' (repeatable)")->allow_extra_args(false);
  cmd.add_option("--schema", o.schema, "Schema to write to (Content-Profile); default: PostgREST's first schema");
  cmd.add_option("--reject-file", o.rejectFile,
                 "Write failed rows here as NDJSON (line, row, server error); default: standard error");
  cmd.add_flag("--quiet,-q", o.quiet, "No progress display and no notes (the summary line and errors remain)");
  cmd.add_option("--progress-interval", o.progressSeconds,
                 "Seconds between plain progress lines when standard error is not a terminal")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd.add_option("--retries", o.retries,
                 "Times a failed request is sent again when that is safe (0 = never; default 4, i.e. 5 attempts)")
      ->check(CLI::Range(0, 100));
  cmd.add_option("--retry-budget", o.retryBudget,
                 "Seconds to keep retrying requests that were never executed (connection refused, 503...), "
                 "so that a server restart is ridden out")
      ->check(CLI::Range(0.0, 86400.0));
  cmd.add_option("--timeout", o.timeout, "Seconds to wait for the answer to one request (default 60)")
      ->check(CLI::Range(0.1, 86400.0));
  cmd.add_flag("--dry-run", o.dryRun,
               "Send every batch with 'Prefer: tx=rollback': report which rows would fail, commit nothing "
               "(needs PostgREST's db-tx-end = \"commit-allow-override\"; refused before any row otherwise)");
  cmd.add_option("--max-errors", o.maxErrors,
                 "Once this many rows have failed, start no new batch; the rest is not processed (0 = no limit)")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));
}

/// `pgrestify import`; @p onConflict receives the --on-conflict word.
CLI::App* addImport(CLI::App& app, ImportOptions& imp, std::string& onConflict) {
  auto* import = app.add_subcommand("import", "Insert (or upsert) the rows of a CSV, NDJSON or JSON file");
  addCommon(*import, imp.common, "Input file; '-' reads standard input");
  import
      ->add_option("--format", imp.format,
                   "Input format (default: from the extension: .ndjson/.jsonl, .json, else csv)")
      ->check(CLI::IsMember({"csv", "ndjson", "json"}));
  import
      ->add_option("--on-conflict", onConflict,
                   "A row whose conflict columns match an existing row: error (reject it), ignore (skip it, "
                   "counted as skipped), update (upsert: overwrite the existing row)")
      ->check(CLI::IsMember({"error", "ignore", "update"}))
      ->capture_default_str();
  import
      ->add_option("--conflict-columns", imp.conflictColumns,
                   "Unique column(s) that define a conflict, comma-separated (default: the primary key)")
      ->delimiter(',')
      ->allow_extra_args(false);
  import->add_option("--null-string", imp.nullString,
                     "CSV: an unquoted field equal to this is NULL, as COPY's NULL option (default: the unquoted "
                     "empty field; a quoted field is always a string)");
  import->add_flag("--empty-as-null", imp.emptyIsNull, "CSV: every empty field is NULL, quoted (\"\") or not");
  import
      ->add_option("--json-columns", imp.jsonColumns,
                   "CSV: columns whose fields are JSON values, comma-separated (json/jsonb columns are found "
                   "from PostgREST's description of the table)")
      ->delimiter(',')
      ->allow_extra_args(false);
  import->add_option("--resume", imp.common.resumeState,
                     "State file of a resumable import: created by the first run, kept up to date; run the same "
                     "command again after a crash or kill to continue where it stopped (see docs/cli.md)");
  import->add_option("--shard", imp.common.shard,
                     "K/N: import only the input records r (0-based) with r % N == K-1, so that N processes "
                     "(on N machines) share one file without coordination");
  return import;
}

/// `pgrestify delete`.
void addDelete(CLI::App& app, DeleteOptions& del) {
  auto* remove = app.add_subcommand("delete", "Delete rows whose key column holds one of the keys of a file");
  addCommon(*remove, del.common, "Key file, one key per line; '-' reads standard input");
  remove->add_option("--column", del.column, "Key column to match")->capture_default_str();
  remove->add_flag("--trim-keys", del.trimKeys,
                   "Strip spaces and tabs around each key (by default a key is matched exactly as written)");
}

// `pgrestify update`: the import's options that apply, plus the key and the strategy.
void addUpdateCommand(CLI::App& cmd, ImportOptions& o, std::string& strategy) {
  o.update.emplace();
  addCommon(cmd, o.common, "Input file of rows (key column(s) and new values); '-' reads standard input");
  cmd.add_option("--format", o.format, "Input format (default: from the extension: .ndjson/.jsonl, .json, else csv)")
      ->check(CLI::IsMember({"csv", "ndjson", "json"}));
  cmd.add_option("--key", o.update->key, "Column(s) identifying the row to update, comma-separated")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->capture_default_str();
  cmd.add_option("--strategy", strategy,
                 "auto (the pgrestify_bulk_update function when PostgREST exposes it, else PATCH), function, "
                 "patch (one PATCH per row), upsert")
      ->check(CLI::IsMember({"auto", "function", "patch", "upsert"}))
      ->capture_default_str();
  cmd.add_option("--null-string", o.nullString, "CSV: an unquoted field equal to this is NULL");
  cmd.add_flag("--empty-as-null", o.emptyIsNull, "CSV: every empty field is NULL, quoted (\"\") or not");
}

}  // namespace

int main(int argc, char** argv) {
  const StandardStreams streams = guardStandardStreams();  // before anything opens a file
  CLI::App app{"pgrestify " PGRESTIFY_VERSION_STRING
               ": stream CSV/NDJSON/JSON files into PostgREST tables, update rows by key, or delete rows by key.\n"
               "Exit status: 0 all rows written or skipped, 1 some rows failed (see the reject file),\n"
               "2 invalid command line (nothing sent), 3 input could not be read to its end,\n"
               "4 setup error (nothing sent), 5 rows were sent but the report is incomplete (reject records\n"
               "or summary could not be written), 6 the --resume state file was refused (nothing sent),\n"
               "130 interrupted. See docs/cli.md.",
               "pgrestify"};
  app.require_subcommand(1);
  app.set_version_flag("--version", PGRESTIFY_VERSION_STRING);

  ImportOptions imp;
  std::string onConflict = "error";
  auto* import = addImport(app, imp, onConflict);
  DeleteOptions del;
  addDelete(app, del);
  ImportOptions upd;
  std::string strategy = "auto";
  auto* update =
      app.add_subcommand("update", "Update existing rows, each with its own values, from an NDJSON, JSON or CSV file");
  addUpdateCommand(*update, upd, strategy);
  std::string sqlSchema = "api";
  auto* sql = app.add_subcommand("sql", "Print the SQL of the pgrestify_bulk_update function (for `update`)");
  sql->add_option("--schema", sqlSchema, "Schema to create the function in (the schema PostgREST exposes)")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  imp.common.streams = streams;
  del.common.streams = streams;
  imp.onConflict = onConflict == "ignore"   ? OnConflict::Ignore
                   : onConflict == "update" ? OnConflict::Update
                                            : OnConflict::Error;
  upd.common.streams = streams;
  try {
    if (*sql) return runSql(sqlSchema);
    if (*update) {
      upd.update->strategy = updateStrategy(strategy);
      return runImport(upd);
    }
    if (*import) return runImport(imp);
    return runDelete(del);
  } catch (const std::exception& e) {  // not expected: run() reports what it knows and returns its status
    std::fprintf(stderr, "pgrestify: internal error: %s\n", cliMessage(e.what()).c_str());
    return kExitReportFailed;
  }
}
