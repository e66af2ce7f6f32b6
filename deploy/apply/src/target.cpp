#include "crm/apply/target.hpp"

#include <fmt/format.h>

#include "crm/error.hpp"

namespace crm::apply {
namespace {

[[noreturn]] void NotAvailable(std::string_view kind) {
  throw InputError(
      fmt::format("--target: '{}' is not available here; status and destroy manage --target local "
                  "deployments (see docs/operations.md)",
                  kind));
}

}  // namespace

StatusReport DeployTarget::Status(const DeploymentState& /*recorded*/,
                                  const SliceCounter& /*count_slices*/) {
  NotAvailable(Kind());
}

TeardownPlan DeployTarget::PlanTeardown(DeploymentState& /*recorded*/, bool /*purge*/) {
  NotAvailable(Kind());
}

void DeployTarget::Teardown(const TeardownPlan& /*plan*/, DeploymentState& /*state*/) {
  NotAvailable(Kind());
}

}  // namespace crm::apply
