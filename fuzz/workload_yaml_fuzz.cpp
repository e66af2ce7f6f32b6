// libFuzzer target: workload.yaml as `crmctl plan -f` reads it. Any bytes must give a plan or an
// InputError; a crash, a sanitizer report, a hang or any other exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "crm/error.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/workload.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace crm::planner;
  static const Catalog& catalog = Catalog::Embedded();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const Workload workload = ParseWorkloadYaml(text, "workload.yaml");
    ValidateWorkload(workload, catalog);
    // A workload that passes validation must be plannable: the ranges SetWorkloadField enforces
    // are what keeps the arithmetic finite, and this checks they are enough.
    const Plan plan = MakePlan(workload, catalog, PlanOptions{.explain = true, .projection = true});
    if (plan.tier == nullptr || plan.layout.empty()) {
      __builtin_trap();
    }
  } catch (const crm::InputError&) {
    // Expected: the bytes are not a valid workload.
  }
  return 0;
}
