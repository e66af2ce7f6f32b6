#include "crm/planner/calibration.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string_view>
#include <utility>

#include "crm/csv.hpp"
#include "crm/error.hpp"
#include "crm/units.hpp"

namespace crm::planner {
namespace {

/// One predictor of the model: a telemetry column and the rule its coefficient calibrates.
struct Term {
  std::string_view column;
  std::string_view rule;
  std::string_view unit;  // what one unit of the column is, for messages
  std::string_view how_to_vary;
};

// Coefficient order of CalibrationFit; ReadTelemetryCsv stores its columns in this order too.
constexpr std::array<Term, 4> kTerms{{
    {"devices", "ram_per_device", "device",
     "hosts or moments with different numbers of connected WhatsApp devices"},
    {"ws_connections", "ram_per_websocket", "websocket",
     "moments with different numbers of open dashboard tabs (office hours and night)"},
    {"pending_tasks", "bytes_per_task", "pending task",
     "samples taken while a broadcast backlog is queued as well as while the queue is empty"},
    {"customers", "buffer_per_customer", "customer",
     "hosts carrying different numbers of customers"},
}};
constexpr std::string_view kTarget = "rss_bytes";
constexpr std::string_view kBaseline = "baseline";
constexpr std::size_t kParameters = kTerms.size() + 1;
// Two rows per parameter is the floor below which the residual variance (and so every standard
// error) rests on a handful of degrees of freedom.
constexpr std::size_t kMinRows = 2 * kParameters;
// Beyond this the fit is usable but the split between correlated columns is soft; say so.
constexpr double kWarnConditionNumber = 1e3;
constexpr double kWarnRSquared = 0.9;

constexpr std::array<std::string_view, kParameters> kRequiredColumns{
    kTerms[0].column, kTerms[1].column, kTerms[2].column, kTerms[3].column, kTarget};

std::string RequiredColumnList() {
  return fmt::format("{}", fmt::join(kRequiredColumns, ", "));
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t") == std::string_view::npos;
}

/// Bytes with a decimal unit and 6 significant digits, never an exponent (ParseBytes reads none),
/// so a calibrated rule round-trips through YAML. FormatBytes keeps 3 digits: too coarse here.
std::string ExactBytes(double bytes) {
  if (bytes == 0) {
    return "0 B";
  }
  static constexpr std::array<std::pair<double, std::string_view>, 3> kSteps{{
      {1e9, "GB"},
      {1e6, "MB"},
      {1e3, "KB"},
  }};
  double factor = 1;
  std::string_view unit = "B";
  for (const auto& [step, name] : kSteps) {
    if (std::fabs(bytes) >= step) {
      factor = step;
      unit = name;
      break;
    }
  }
  const double mantissa = bytes / factor;
  const int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(mantissa))));
  const int decimals = std::clamp(5 - magnitude, 0, 12);
  std::string digits = fmt::format("{:.{}f}", mantissa, decimals);
  if (digits.find('.') != std::string::npos) {
    while (digits.back() == '0') {
      digits.pop_back();
    }
    if (digits.back() == '.') {
      digits.pop_back();
    }
  }
  return fmt::format("{} {}", digits, unit);
}

/// Where row `r` of `table` came from, for messages.
std::string RowPlace(const TelemetryTable& table, std::size_t r) {
  if (r < table.lines.size() && table.lines[r] > 0) {
    return fmt::format("{}:{}", table.file, table.lines[r]);
  }
  return fmt::format("{}: row {}", table.file, r + 1);
}

/// Design columns taking part in the near-dependence `null`. Components below a tenth of the
/// largest barely take part; naming them would mislead.
std::vector<Eigen::Index> Involved(const Eigen::VectorXd& null) {
  const double largest = null.cwiseAbs().maxCoeff();
  std::vector<Eigen::Index> involved;
  for (Eigen::Index j = 0; j < null.size(); ++j) {
    if (std::fabs(null(j)) >= 0.1 * largest) {
      involved.push_back(j);
    }
  }
  return involved;
}

