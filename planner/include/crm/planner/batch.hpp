// Sizing a whole prospects list: one plan per CSV row, streamed (`crmctl plan --batch`).
#pragma once

#include <cstddef>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "crm/planner/catalog.hpp"
#include "crm/planner/report.hpp"

namespace crm::planner {

struct BatchOptions {
  OutputFormat format = OutputFormat::kCsv;  // kCsv or kJson (JSON lines, one plan per line)
  bool strict = false;                       // stop at the first bad row
  bool progress = false;               // draw a progress bar on `err` (the caller decides: TTY)
  long long total_bytes = 0;           // size of the input for the bar; 0 = unknown
  std::vector<std::string> providers;  // PlanOptions::providers for every row
  std::vector<std::string> prefer;     // PlanOptions::prefer for every row
  /// Planning threads: 0 = one per hardware thread; 1 = every row on the calling thread, no
  /// threads started. The output is the same for any count.
  unsigned jobs = 0;
  /// Rows handed to a planning thread at a time (at least 1); tests make chunks small.
  std::size_t chunk_rows = 4096;
};

struct BatchResult {
  long long rows = 0;     // data records read (the header excluded)
  long long planned = 0;  // rows written to `out`
  long long bad = 0;      // rows reported on `err`
};

/// Plans every row of a prospects CSV read from `in`: a header row of workload keys (see
/// WorkloadKeys()) plus an optional `name` column, then one row per prospect. An empty cell
/// takes the key's default. Writes the plans to `out` (kCsv: the AppendPlanCsvHeader header, then
/// one row per plan; kJson: one PlanToJson document per line, with the growth projection, bytes
/// that are not UTF-8 replaced by U+FFFD) and reports each bad row on `err` as
/// "file:line: field: reason" (the row's line in the file), then goes on with the next row.
/// `file` names the input in messages.
///
/// Throws InputError for a bad header (unknown, unnamed or duplicate column, no `customers`
/// column) or an empty input, and with `options.strict` at the first bad row (plans before it
/// have been written). Throws RuntimeError if `in` fails to read. Memory stays flat in rows:
/// rows are read on the calling thread and planned in chunks on `options.jobs` threads, at most
/// two chunks per thread in flight, and written in input order.
BatchResult RunBatch(std::istream& in, const std::string& file, const Catalog& catalog,
                     const BatchOptions& options, std::ostream& out, std::ostream& err);

}  // namespace crm::planner
