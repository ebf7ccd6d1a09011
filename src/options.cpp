// SPDX-License-Identifier: MIT
// The bulk options of one call, resolved against the client's defaults and checked: the only
// place where options are validated (once per call, before any request; docs/api.md, "Options").
// Not here: what depends on more than the options (UpdateStrategy::Function's `select`, which
// may be the query builder's, checked by the update operation; a dry run's server check).
#include "client_state.hpp"
#include "ops_common.hpp"

#include <pgrestify/bulk_writer.hpp>
#include <pgrestify/detail/bulk_ops.hpp>
#include <pgrestify/detail/encode.hpp>
#include <pgrestify/options.hpp>

#include <optional>
#include <stdexcept>
#include <string>

namespace pgrestify::detail {

namespace {

/// The call's value if set, else the client's default, else the library's.
template <class V>
V pick(const std::optional<V>& call, const std::optional<V>& client, V library) {
  if (call) return *call;
  if (client) return *client;
  return library;
}

/// The call's retry fields if set, else the client default's, else RetryPolicy's.
RetryPolicy resolve(const RetryOptions& call, const RetryOptions& client) {
  RetryPolicy p;
  auto field = [](auto& out, const auto& mine, const auto& fallback) {
    if (mine) {
      out = *mine;
    } else if (fallback) {
      out = *fallback;
    }
  };
  field(p.maxAttempts, call.maxAttempts, client.maxAttempts);
  field(p.initialBackoff, call.initialBackoff, client.initialBackoff);
  field(p.maxBackoff, call.maxBackoff, client.maxBackoff);
  field(p.multiplier, call.multiplier, client.multiplier);
  field(p.maxRetryAfter, call.maxRetryAfter, client.maxRetryAfter);
  field(p.retryUnknownOutcome, call.retryUnknownOutcome, client.retryUnknownOutcome);
  field(p.retryBudget, call.retryBudget, client.retryBudget);
  field(p.conflictBudget, call.conflictBudget, client.conflictBudget);
  return p;
}

void positive(std::size_t value, const char* name) {
  if (value == 0) throw std::invalid_argument(std::string("pgrestify: ") + name + " must be greater than 0");
}

void check(const RetryPolicy& r) {
  if (r.maxAttempts < 1) throw std::invalid_argument("pgrestify: retry.maxAttempts must be at least 1");
  if (!(r.multiplier >= 1.0)) throw std::invalid_argument("pgrestify: retry.multiplier must be at least 1");
  if (r.initialBackoff.count() < 0 || r.maxBackoff.count() < 0 || r.maxRetryAfter.count() < 0 ||
      r.retryBudget.count() < 0 || r.conflictBudget.count() < 0) {
    throw std::invalid_argument("pgrestify: retry delays must not be negative");
  }
}

/// The shared fields (every options struct has them; resolved() adds the others). `dryRun` and
/// `validate` go to the call's RowChecks (rowChecks); a dry run's one condition, a server that
/// honours tx=rollback, is asked of the server (src/ops_common.cpp), still before any row is sent.
template <class Options>
CallSettings common(const Options& o, const BulkDefaults& d) {
  CallSettings s;
  EngineSettings& e = s.engine;
  e.batchSize = pick(o.batchSize, d.batchSize, kDefaultBatchSize);
  e.concurrency = pick(o.concurrency, d.concurrency, kDefaultConcurrency);
  e.concurrencySet = o.concurrency.has_value() || d.concurrency.has_value();
  e.isolateFailures = pick(o.isolateFailures, d.isolateFailures, true);
  e.stopOnError = o.stopOnError;
  e.retry = resolve(o.retry, d.retry);
  e.onProgress = o.onProgress;
  e.onBatchComplete = o.onBatchComplete;
  e.stopToken = o.stopToken;
  e.deadline = o.deadline;
  e.requestTimeout = o.timeout;  // unset: ClientOptions::timeout, the transport's
  e.maxFailures = o.maxFailures;
  positive(e.batchSize, "batchSize");
  positive(e.concurrency, "concurrency");
  check(e.retry);
  if (o.timeout && o.timeout->count() < 0) throw std::invalid_argument("pgrestify: timeout must not be negative");
  return s;
}

/// Every field of @p o: the shared ones (common), then those only some structs have: the body
/// cap (not bulkDelete's), the URL cap (bulkUpdate, bulkDelete), the conflict columns
/// (bulkInsert, bulkUpsert) or the match columns (bulkUpdate, bulkDelete).
template <class Options>
CallSettings resolved(const Options& o, const BulkDefaults& d) {
  CallSettings s = common(o, d);
  if constexpr (requires { o.maxUrlBytes; }) {
    s.maxUrlBytes = pick(o.maxUrlBytes, d.maxUrlBytes, kDefaultMaxUrlBytes);
    positive(s.maxUrlBytes, "maxUrlBytes");
  }
  if constexpr (requires { o.maxBatchBytes; }) {
    s.maxBatchBytes = pick(o.maxBatchBytes, d.maxBatchBytes, kDefaultMaxBatchBytes);
    positive(s.maxBatchBytes, "maxBatchBytes");
  }
  if constexpr (requires { o.conflictColumns; }) {
    for (const auto& c : o.conflictColumns) checkIdentifier(c, "conflict column");
  }
  if constexpr (requires { o.matchColumn; }) checkMatchColumns(o.matchColumn.names());
  return s;
}

}  // namespace

const BulkDefaults& bulkDefaults(const ClientState& client) { return client.options().bulkDefaults; }

void validate(const BulkDefaults& d) {
  if (d.batchSize) positive(*d.batchSize, "ClientOptions::bulkDefaults.batchSize");
  if (d.maxBatchBytes) positive(*d.maxBatchBytes, "ClientOptions::bulkDefaults.maxBatchBytes");
  if (d.maxUrlBytes) positive(*d.maxUrlBytes, "ClientOptions::bulkDefaults.maxUrlBytes");
  if (d.concurrency) positive(*d.concurrency, "ClientOptions::bulkDefaults.concurrency");
  check(resolve(d.retry, {}));
}

CallSettings validate(const BulkInsertOptions& o, const BulkDefaults& d) { return resolved(o, d); }
CallSettings validate(const BulkUpsertOptions& o, const BulkDefaults& d) { return resolved(o, d); }
CallSettings validate(const BulkUpdateOptions& o, const BulkDefaults& d) { return resolved(o, d); }
CallSettings validate(const BulkDeleteOptions& o, const BulkDefaults& d) { return resolved(o, d); }

CallSettings validate(const BulkWriterOptions& o, const BulkDefaults& d) {
  positive(o.maxBatchRows, "maxBatchRows");
  positive(o.maxBatchBytes, "maxBatchBytes");
  if (o.maxInFlight && (*o.maxInFlight == 0 || *o.maxInFlight > 64)) {
    throw std::invalid_argument("pgrestify: maxInFlight must be between 1 and 64");
  }
  if (o.maxBufferedRows < o.maxBatchRows) {
    throw std::invalid_argument("pgrestify: maxBufferedRows must be at least maxBatchRows");
  }
  if (o.maxBufferedBytes < o.maxBatchBytes) {
    throw std::invalid_argument("pgrestify: maxBufferedBytes must be at least maxBatchBytes");
  }
  if (o.linger.count() < 0 || o.blockTimeout.count() < 0 || o.closeTimeout.count() < 0) {
    throw std::invalid_argument("pgrestify: linger, blockTimeout and closeTimeout must not be negative");
  }
  if (o.operation == WriterOperation::Insert && o.onConflict == OnConflict::Update) {
    throw std::invalid_argument("pgrestify: a writer that updates existing rows is WriterOperation::Upsert");
  }
  if (o.timeout && o.timeout->count() < 0) throw std::invalid_argument("pgrestify: timeout must not be negative");
  for (const auto& c : o.conflictColumns) checkIdentifier(c, "conflict column");
  if (o.operation == WriterOperation::Update || o.operation == WriterOperation::Delete) {
    checkMatchColumns(o.matchColumn.names());
  }
  CallSettings s;
  s.engine.batchSize = o.maxBatchRows;
  s.engine.concurrency = 1;  // one request per engine call; maxInFlight calls at once
  s.engine.concurrencySet = true;
  s.engine.retry = resolve(o.retry, d.retry);
  s.engine.requestTimeout = o.timeout;
  check(s.engine.retry);
  s.maxBatchBytes = o.maxBatchBytes;
  return s;
}

}  // namespace pgrestify::detail