/// Explains the near-linear dependence `null` (a right singular vector of the column-scaled
/// design for its smallest singular value) in the user's units: "ws_connections ≈ 2 × devices".
std::string DescribeDependence(const Eigen::VectorXd& null, const Eigen::VectorXd& norms) {
  const std::vector<Eigen::Index> involved = Involved(null);
  const auto baseline = static_cast<Eigen::Index>(kTerms.size());
  Eigen::Index lhs = -1;
  for (Eigen::Index j : involved) {
    if (j != baseline && (lhs < 0 || std::fabs(null(j)) > std::fabs(null(lhs)))) {
      lhs = j;
    }
  }
  if (lhs < 0) {
    return "the baseline is indistinguishable from zero";
  }
  // Σ null_j · x_j / norm_j ≈ 0, solved for x_lhs in original units.
  const double lhs_weight = null(lhs) / norms(lhs);
  std::string rhs;
  double constant = 0;
  for (Eigen::Index j : involved) {
    if (j == lhs) {
      continue;
    }
    const double c = -(null(j) / norms(j)) / lhs_weight;
    if (j == baseline) {
      constant = c;
      continue;
    }
    const auto& column = kTerms[static_cast<std::size_t>(j)].column;
    if (rhs.empty()) {
      rhs = fmt::format("{:.3g} × {}", c, column);
    } else {
      rhs += fmt::format(" {} {:.3g} × {}", c < 0 ? "-" : "+", std::fabs(c), column);
    }
  }
  if (rhs.empty()) {
    rhs = fmt::format("{:.6g}", constant);
  } else if (constant != 0) {
    rhs += fmt::format(" {} {:.3g}", constant < 0 ? "-" : "+", std::fabs(constant));
  }
  return fmt::format("{} ≈ {}", kTerms[static_cast<std::size_t>(lhs)].column, rhs);
}

/// Names of the columns taking part in `null` ("devices and ws_connections").
std::string InvolvedColumns(const Eigen::VectorXd& null) {
  std::vector<std::string> names;
  for (Eigen::Index j : Involved(null)) {
    names.emplace_back(j < static_cast<Eigen::Index>(kTerms.size())
                           ? kTerms[static_cast<std::size_t>(j)].column
                           : kBaseline);
  }
  if (names.size() == 1) {
    return names.front();
  }
  const std::string last = names.back();
  names.pop_back();
  return fmt::format("{} and {}", fmt::join(names, ", "), last);
}

std::string FormatCondition(double condition) {
  return std::isfinite(condition) ? fmt::format("{:.3g}", condition) : "infinite";
}

}  // namespace

TelemetryTable ReadTelemetryCsv(std::istream& in, const std::string& file) {
  CsvReader reader(in, file);
  std::vector<std::string_view> fields;
  if (!reader.Next(fields)) {
    throw InputError(fmt::format("{}:1: empty file: expected a header naming the columns {}", file,
                                 RequiredColumnList()));
  }
  const std::size_t header_line = reader.line();
  const std::size_t width = fields.size();
  constexpr std::size_t kMissing = std::numeric_limits<std::size_t>::max();
  std::array<std::size_t, kRequiredColumns.size()> index;
  index.fill(kMissing);
  std::vector<std::string> header;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    header.emplace_back(TrimBlanks(fields[i]));
    for (std::size_t k = 0; k < kRequiredColumns.size(); ++k) {
      if (header.back() != kRequiredColumns[k]) {
        continue;
      }
      if (index[k] != kMissing) {
        throw InputError(fmt::format("{}:{}: {}: column appears twice (fields {} and {})", file,
                                     header_line, kRequiredColumns[k], index[k] + 1, i + 1));
      }
      index[k] = i;
    }
  }
  for (std::size_t k = 0; k < kRequiredColumns.size(); ++k) {
    if (index[k] == kMissing) {
      throw InputError(fmt::format(
          "{}:{}: {}: missing column; telemetry needs the columns {} (the header has: {})", file,
          header_line, kRequiredColumns[k], RequiredColumnList(), fmt::join(header, ", ")));
    }
  }

  TelemetryTable table;
  table.file = file;
  table.columns.assign(kRequiredColumns.begin(), kRequiredColumns.end());
  while (reader.Next(fields)) {
    const std::size_t line = reader.line();
    if (fields.size() != width) {
      throw InputError(fmt::format("{}:{}: expected {} fields as in the header, got {}", file, line,
                                   width, fields.size()));
    }
    std::vector<double> row(kRequiredColumns.size());
    for (std::size_t k = 0; k < kRequiredColumns.size(); ++k) {
      const std::string_view cell = fields[index[k]];
      if (IsBlank(cell)) {
        throw InputError(fmt::format("{}:{}: {}: empty cell; expected a non-negative number", file,
                                     line, kRequiredColumns[k]));
      }
      double value = -1;
      try {
        value = ParseNumber(cell);
      } catch (const InputError&) {
        // Rethrown below with the place; ParseNumber's own wording does not say "non-negative".
      }
      if (!(value >= 0)) {
        throw InputError(fmt::format("{}:{}: {}: expected a finite non-negative number, got \"{}\"",
                                     file, line, kRequiredColumns[k], TrimBlanks(cell)));
      }
      row[k] = value;
    }
    table.rows.push_back(std::move(row));
    table.lines.push_back(line);
  }
  return table;
}

