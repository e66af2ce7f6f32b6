// Fits a monthly growth rate to past customer counts for `crmctl plan --history FILE`.
#pragma once

#include <cstddef>
#include <istream>
#include <string>

namespace crm::planner {

/// A compound monthly growth rate fitted to history.
struct GrowthFit {
  double rate_per_month = 0;  // 0.2 = 20 %/month; negative when customers shrink
  double r_squared = 0;       // of ln(customers); 1 when every month has the same count
  std::size_t months = 0;     // rows used
};

/// Reads CSV with a header: a `customers` column (required) and optionally `month` (any text);
/// other columns are ignored. One row per month, oldest first, consecutive months. Fits
/// ln(customers) = a + b*t by least squares and returns rate = e^b - 1.
/// Throws InputError "file:line: customers: reason" for a cell that is not a positive finite
/// number (zero and negative counts are explained: a log-linear fit needs customers > 0), and
/// InputError for an empty file, a missing column, a ragged row, or fewer than 3 months.
GrowthFit FitGrowthHistory(std::istream& in, const std::string& file);

}  // namespace crm::planner
