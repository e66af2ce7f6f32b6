#include "crm/orchestrator/lifecycle.hpp"

#include <array>

#include "crm/error.hpp"

namespace crm::orchestrator {
namespace {
constexpr std::array<std::string_view, 6> kNames = {"provisioning", "available",  "assigned",
                                                    "suspended",    "destroying", "destroyed"};
}

std::string_view ToString(SliceState state) {
  return kNames[static_cast<std::size_t>(state)];
}

SliceState ParseSliceState(std::string_view text) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == text) {
      return static_cast<SliceState>(i);
    }
  }
  throw InputError("unknown slice state \"" + std::string(text) + "\"");
}

bool CanTransition(SliceState from, SliceState to) {
  using S = SliceState;
  switch (from) {
    case S::kProvisioning:
      return to == S::kAvailable || to == S::kAssigned || to == S::kDestroying;
    case S::kAvailable:
      return to == S::kAssigned || to == S::kDestroying;
    case S::kAssigned:
      return to == S::kSuspended || to == S::kDestroying;
    case S::kSuspended:
      return to == S::kAssigned || to == S::kDestroying;
    case S::kDestroying:
      return to == S::kDestroyed;
    case S::kDestroyed:
      return false;
  }
  return false;
}

void CheckTransition(long long slice_id, SliceState from, SliceState to) {
  if (!CanTransition(from, to)) {
    throw Conflict("slice " + std::to_string(slice_id) + " is " + std::string(ToString(from)) +
                   ": cannot go to " + std::string(ToString(to)));
  }
}

}  // namespace crm::orchestrator
