#include "crm/planner/history.hpp"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <cmath>
#include <optional>
#include <string_view>
#include <vector>

#include "crm/error.hpp"
#include "crm/csv.hpp"
#include "crm/units.hpp"

namespace crm::planner {
namespace {

constexpr std::string_view kCustomers = "customers";
// Two points always lie on a line; a third is the least that can disagree with it.
constexpr std::size_t kMinMonths = 3;


}  // namespace

GrowthFit FitGrowthHistory(std::istream& in, const std::string& file) {
  CsvReader reader(in, file);
  std::vector<std::string_view> fields;
  if (!reader.Next(fields)) {
    throw InputError(fmt::format(
        "{}:1: empty file: expected a header with a customers column (and optionally month), then "
        "one row per month, oldest first",
        file));
  }
  const std::size_t header_line = reader.line();
  const std::size_t width = fields.size();
  std::optional<std::size_t> column;
  std::vector<std::string> header;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    header.emplace_back(TrimBlanks(fields[i]));
    if (header.back() != kCustomers) {
      continue;
    }
    if (column) {
      throw InputError(fmt::format("{}:{}: customers: column appears twice (fields {} and {})",
                                   file, header_line, *column + 1, i + 1));
    }
    column = i;
  }
  if (!column) {
    throw InputError(fmt::format(
        "{}:{}: customers: missing column; history needs a customers column (the header has: {})",
        file, header_line, fmt::join(header, ", ")));
  }

  // The month column, when present, is for people reading the file: rows are taken in file order.
  std::vector<double> log_customers;
  while (reader.Next(fields)) {
    const std::size_t line = reader.line();
    if (fields.size() != width) {
      throw InputError(fmt::format("{}:{}: expected {} fields as in the header, got {}", file, line,
                                   width, fields.size()));
    }
    const std::string_view cell = TrimBlanks(fields[*column]);
    if (cell.empty()) {
      throw InputError(fmt::format(
          "{}:{}: customers: empty cell; expected the number of customers that month", file, line));
    }
    double customers = 0;
    try {
      customers = ParseNumber(cell);
    } catch (const InputError&) {
      throw InputError(fmt::format("{}:{}: customers: expected a positive number, got \"{}\"", file,
                                   line, cell));
    }
    if (customers <= 0) {
      throw InputError(fmt::format(
          "{}:{}: customers: got {}; growth is fitted on a log scale, which needs customers > 0 "
          "in every month. Start the history at the first month with customers",
          file, line, cell));
    }
    log_customers.push_back(std::log(customers));
  }
  if (log_customers.size() < kMinMonths) {
    throw InputError(fmt::format(
        "{}: {} month(s) of history; fitting a growth rate needs at least {} (one row per month, "
        "oldest first)",
        file, log_customers.size(), kMinMonths));
  }

  const auto months = static_cast<Eigen::Index>(log_customers.size());
  Eigen::MatrixXd design(months, 2);
  const Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(log_customers.data(), months);
  for (Eigen::Index t = 0; t < months; ++t) {
    design(t, 0) = 1;
    design(t, 1) = static_cast<double>(t);
  }
  const Eigen::Vector2d beta = design.colPivHouseholderQr().solve(y);
  const double ssr = (y - design * beta).squaredNorm();
  const double sst = (y.array() - y.mean()).matrix().squaredNorm();

  GrowthFit fit;
  fit.months = log_customers.size();
  fit.rate_per_month = std::expm1(beta(1));
  // A flat history is fitted exactly by zero growth, where R² would be round-off over round-off.
  constexpr double kFlat = 1e-18;
  fit.r_squared = sst > kFlat * static_cast<double>(months) ? 1 - ssr / sst : 1;
  return fit;
}

}  // namespace crm::planner
