#include "crm/orchestrator/lifecycle.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::orchestrator {
namespace {

using S = SliceState;

TEST(SliceLifecycleTest, FollowsTheSpecsPath) {
  EXPECT_TRUE(CanTransition(S::kProvisioning, S::kAvailable));
  EXPECT_TRUE(CanTransition(S::kAvailable, S::kAssigned));
  EXPECT_TRUE(CanTransition(S::kAssigned, S::kSuspended));
  EXPECT_TRUE(CanTransition(S::kSuspended, S::kAssigned));
  EXPECT_TRUE(CanTransition(S::kSuspended, S::kDestroying));
  EXPECT_TRUE(CanTransition(S::kDestroying, S::kDestroyed));
}

TEST(SliceLifecycleTest, RefusesIllegalTransitions) {
  EXPECT_FALSE(CanTransition(S::kAvailable, S::kSuspended));
  EXPECT_FALSE(CanTransition(S::kAssigned, S::kAvailable))
      << "a tenant's data never goes back to the warm pool";
  EXPECT_FALSE(CanTransition(S::kDestroyed, S::kAssigned));
  EXPECT_FALSE(CanTransition(S::kDestroying, S::kAssigned));
  EXPECT_FALSE(CanTransition(S::kSuspended, S::kSuspended));
  try {
    CheckTransition(7, S::kSuspended, S::kAvailable);
    FAIL();
  } catch (const Conflict& e) {
    EXPECT_STREQ(e.what(), "slice 7 is suspended: cannot go to available");
  }
}

TEST(SliceLifecycleTest, NamesRoundTrip) {
  for (auto s : kSliceStates) {
    EXPECT_EQ(ParseSliceState(ToString(s)), s);
  }
  EXPECT_EQ(ToString(S::kAssigned), "assigned");
  EXPECT_THROW(ParseSliceState("paused"), InputError);
}

}  // namespace
}  // namespace crm::orchestrator
