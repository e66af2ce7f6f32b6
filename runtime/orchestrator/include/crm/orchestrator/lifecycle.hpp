// The slice lifecycle of SPEC §7.3: which states exist and which transitions are legal.
#pragma once

#include <string>
#include <string_view>

namespace crm::orchestrator {

enum class SliceState { kProvisioning, kAvailable, kAssigned, kSuspended, kDestroying, kDestroyed };

std::string_view ToString(SliceState state);
/// Throws InputError on an unknown name.
SliceState ParseSliceState(std::string_view text);

/// provisioning → available → assigned ⇄ suspended; any live state → destroying → destroyed.
bool CanTransition(SliceState from, SliceState to);

/// Throws Conflict ("slice 7 is suspended: cannot go to available", HTTP 409) when illegal.
void CheckTransition(long long slice_id, SliceState from, SliceState to);

}  // namespace crm::orchestrator
