// crmctl capacity --live: the measured side of capacity, from a running gateway's admin API.
#pragma once

#include <string>

#include "cli_context.hpp"

namespace crm::cli {

/// Prints how many more slices fit the running server at `target` utilization and when the
/// recent growth fills it (GET /admin/capacity on `url`).
void RunLiveCapacity(const std::string& url, double target, GlobalOptions& global);

}  // namespace crm::cli
