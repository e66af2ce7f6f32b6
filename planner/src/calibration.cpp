#include "crm/planner/calibration.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
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
  // An optional term's column may be missing from the telemetry, or zero in every row: its rule
  // is then not fitted and not written.
  bool optional = false;
  // Not a catalog rule: FoldConnections turns it into the per-tenant and fixed costs.
  bool folded = false;
};

// Coefficient order of CalibrationFit; ReadTelemetryCsv stores its columns in this order too.
constexpr std::array<Term, 6> kTerms{{
    {"devices", "ram_per_device", "device",
     "hosts or moments with different numbers of connected WhatsApp devices"},
    {"ws_connections", "ram_per_websocket", "websocket",
     "moments with different numbers of open dashboard tabs (office hours and night)"},
    {"pending_tasks", "bytes_per_task", "pending task",
     "samples taken while a broadcast backlog is queued as well as while the queue is empty"},
    {"customers", "buffer_per_customer", "customer",
     "hosts carrying different numbers of customers"},
    // A tenant with no request, event stream or queued task for a while: its slice has closed its
    // unused database connections (docs/capacity-model.md, "The crmd engine"). Counting such
    // tenants at an active tenant's cost is what made a fit over a day with a quiet night
    // under-price active tenants and over-price the baseline.
    {"idle_customers", "idle_per_customer", "idle customer",
     "moments when some tenants are idle and others active (a night and a working day)", true},
    // PostgreSQL's client backends, ~2.5 MB each: how many a tenant holds swings with its
    // activity (pools open connections under load and close them after a minute unused), and
    // they are most of a crmd tenant's memory (docs/capacity-model.md, "The crmd engine").
    {"db_connections", "ram_per_db_connection", "database connection",
     "moments with busy and quiet tenants (pools open and close connections)", true, true},
}};
constexpr std::size_t kIdleTerm = 4;
constexpr std::size_t kConnectionsTerm = 5;
constexpr std::string_view kTarget = "rss_bytes";
constexpr std::string_view kBaseline = "baseline";
constexpr std::size_t kParameters = kTerms.size() + 1;
// Two rows per fitted parameter is the floor below which the residual variance (and so every
// standard error) rests on a handful of degrees of freedom.
constexpr std::size_t kRowsPerParameter = 2;
// Rows without load that pin the baseline (a few minutes of an empty deployment).
constexpr std::size_t kMinRestRows = 3;
// Beyond this the fit is usable but the split between correlated columns is soft; say so.
constexpr double kWarnConditionNumber = 1e3;
constexpr double kWarnRSquared = 0.9;

constexpr std::array<std::string_view, 5> kRequiredColumns{
    kTerms[0].column, kTerms[1].column, kTerms[2].column, kTerms[3].column, kTarget};
constexpr std::array<std::string_view, 2> kOptionalColumns{kTerms[kIdleTerm].column,
                                                           kTerms[kConnectionsTerm].column};

std::string RequiredColumnList() {
  return fmt::format("{}", fmt::join(kRequiredColumns, ", "));
}