namespace {

// The design matrix (one column per term and the baseline) and the measured RSS, from a table
// checked the way ReadTelemetryCsv checks it (it may have been built by a caller instead).
struct Observations {
  Eigen::MatrixXd design;
  Eigen::VectorXd rss;
};

Observations BuildObservations(const TelemetryTable& table) {
  const std::string& file = table.file;
  std::array<std::size_t, kRequiredColumns.size()> index{};
  for (std::size_t k = 0; k < kRequiredColumns.size(); ++k) {
    const auto it = std::find(table.columns.begin(), table.columns.end(), kRequiredColumns[k]);
    if (it == table.columns.end()) {
      throw InputError(fmt::format("{}: telemetry has no column '{}'; calibration needs {}", file,
                                   kRequiredColumns[k], RequiredColumnList()));
    }
    index[k] = static_cast<std::size_t>(it - table.columns.begin());
  }

  const std::size_t n = table.rows.size();
  if (n < kMinRows) {
    throw InputError(fmt::format(
        "{}: {} rows of telemetry; fitting {} parameters ({} per-unit costs and a baseline) needs "
        "at least {} rows. Collect more samples, e.g. one row per host every 5 minutes over a day "
        "of changing load",
        file, n, kParameters, kTerms.size(), kMinRows));
  }

  const auto rows = static_cast<Eigen::Index>(n);
  const auto params = static_cast<Eigen::Index>(kParameters);
  Eigen::MatrixXd design(rows, params);
  Eigen::VectorXd rss(rows);
  for (std::size_t r = 0; r < n; ++r) {
    const std::vector<double>& row = table.rows[r];
    if (row.size() != table.columns.size()) {
      throw InputError(fmt::format("{}: {} values for {} columns", RowPlace(table, r), row.size(),
                                   table.columns.size()));
    }
    for (std::size_t k = 0; k < kRequiredColumns.size(); ++k) {
      const double v = row[index[k]];
      if (!std::isfinite(v) || v < 0) {
        throw InputError(fmt::format("{}: {}: expected a finite non-negative number, got {}",
                                     RowPlace(table, r), kRequiredColumns[k], v));
      }
    }
    const auto i = static_cast<Eigen::Index>(r);
    for (std::size_t k = 0; k < kTerms.size(); ++k) {
      design(i, static_cast<Eigen::Index>(k)) = row[index[k]];
    }
    design(i, params - 1) = 1;
    rss(i) = row[index[kTerms.size()]];
  }

  return {std::move(design), std::move(rss)};
}

// A constant column is exactly collinear with the baseline: named before the generic check.
void RequireVariation(const std::string& file, const Observations& o,
                      const std::array<bool, kTerms.size()>& held) {
  const Eigen::MatrixXd& design = o.design;
  const Eigen::VectorXd& rss = o.rss;
  for (std::size_t k = 0; k < kTerms.size(); ++k) {
    if (held[k]) {
      continue;  // not fitted: its column may be anything
    }
    const auto col = design.col(static_cast<Eigen::Index>(k));
    if (col.minCoeff() == col.maxCoeff()) {
      const Term& term = kTerms[k];
      if (col(0) == 0) {
        throw InputError(
            fmt::format("{}: {} is 0 in every row, so {} can't be measured. Collect {}", file,
                        term.column, term.rule, term.how_to_vary));
      }
      throw InputError(fmt::format(
          "{}: {} is {} in every row, so {} can't be told apart from the baseline. Collect {}",
          file, term.column, col(0), term.rule, term.how_to_vary));
    }
  }
  if (rss.minCoeff() == rss.maxCoeff()) {
    throw InputError(fmt::format(
        "{}: rss_bytes is {} in every row; there is no variation in memory to explain. Collect "
        "samples across changing load",
        file, rss(0)));
  }
}

// Memory cannot shrink as load grows: a negative coefficient means the telemetry cannot support
// the fit.
void RequireNonNegative(const std::string& file, const CalibrationFit& fit) {
  std::vector<std::string> negative;
  for (std::size_t k = 0; k < fit.coefficients.size(); ++k) {
    const Coefficient& c = fit.coefficients[k];
    if (c.value >= 0 || c.held) {
      continue;
    }
    const std::string per =
        k < kTerms.size() ? fmt::format(" per {}", kTerms[k].unit) : std::string();
    negative.push_back(fmt::format("{} came out negative ({} ± {}{})", c.rule, ExactBytes(c.value),
                                   ExactBytes(c.std_error), per));
  }
  if (!negative.empty()) {
    throw InputError(fmt::format(
        "{}: {}. Memory can't shrink as load grows, so the telemetry can't support this fit: "
        "either that load costs nothing measurable here (its effect is within noise) or another "
        "column is absorbing it. Collect samples with a wider, independent spread of every "
        "column, or check that rss_bytes is measured on the same hosts as the counts",
        file, fmt::join(negative, "; ")));
  }
}

// What the operator should know about a fit that holds: weak coefficients, collinear columns, a
// poor R².
void AddFitWarnings(CalibrationFit& fit, const Eigen::VectorXd& null,
                    const Eigen::VectorXd& norms) {
  const double condition = fit.condition_number;
  for (std::size_t k = 0; k < kTerms.size(); ++k) {
    const Coefficient& c = fit.coefficients[k];
    if (!c.held && c.value < 2 * c.std_error) {
      fit.warnings.push_back(fmt::format(
          "{} = {} ± {} per {} is not clearly above zero; to pin it down collect {}", c.rule,
          ExactBytes(c.value), ExactBytes(c.std_error), kTerms[k].unit, kTerms[k].how_to_vary));
    }
  }
  if (condition > kWarnConditionNumber) {
    fit.warnings.push_back(fmt::format(
        "{} move together ({}; condition number {}): how memory is split between their rules "
        "is uncertain, see the standard errors",
        InvolvedColumns(null), DescribeDependence(null, norms), FormatCondition(condition)));
  }
  if (fit.r_squared < kWarnRSquared) {
    fit.warnings.push_back(fmt::format(
        "R² = {:.3f}: the per-unit model explains little of the measured memory; check for leaks, "
        "caches or load the columns don't count",
        fit.r_squared));
  }
}

}  // namespace

