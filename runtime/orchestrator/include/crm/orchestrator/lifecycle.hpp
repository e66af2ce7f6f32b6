// The slice lifecycle (docs/architecture.md, "Lifecycle"): which states exist and which transitions
// are legal.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace crm::orchestrator {

enum class SliceState { kProvisioning, kAvailable, kAssigned, kSuspended, kDestroying, kDestroyed };

/// Every state, in lifecycle order.
inline constexpr std::array<SliceState, 6> kSliceStates = {
    SliceState::kProvisioning, SliceState::kAvailable,  SliceState::kAssigned,
    SliceState::kSuspended,    SliceState::kDestroying, SliceState::kDestroyed};

/// The state's name in the database and in JSON ("assigned"): the only place states are
/// strings.
std::string_view ToString(SliceState state);
/// Throws InputError on an unknown name.
SliceState ParseSliceState(std::string_view text);

/// provisioning → available → assigned ⇄ suspended; any live state → destroying → destroyed.
bool CanTransition(SliceState from, SliceState to);

/// Throws Conflict ("slice 7 is suspended: cannot go to available", HTTP 409) when illegal.
void CheckTransition(long long slice_id, SliceState from, SliceState to);

}  // namespace crm::orchestrator