const Term* FindTerm(std::string_view rule) {
  const auto it =
      std::find_if(kTerms.begin(), kTerms.end(), [&](const Term& t) { return t.rule == rule; });
  return it == kTerms.end() ? nullptr : &*it;
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
  // The required columns, then the optional ones; kMissing where the header lacks one.
  std::vector<std::string_view> wanted(kRequiredColumns.begin(), kRequiredColumns.end());
  wanted.insert(wanted.end(), kOptionalColumns.begin(), kOptionalColumns.end());
  std::vector<std::size_t> index(wanted.size(), kMissing);
  std::vector<std::string> header;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    header.emplace_back(TrimBlanks(fields[i]));
    for (std::size_t k = 0; k < wanted.size(); ++k) {
      if (header.back() != wanted[k]) {
        continue;
      }
      if (index[k] != kMissing) {
        throw InputError(fmt::format("{}:{}: {}: column appears twice (fields {} and {})", file,
                                     header_line, wanted[k], index[k] + 1, i + 1));
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
  // Only the columns present are stored.
  std::vector<std::size_t> present;
  TelemetryTable table;
  table.file = file;
  for (std::size_t k = 0; k < wanted.size(); ++k) {
    if (index[k] != kMissing) {
      present.push_back(k);
      table.columns.emplace_back(wanted[k]);
    }
  }
  while (reader.Next(fields)) {
    const std::size_t line = reader.line();
    if (fields.size() != width) {
      throw InputError(fmt::format("{}:{}: expected {} fields as in the header, got {}", file, line,
                                   width, fields.size()));
    }
    std::vector<double> row(present.size());
    for (std::size_t p = 0; p < present.size(); ++p) {
      const std::size_t k = present[p];
      const std::string_view cell = fields[index[k]];
      if (IsBlank(cell)) {
        throw InputError(fmt::format("{}:{}: {}: empty cell; expected a non-negative number", file,
                                     line, wanted[k]));
      }
      double value = -1;
      try {
        value = ParseNumber(cell);
      } catch (const InputError&) {
        // Rethrown below with the place; ParseNumber's own wording does not say "non-negative".
      }
      if (!(value >= 0)) {
        throw InputError(fmt::format("{}:{}: {}: expected a finite non-negative number, got \"{}\"",
                                     file, line, wanted[k], TrimBlanks(cell)));
      }
      row[p] = value;
    }
    table.rows.push_back(std::move(row));
    table.lines.push_back(line);
  }
  return table;
}

namespace {

// The design matrix (one column per term and the baseline) and the measured RSS, from a table
// checked the way ReadTelemetryCsv checks it (it may have been built by a caller instead). An
// optional term whose column the table lacks gets a column of zeros.
struct Observations {
  Eigen::MatrixXd design;
  Eigen::VectorXd rss;
};

Observations BuildObservations(const TelemetryTable& table) {
  const std::string& file = table.file;
  constexpr std::size_t kMissing = std::numeric_limits<std::size_t>::max();
  auto find = [&](std::string_view column, bool optional) {
    const auto it = std::find(table.columns.begin(), table.columns.end(), column);
    if (it != table.columns.end()) {
      return static_cast<std::size_t>(it - table.columns.begin());
    }
    if (!optional) {
      throw InputError(fmt::format("{}: telemetry has no column '{}'; calibration needs {}", file,
                                   column, RequiredColumnList()));
    }
    return kMissing;
  };
  std::array<std::size_t, kTerms.size()> index{};
  for (std::size_t k = 0; k < kTerms.size(); ++k) {
    index[k] = find(kTerms[k].column, kTerms[k].optional);
  }
  const std::size_t target = find(kTarget, false);

  const std::size_t n = table.rows.size();
  const auto rows = static_cast<Eigen::Index>(n);
  const auto params = static_cast<Eigen::Index>(kParameters);
  Eigen::MatrixXd design(rows, params);
  Eigen::VectorXd rss(rows);
  auto value = [&](std::size_t r, std::size_t column, std::string_view name) {
    const double v = table.rows[r][column];
    if (!std::isfinite(v) || v < 0) {
      throw InputError(fmt::format("{}: {}: expected a finite non-negative number, got {}",
                                   RowPlace(table, r), name, v));
    }
    return v;
  };
  for (std::size_t r = 0; r < n; ++r) {
    const std::vector<double>& row = table.rows[r];
    if (row.size() != table.columns.size()) {
      throw InputError(fmt::format("{}: {} values for {} columns", RowPlace(table, r), row.size(),
                                   table.columns.size()));
    }
    const auto i = static_cast<Eigen::Index>(r);
    for (std::size_t k = 0; k < kTerms.size(); ++k) {
      design(i, static_cast<Eigen::Index>(k)) =
          index[k] == kMissing ? 0 : value(r, index[k], kTerms[k].column);
    }
    design(i, params - 1) = 1;
    rss(i) = value(r, target, kTarget);
  }

  return {std::move(design), std::move(rss)};
}

// A constant column is exactly collinear with the baseline: named before the generic check.
void RequireVariation(const std::string& file, const Observations& o,
                      const std::array<bool, kTerms.size()>& skipped) {
  const Eigen::MatrixXd& design = o.design;
  const Eigen::VectorXd& rss = o.rss;
  for (std::size_t k = 0; k < kTerms.size(); ++k) {
    if (skipped[k]) {
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
    const Term* term = FindTerm(c.rule);
    const std::string per = term != nullptr ? fmt::format(" per {}", term->unit) : std::string();
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
  for (const Coefficient& c : fit.coefficients) {
    const Term* term = FindTerm(c.rule);
    if (term != nullptr && !c.held && c.value < 2 * c.std_error) {
      fit.warnings.push_back(fmt::format(
          "{} = {} ± {} per {} is not clearly above zero; to pin it down collect {}", c.rule,
          ExactBytes(c.value), ExactBytes(c.std_error), term->unit, term->how_to_vary));
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
    if (!t.folded) {
      rules.push_back(t.rule);
    }
  }
  return rules;
}

CalibrationFit FitRules(const TelemetryTable& table, const std::vector<HeldRule>& held_rules) {
  const std::string& file = table.file;
  Observations o = BuildObservations(table);
  // A held rule is not fitted: its known cost comes off rss_bytes and its column leaves the design.
  // An optional term the telemetry does not have (zero in every row) leaves it too, and the fit.
  std::array<bool, kTerms.size()> held{};
  std::array<bool, kTerms.size()> absent{};
  for (std::size_t k = 0; k < kTerms.size(); ++k) {
    absent[k] = kTerms[k].optional && o.design.col(static_cast<Eigen::Index>(k)).isZero();
  }
  Eigen::VectorXd held_per_unit = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(kParameters));
  for (const HeldRule& h : held_rules) {
    const Term* term = FindTerm(h.rule);
    if (term == nullptr || term->folded) {
      throw InputError(fmt::format("--hold: '{}' is not a fitted rule (expected one of: {})",
                                   h.rule, fmt::join(FittedRules(), ", ")));
    }
    const auto k = static_cast<std::size_t>(term - kTerms.data());
    held[k] = true;
    held_per_unit(static_cast<Eigen::Index>(k)) = h.value;
  }
  std::array<bool, kTerms.size()> skipped{};
  std::vector<Eigen::Index> keep;  // fitted design columns, the baseline last
  for (std::size_t k = 0; k < kTerms.size(); ++k) {
    skipped[k] = held[k] || absent[k];
    if (!skipped[k]) {
      keep.push_back(static_cast<Eigen::Index>(k));
    }
  }
  keep.push_back(static_cast<Eigen::Index>(kTerms.size()));
  const std::size_t needed = kRowsPerParameter * keep.size();
  if (table.rows.size() < needed) {
    throw InputError(fmt::format(
        "{}: {} rows of telemetry; fitting {} parameters ({} per-unit costs and a baseline) needs "
        "at least {} rows. Collect more samples, e.g. one row per host every 5 minutes over a day "
        "of changing load",
        file, table.rows.size(), keep.size(), keep.size() - 1, needed));
  }
  const Eigen::VectorXd held_cost = o.design * held_per_unit;
  o.rss -= held_cost;
  RequireVariation(file, o, skipped);
  const std::size_t n = table.rows.size();
  const auto intercept = static_cast<Eigen::Index>(kTerms.size());

  // Rows without any load (no tenant, stream, task or device; the runtime's own database
  // connections only) measure the fixed part directly. With a few of them the fit goes through
  // their mean point, and the loaded rows fit the per-unit costs: the baseline is then measured,
  // not extrapolated from hundreds of tenants down to none.
  std::vector<Eigen::Index> rest_rows;
  std::vector<Eigen::Index> loaded_rows;
  for (Eigen::Index r = 0; r < static_cast<Eigen::Index>(n); ++r) {
    bool rest = true;
    for (std::size_t k = 0; k < kTerms.size(); ++k) {
      rest = rest && (k == kConnectionsTerm || o.design(r, static_cast<Eigen::Index>(k)) == 0);
    }
    (rest ? rest_rows : loaded_rows).push_back(r);
  }
  const bool anchored =
      rest_rows.size() >= kMinRestRows && loaded_rows.size() >= kRowsPerParameter * keep.size();
  Eigen::RowVectorXd rest_point = Eigen::RowVectorXd::Zero(intercept + 1);
  double rest_rss = 0;
  double rest_variance = 0;
  if (anchored) {
    rest_point = o.design(rest_rows, Eigen::all).colwise().mean();
    const Eigen::VectorXd at_rest = o.rss(rest_rows);
    rest_rss = at_rest.mean();
    rest_variance = (at_rest.array() - rest_rss).square().sum() /
                    static_cast<double>(std::max<std::size_t>(rest_rows.size() - 1, 1));
    keep.pop_back();  // the baseline comes from the rest rows
  }
  std::vector<Eigen::Index> used(n);  // the rows the regression runs on
  std::iota(used.begin(), used.end(), Eigen::Index{0});
  if (anchored) {
    used = loaded_rows;
  }
  Eigen::MatrixXd design = o.design(used, keep);
  Eigen::VectorXd rss = o.rss(used);
  if (anchored) {
    design.rowwise() -= rest_point(keep);
    rss.array() -= rest_rss;
  }
  const auto rows = static_cast<Eigen::Index>(used.size());
  const auto params = static_cast<Eigen::Index>(keep.size());

  // Scaling every column to unit length makes the condition number a property of the telemetry's
  // shape, not of its units (bytes per task vs megabytes per customer).
  const Eigen::VectorXd norms = design.colwise().norm().transpose();
  const Eigen::MatrixXd scaled = design * norms.cwiseInverse().asDiagonal();
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(scaled, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Eigen::VectorXd& singular = svd.singularValues();
  if (params == 0) {
    throw InputError(fmt::format("{}: every rule is held; there is nothing to fit", file));
  }
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

  const double ssr_fitted = (rss - design * beta).squaredNorm();
  const double sigma2 = ssr_fitted / static_cast<double>(rows - params);
  // Cov(beta_scaled) = sigma² (XsᵀXs)⁻¹ = sigma² V S⁻² Vᵀ; only the diagonal is needed.
  const Eigen::VectorXd scaled_variance = svd.matrixV().array().square().matrix() *
                                          singular.array().square().inverse().matrix() * sigma2;
  Eigen::VectorXd standard_error(params);
  for (Eigen::Index j = 0; j < params; ++j) {
    standard_error(j) = std::sqrt(scaled_variance(j)) / norms(j);
  }
  // The coefficient of every design column, the baseline last.
  Eigen::VectorXd coefficient = held_per_unit;
  Eigen::VectorXd coefficient_error = Eigen::VectorXd::Zero(intercept + 1);
  for (Eigen::Index j = 0; j < params; ++j) {
    coefficient(keep[static_cast<std::size_t>(j)]) = beta(j);
    coefficient_error(keep[static_cast<std::size_t>(j)]) = standard_error(j);
  }
  if (anchored) {
    // Through the rest point: baseline = mean memory at rest − what its connections cost.
    double error2 = rest_variance / static_cast<double>(rest_rows.size());
    double loads = 0;
    for (Eigen::Index j = 0; j < params; ++j) {
      const Eigen::Index k = keep[static_cast<std::size_t>(j)];
      loads += beta(j) * rest_point(k);
      error2 += std::pow(rest_point(k) * standard_error(j), 2);
    }
    coefficient(intercept) = rest_rss - loads;
    coefficient_error(intercept) = std::sqrt(error2);
  }

  // Residuals, R² and RMSE over every row, rest rows included: of the measured memory itself,
  // the held costs being part of what is explained.
  const Eigen::VectorXd residuals = o.rss + held_cost - o.design * coefficient;
  const double ssr = residuals.squaredNorm();
  const Eigen::VectorXd measured = o.rss + held_cost;
  const double sst = (measured.array() - measured.mean()).matrix().squaredNorm();

  CalibrationFit fit;
  fit.rows = n;
  fit.rest_rows = anchored ? rest_rows.size() : 0;
  fit.condition_number = condition;
  fit.r_squared = 1 - ssr / sst;
  fit.rmse = std::sqrt(ssr / static_cast<double>(n));
  fit.residuals.assign(residuals.begin(), residuals.end());
  for (std::size_t k = 0; k <= kTerms.size(); ++k) {
    if (k < kTerms.size() && absent[k]) {
      continue;
    }
    Coefficient c;
    if (k < kTerms.size()) {
      c.rule = kTerms[k].rule;
      c.column = kTerms[k].column;
      c.held = held[k];
    } else {
      c.rule = kBaseline;
    }
    c.value = coefficient(static_cast<Eigen::Index>(k));
    c.std_error = coefficient_error(static_cast<Eigen::Index>(k));
    fit.coefficients.push_back(std::move(c));
  }

  if (!absent[kConnectionsTerm] && !rest_rows.empty()) {
    // The runtime's own connections, and how many an active tenant held beyond them: the median
    // over the loaded instants (idle tenants at kIdleSliceConnections each).
    const Eigen::VectorXd at_rest = o.design(rest_rows, kConnectionsTerm);
    const double c0 = at_rest.mean();
    fit.connections_at_rest = c0;
    std::vector<double> per_active;
    for (Eigen::Index r : loaded_rows) {
      const double active = o.design(r, 3);
      if (active > 0) {
        per_active.push_back(std::max(0.0, o.design(r, kConnectionsTerm) - c0 -
                                               kIdleSliceConnections * o.design(r, kIdleTerm)) /
                             active);
      }
    }
    if (!per_active.empty()) {
      auto middle = per_active.begin() + static_cast<std::ptrdiff_t>(per_active.size() / 2);
      std::nth_element(per_active.begin(), middle, per_active.end());
      fit.connections_per_active = *middle;
    }
  }

  RequireNonNegative(file, fit);
  AddFitWarnings(fit, null, all_norms);
  return fit;
}

CalibrationFit FoldConnections(const CalibrationFit& fit, double fallback_per_active) {
  auto find = [](CalibrationFit& f, std::string_view rule) {
    const auto it = std::find_if(f.coefficients.begin(), f.coefficients.end(),
                                 [&](const Coefficient& c) { return c.rule == rule; });
    return it == f.coefficients.end() ? nullptr : &*it;
  };
  CalibrationFit folded = fit;
  const Coefficient* connection = find(folded, kTerms[kConnectionsTerm].rule);
  if (connection == nullptr) {
    return folded;
  }
  const double cost = connection->value;
  const double error = connection->std_error;
  auto add = [&](Coefficient* c, double connections) {
    if (c == nullptr || c->held) {
      return;  // a held cost is the catalog's, connections included
    }
    c->value += connections * cost;
    c->std_error = std::hypot(c->std_error, connections * error);
  };
  add(find(folded, kTerms[3].rule), fit.connections_per_active.value_or(fallback_per_active));
  add(find(folded, kTerms[kIdleTerm].rule), kIdleSliceConnections);
  if (folded.connections_at_rest) {
    add(find(folded, kBaseline), *folded.connections_at_rest);
  } else {
    folded.warnings.push_back(fmt::format(
        "no instant without tenants: the fixed part counts none of the runtime's own database "
        "connections ({} each); record a few minutes of an empty deployment to pin it down",
        ExactBytes(cost)));
  }
  folded.coefficients.erase(
      std::find_if(folded.coefficients.begin(), folded.coefficients.end(),
                   [](const Coefficient& c) { return c.rule == kTerms[kConnectionsTerm].rule; }));
  return folded;
}

std::string RulesOverrideYaml(const CalibrationFit& fit, const std::string& engine,
                              const std::string& source_file, bool engine_buffer,
                              bool engine_base) {
  if (engine.empty()) {
    throw InputError("rules override: the engine whose ram_per_device was calibrated is empty");
  }
  auto has = [&](std::string_view rule) {
    return std::any_of(fit.coefficients.begin(), fit.coefficients.end(),
                       [&](const Coefficient& c) { return c.rule == rule; });
  };
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
  // An idle tenant's cost is only ever an engine's own figure (Engine::idle_per_customer).
  const std::string_view idle = kTerms[kIdleTerm].rule;
  if (has(idle)) {
    emit_rule(out, idle);
  }
  out << YAML::EndMap << YAML::EndMap;
  for (std::size_t k = 1; k < kTerms.size(); ++k) {
    if ((engine_buffer && kTerms[k].rule == std::string_view("buffer_per_customer")) ||
        k == kIdleTerm || kTerms[k].folded) {
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