std::vector<std::string_view> FittedRules() {
  std::vector<std::string_view> rules;
  for (const Term& t : kTerms) {
    rules.push_back(t.rule);
  }
  return rules;
}

CalibrationFit FitRules(const TelemetryTable& table, const std::vector<HeldRule>& held_rules) {
  const std::string& file = table.file;
  Observations o = BuildObservations(table);
  // A held rule is not fitted: its known cost comes off rss_bytes and its column leaves the design.
  std::array<bool, kTerms.size()> held{};
  Eigen::VectorXd held_per_unit = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(kParameters));
  for (const HeldRule& h : held_rules) {
    const auto it =
        std::find_if(kTerms.begin(), kTerms.end(), [&](const Term& t) { return t.rule == h.rule; });
    if (it == kTerms.end()) {
      throw InputError(fmt::format("--hold: '{}' is not a fitted rule (expected one of: {})",
                                   h.rule, fmt::join(FittedRules(), ", ")));
    }
    const auto k = static_cast<std::size_t>(it - kTerms.begin());
    held[k] = true;
    held_per_unit(static_cast<Eigen::Index>(k)) = h.value;
  }
  const Eigen::VectorXd held_cost = o.design * held_per_unit;
  o.rss -= held_cost;
  RequireVariation(file, o, held);
  std::vector<Eigen::Index> keep;  // fitted design columns, the baseline last
  for (std::size_t k = 0; k < kTerms.size(); ++k) {
    if (!held[k]) {
      keep.push_back(static_cast<Eigen::Index>(k));
    }
  }
  keep.push_back(static_cast<Eigen::Index>(kTerms.size()));
  const Eigen::MatrixXd design = o.design(Eigen::all, keep);
  const Eigen::VectorXd& rss = o.rss;
  const auto rows = static_cast<Eigen::Index>(table.rows.size());
  const auto params = static_cast<Eigen::Index>(keep.size());
  const std::size_t n = table.rows.size();

  // Scaling every column to unit length makes the condition number a property of the telemetry's
  // shape, not of its units (bytes per task vs megabytes per customer).
  const Eigen::VectorXd norms = design.colwise().norm().transpose();
  const Eigen::MatrixXd scaled = design * norms.cwiseInverse().asDiagonal();
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(scaled, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Eigen::VectorXd& singular = svd.singularValues();
  const double smallest = singular(params - 1);
  const double condition =
      smallest > 0 ? singular(0) / smallest : std::numeric_limits<double>::infinity();
  // The near-dependence and the norms over every term (held ones take no part), as the messages
  // name columns by their place among all terms.
  Eigen::VectorXd null = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(kParameters));
  Eigen::VectorXd all_norms = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(kParameters));
  for (Eigen::Index j = 0; j < params; ++j) {
    null(keep[static_cast<std::size_t>(j)]) = svd.matrixV()(j, params - 1);
    all_norms(keep[static_cast<std::size_t>(j)]) = norms(j);
  }
  if (!(condition <= kMaxConditionNumber)) {
    throw InputError(fmt::format(
        "{}: the telemetry can't separate {}: in every row {} (condition number {}, limit {:.0e}). "
        "Collect samples where these vary independently of each other, e.g. hosts or times with a "
        "different mix of devices, dashboard tabs, queued broadcasts and customers",
        file, InvolvedColumns(null), DescribeDependence(null, all_norms),
        FormatCondition(condition), kMaxConditionNumber));
  }

  const Eigen::VectorXd scaled_beta = svd.solve(rss);
  Eigen::VectorXd beta = scaled_beta.cwiseQuotient(norms);
  // A coefficient whose whole contribution is at round-off level of rss is zero, not negative.
  const double round_off = 1e-9 * rss.norm();
  for (Eigen::Index j = 0; j < params; ++j) {
    if (std::fabs(scaled_beta(j)) <= round_off) {
      beta(j) = 0;
    }
  }

  const Eigen::VectorXd residuals = rss - design * beta;
  const double ssr = residuals.squaredNorm();
  // R² of the measured memory itself: the held costs are part of what is explained.
  const Eigen::VectorXd measured = rss + held_cost;
  const double sst = (measured.array() - measured.mean()).matrix().squaredNorm();
  const double sigma2 = ssr / static_cast<double>(rows - params);
  // Cov(beta_scaled) = sigma² (XsᵀXs)⁻¹ = sigma² V S⁻² Vᵀ; only the diagonal is needed.
  const Eigen::VectorXd scaled_variance = svd.matrixV().array().square().matrix() *
                                          singular.array().square().inverse().matrix() * sigma2;

  CalibrationFit fit;
  fit.rows = n;
  fit.condition_number = condition;
  fit.r_squared = 1 - ssr / sst;
  fit.rmse = std::sqrt(ssr / static_cast<double>(rows));
  fit.residuals.assign(residuals.begin(), residuals.end());
  Eigen::Index j = 0;  // position among the fitted columns
  for (std::size_t k = 0; k <= kTerms.size(); ++k) {
    Coefficient c;
    if (k < kTerms.size()) {
      c.rule = kTerms[k].rule;
      c.column = kTerms[k].column;
    } else {
      c.rule = kBaseline;
    }
    if (k < kTerms.size() && held[k]) {
      c.value = held_per_unit(static_cast<Eigen::Index>(k));
      c.held = true;
    } else {
      c.value = beta(j);
      c.std_error = std::sqrt(scaled_variance(j)) / norms(j);
      ++j;
    }
    fit.coefficients.push_back(std::move(c));
  }

  RequireNonNegative(file, fit);
  AddFitWarnings(fit, null, all_norms);
  return fit;
}

