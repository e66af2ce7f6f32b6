#include "live_capacity.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>

#include "admin_client.hpp"
#include "crm/units.hpp"

namespace crm::cli {
namespace {

std::string Bytes(const nlohmann::json& v) {
  return crm::FormatBytes(v.get<double>());
}

std::string Count(const nlohmann::json& v) {
  return v.is_null() ? std::string("?") : crm::FormatNumber(v.get<double>());
}

void PrintLive(const nlohmann::json& c) {
  if (c["measured_at"].is_null()) {
    std::cout << "No server telemetry yet: the monitor samples every minute (is it enabled?).\n";
    return;
  }
  const auto& slices = c["slices"];
  const auto& fp = c["footprint"];
  std::cout << fmt::format("Measured at {}: {} slices running, {} sampled in the last hour\n",
                           c["measured_at"].get<std::string>(), slices["running"].get<int>(),
                           slices["sampled"].get<long long>());
  std::cout << fmt::format("Per slice: {} memory (PSS; p90 {}), {} storage\n\n",
                           Bytes(fp["memory_mean_bytes"]), Bytes(fp["memory_p90_bytes"]),
                           Bytes(fp["storage_mean_bytes"]));
  double target = c["target_utilization"].get<double>();
  std::cout << fmt::format("  {:<5} {:>16} {:>12} {:>12} {:>12}\n", "",
                           fmt::format("capacity ({:.0f} %)", target * 100), "used", "per slice",
                           "more slices");
  for (const char* name : {"ram", "disk"}) {
    const auto& r = c[name];
    std::cout << fmt::format("  {:<5} {:>16} {:>12} {:>12} {:>12}\n",
                             std::string(name) == "ram" ? "RAM" : "disk",
                             Bytes(r["capacity_bytes"]), Bytes(r["used_bytes"]),
                             Bytes(r["per_slice_bytes"]), Count(r["more_slices"]));
  }
  if (c["more_slices"].is_null()) {
    std::cout << "\nNo slice has been sampled yet: nothing to project from.\n";
    return;
  }
  std::cout << fmt::format("\n{} more slices fit ({} binds first).\n", Count(c["more_slices"]),
                           c["binding"].get<std::string>() == "ram" ? "RAM" : "disk");
  const auto& g = c["growth"];
  if (g["slices_per_day"].is_null()) {
    std::cout << "Growth: not enough samples yet to fit a trend.\n";
  } else if (g["fitted_over_days"].get<double>() < 1.0) {
    std::cout << fmt::format(
        "Growth: {:.1f} hours of history; a fill date needs at least a day of samples.\n",
        g["fitted_over_days"].get<double>() * 24);
  } else if (g["fills_on"].is_null()) {
    std::cout << fmt::format("Growth: {:+.2f} slices/day over {:.1f} days: not filling.\n",
                             g["slices_per_day"].get<double>(),
                             g["fitted_over_days"].get<double>());
  } else {
    std::cout << fmt::format(
        "Growth: {:+.2f} slices/day over {:.1f} days: full around {} (in {:.0f} days).\n",
        g["slices_per_day"].get<double>(), g["fitted_over_days"].get<double>(),
        g["fills_on"].get<std::string>(), std::ceil(g["days_to_fill"].get<double>()));
  }
}

}  // namespace

void RunLiveCapacity(const std::string& url, double target, GlobalOptions& global) {
  AdminClient client(url);
  nlohmann::json doc = client.Call(
      "GET", fmt::format("/admin/capacity?target_percent={}", std::lround(target * 100)));
  auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format != planner::OutputFormat::kTable) {
    PrintDocument(nlohmann::ordered_json::parse(doc.dump()), format);
  } else {
    PrintLive(doc);
  }
}

}  // namespace crm::cli
