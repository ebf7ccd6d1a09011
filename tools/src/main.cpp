// SPDX-License-Identifier: MIT
// pgrestify: command-line importer for PostgREST (docs/cli.md).
#include "import.hpp"

#include <pgrestify/version.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

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
  cmd.add_option("--concurrency", o.concurrency, "Requests in flight at once")
      ->check(CLI::Range(std::size_t{1}, std::size_t{256}))
      ->capture_default_str();
  cmd.add_option("--token", o.token, "JWT sent as 'Authorization: Bearer <token>' (or set PGRESTIFY_TOKEN)")
      ->envname("PGRESTIFY_TOKEN");
  cmd.add_option("--header", o.headers, "Extra request header 'Name: value' (repeatable)")->allow_extra_args(false);
  cmd.add_option("--schema", o.schema, "Schema to write to (Content-Profile); default: PostgREST's first schema");
  cmd.add_option("--reject-file", o.rejectFile,
                 "Write failed rows here as NDJSON (line, row, server error); default: standard error");
  cmd.add_flag("--quiet,-q", o.quiet, "No progress display and no notes (the summary line and errors remain)");
  cmd.add_option("--progress-interval", o.progressSeconds,
                 "Seconds between plain progress lines when standard error is not a terminal")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pgrestify " PGRESTIFY_VERSION_STRING
               ": stream CSV/NDJSON/JSON files into PostgREST tables, or delete rows by key.\n"
               "Exit status: 0 all rows written or skipped, 1 some rows failed (see the reject file),\n"
               "2 invalid command line, 3 input could not be read to its end, 4 nothing sent (setup error),\n"
               "130 interrupted. See docs/cli.md.",
               "pgrestify"};
  app.require_subcommand(1);
  app.set_version_flag("--version", PGRESTIFY_VERSION_STRING);

  ImportOptions imp;
  auto* import = app.add_subcommand("import", "Insert (or upsert) the rows of a CSV, NDJSON or JSON file");
  addCommon(*import, imp.common, "Input file; '-' reads standard input");
  import->add_option("--format", imp.format, "Input format (default: from the extension: .ndjson/.jsonl, .json, else csv)")
      ->check(CLI::IsMember({"csv", "ndjson", "json"}));
  std::string onConflict = "error";
  import->add_option("--on-conflict", onConflict,
                     "A row whose conflict columns match an existing row: error (reject it), ignore (skip it, "
                     "counted as skipped), update (upsert: overwrite the existing row)")
      ->check(CLI::IsMember({"error", "ignore", "update"}))
      ->capture_default_str();
  import->add_option("--conflict-columns", imp.conflictColumns,
                     "Unique column(s) that define a conflict, comma-separated (default: the primary key)")
      ->delimiter(',')
      ->allow_extra_args(false);
  import->add_option("--null-string", imp.nullString,
                     "CSV: an unquoted field equal to this is NULL, as COPY's NULL option (default: the unquoted "
                     "empty field; a quoted field is always a string)");
  import->add_flag("--empty-as-null", imp.emptyIsNull, "CSV: every empty field is NULL, quoted (\"\") or not");
  import->add_option("--json-columns", imp.jsonColumns,
                     "CSV: columns whose fields are JSON values, comma-separated (json/jsonb columns are found "
                     "from PostgREST's description of the table)")
      ->delimiter(',')
      ->allow_extra_args(false);

  DeleteOptions del;
  auto* remove = app.add_subcommand("delete", "Delete rows whose key column holds one of the keys of a file");
  addCommon(*remove, del.common, "Key file, one key per line; '-' reads standard input");
  remove->add_option("--column", del.column, "Key column to match")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  imp.onConflict = onConflict == "ignore"   ? OnConflict::Ignore
                   : onConflict == "update" ? OnConflict::Update
                                            : OnConflict::Error;
  try {
    if (*import) return runImport(imp);
    return runDelete(del);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "pgrestify: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgrestify: %s\n", e.what());
    return kExitSetup;
  }
}