std::string RulesOverrideYaml(const CalibrationFit& fit, const std::string& engine,
                              const std::string& source_file, bool engine_buffer,
                              bool engine_base) {
  if (engine.empty()) {
    throw InputError("rules override: the engine whose ram_per_device was calibrated is empty");
  }
  auto find = [&](std::string_view rule) -> const Coefficient& {
    const auto it = std::find_if(fit.coefficients.begin(), fit.coefficients.end(),
                                 [&](const Coefficient& c) { return c.rule == rule; });
    if (it == fit.coefficients.end()) {
      throw InputError(fmt::format("rules override: the fit has no coefficient for {}", rule));
    }
    return *it;
  };
  // Six significant digits: telemetry spanning a wide load range routinely fits to R² = 0.9999x,
  // which four decimals would round to a misleading 1.0000.
  const std::string stats = fmt::format("{} rows, R²={:.6g}", fit.rows, fit.r_squared);
  const std::string summary = fmt::format("crmctl calibrate {}: {}", source_file, stats);
  auto emit_rule = [&](YAML::Emitter& out, std::string_view rule, std::string_view key = {}) {
    const Coefficient& c = find(rule);
    out << YAML::Key << std::string(key.empty() ? rule : key) << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "value" << YAML::Value << ExactBytes(c.value);
    out << YAML::Key << "source" << YAML::Value
        << (c.held ? fmt::format("{}: held at the catalog's value, not fitted", summary)
                   : fmt::format("{}, standard error {}", summary, ExactBytes(c.std_error)));
    out << YAML::EndMap;
  };

  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "engines" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << engine << YAML::Value << YAML::BeginMap;
  emit_rule(out, kTerms[0].rule);
  // An engine with its own buffer_per_customer would ignore the global rule: the fit goes there.
  if (engine_buffer) {
    emit_rule(out, "buffer_per_customer");
  }
  // Likewise the fixed memory, when the engine states the runtime's own (base_ram).
  if (engine_base) {
    emit_rule(out, kBaseline, "base_ram");
  }
  out << YAML::EndMap << YAML::EndMap;
  for (std::size_t k = 1; k < kTerms.size(); ++k) {
    if (engine_buffer && kTerms[k].rule == std::string_view("buffer_per_customer")) {
      continue;
    }
    emit_rule(out, kTerms[k].rule);
  }
  out << YAML::EndMap;
  if (!out.good()) {
    throw RuntimeError(fmt::format("rules override: YAML emitter failed: {}", out.GetLastError()));
  }

  const Coefficient& baseline = find(kBaseline);
  return fmt::format(
      "# Rules override fitted by `crmctl calibrate {}`: {}, RMSE {}, condition number {}.\n"
      "# Use it with `crmctl plan --rules FILE`. Fixed memory per telemetry row (not a rule): {} ± "
      "{}.\n{}\n",
      source_file, stats, ExactBytes(fit.rmse), FormatCondition(fit.condition_number),
      ExactBytes(baseline.value), ExactBytes(baseline.std_error), out.c_str());
}

}  // namespace crm::planner
