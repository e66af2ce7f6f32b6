// Fits the per-unit memory rules (docs/capacity-model.md, "Rules") to measured telemetry for
// `crmctl calibrate`.
#pragma once

#include <cstddef>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::planner {

/// Telemetry samples: one row per measurement (a host or a slice at one moment).
struct TelemetryTable {
  /// Names of the values in each row, in row order. ReadTelemetryCsv stores the required columns,
  /// in the order devices, ws_connections, pending_tasks, customers, rss_bytes, then the optional
  /// idle_customers when the file has it.
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
  /// 1-based line where each row starts in `file` (0 when the row did not come from a file).
  std::vector<std::size_t> lines;
  /// Name used in error messages.
  std::string file;
};

/// Reads telemetry CSV with a header. Required columns: devices, ws_connections, pending_tasks,
/// customers, rss_bytes (any order; other columns are allowed and ignored); optional:
/// idle_customers (tenants idle at that moment; `customers` then counts the active ones only).
/// Every cell of a required column must be a finite non-negative number; every record must have as
/// many fields as the header. Throws InputError "file:line: column: reason" (empty file, missing or
/// repeated column, bad cell, ragged row). A header with no rows is accepted here; FitRules refuses
/// it.
TelemetryTable ReadTelemetryCsv(std::istream& in, const std::string& file);

/// One fitted per-unit cost.
struct Coefficient {
  /// The rule it calibrates: ram_per_device (of the engine being calibrated), ram_per_websocket,
  /// bytes_per_task, buffer_per_customer, idle_per_customer (of the engine); or "baseline" (fixed
  /// bytes per row, not a rule).
  std::string rule;
  /// The telemetry column it multiplies; empty for the baseline.
  std::string column;
  double value = 0;      // bytes per unit of `column` (bytes for the baseline)
  double std_error = 0;  // standard error of `value`, same unit
  bool held = false;     // not fitted: the value given in HeldRule (std_error 0)
};

/// A rule kept at a known value instead of fitted (`crmctl calibrate --hold RULE`): for a load
/// the deployment does not vary, or a cost the engine does not have (the crmd engine's devices).
struct HeldRule {
  std::string rule;  // ram_per_device, ram_per_websocket, bytes_per_task, buffer_per_customer or
                     // idle_per_customer
  double value = 0;  // bytes per unit
};

/// The result of FitRules.
struct CalibrationFit {
  /// In the order ram_per_device, ram_per_websocket, bytes_per_task, buffer_per_customer,
  /// idle_per_customer (only when the telemetry has idle tenants), baseline.
  std::vector<Coefficient> coefficients;
  double r_squared = 0;  // of rss_bytes, 0..1
  double rmse = 0;       // bytes: sqrt(mean squared residual)
  /// rss_bytes minus the fitted value, one per table row, in table order.
  std::vector<double> residuals;
  std::size_t rows = 0;
  /// 2-norm condition number of the design with every column scaled to unit length.
  double condition_number = 0;
  /// Things the caller should show next to the fit: coefficients indistinguishable from zero,
  /// strongly (but not fatally) correlated columns, a low R².
  std::vector<std::string> warnings;
  /// Rows without any load the baseline was measured on (their mean point anchors the fit; at
  /// least 3 are needed); 0: the baseline is the regression's intercept.
  std::size_t rest_rows = 0;
  /// When ram_per_db_connection was fitted: the mean db_connections of the rows without any
  /// load (the runtime's own connections), if the telemetry has such rows.
  std::optional<double> connections_at_rest;
  /// Then also: the connections an active tenant held beyond those, the median over the loaded
  /// rows (idle tenants counted at kIdleSliceConnections).
  std::optional<double> connections_per_active;
};

/// Least squares (SVD of the column-scaled design) of
///   rss_bytes = a*devices + b*ws_connections + c*pending_tasks + d*customers
///               + e*idle_customers + baseline
/// where the idle term takes part only if the table has idle_customers and it is not 0 in every
/// row. Throws InputError, saying what telemetry to collect, when: a required column is missing
/// from `table`; there are fewer than 2 rows per fitted parameter; a predictor column or rss_bytes
/// is constant (all zero included); the design is ill-conditioned (condition number above
/// kMaxConditionNumber; the message names the columns that move together); or a fitted
/// coefficient, the baseline included, is negative.
/// The rules FitRules fits, in coefficient order (what HeldRule::rule may name).
std::vector<std::string_view> FittedRules();

/// `held`: rules not fitted, their known cost taken off rss_bytes first (their columns may then be
/// constant or collinear); an unknown rule name is InputError.
CalibrationFit FitRules(const TelemetryTable& table, const std::vector<HeldRule>& held = {});

/// Connections a tenant idle past its pools' timeout keeps open: none. Its pools and its
/// dispatcher close theirs after slice_idle_disconnect (a minute, found within half of it, so
/// within calibrate's 90 s --idle-after), and a dispatcher its own slice wakes does not look at
/// its queue while idle (docs/capacity-model.md, "The crmd engine").
inline constexpr double kIdleSliceConnections = 0;

/// A fit with ram_per_db_connection, turned into the rules the plan reads, which count memory per
/// tenant, not per connection: buffer_per_customer gains the connections an active tenant held
/// (CalibrationFit::connections_per_active; `fallback_per_active`, the engine's
/// connections_per_slice, when unknown), idle_per_customer kIdleSliceConnections, and the
/// baseline the connections at rest (none when the telemetry has no instant without load: a
/// warning says so). Standard errors are combined as if independent. Returns `fit` unchanged
/// when it has no ram_per_db_connection; the result has none.
CalibrationFit FoldConnections(const CalibrationFit& fit, double fallback_per_active);

/// Above this the columns are treated as linearly dependent and the fit is refused.
inline constexpr double kMaxConditionNumber = 1e7;

/// The rules override YAML that `crmctl plan --rules FILE` reads (Catalog::ApplyOverride):
///   engines: {<engine>: {ram_per_device: {value: "2.00013 MB", source: "..."}}}
///   ram_per_websocket / bytes_per_task / buffer_per_customer: {value: ..., source: ...}
/// Sizes carry explicit decimal units with 6 significant digits (round-trips within 1e-5).
/// The baseline is not a rule; it is written as a comment. Throws InputError if `engine` is
/// empty or `fit` lacks one of the four required rules. A fitted idle_per_customer is written under
/// the engine (only engines carry it). `engine_buffer`: the engine carries its own
/// buffer_per_customer (Engine::has_buffer_per_customer), so the fit is written under it there;
/// `engine_base`: it carries base_ram, which then takes the fitted baseline.
std::string RulesOverrideYaml(const CalibrationFit& fit, const std::string& engine,
                              const std::string& source_file, bool engine_buffer = false,
                              bool engine_base = false);

}  // namespace crm::planner
