// Two assignments to one user at once (docs/architecture.md, "Lifecycle", Register): a
// sign-up's AssignWarm and the orchestrator's refill, which gives waiting accounts a slice, in one
// process or two. Against a real PostgreSQL, without an HTTP server in between.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <pqxx/pqxx>
#include <thread>

#include "crm/gateway/account_store.hpp"
#include "crm/orchestrator/slice_store.hpp"
#include "orchestrator_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

class SliceAssignmentTest : public OrchestratorDbTest {
 protected:
  long long AvailableSlice() {
    return pool_->Write([](pqxx::work& tx) {
      orchestrator::SliceStore slices(tx);
      const long long id = slices.Insert(1000, 1000, "rlimit-as");
      slices.Transition(id, orchestrator::SliceState::kAvailable, "test");
      return id;
    });
  }

  // Whether some session of the cluster waits for a lock another holds.
  bool SomeoneWaitsForALock() {
    pqxx::connection c(pg_->ConnectionString());
    pqxx::read_transaction tx(c);
    return tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0]
               .as<long long>() > 0;
  }
};

// The refill is assigning the only warm slice to the user who is signing up, and has not committed
// yet. The sign-up's assignment used to skip that slice as a row another holds, find nothing and
// fail the sign-up with "no slice could be assigned" (a CI run of the rendered tier 4 layout did);
// it waits for the user instead, then answers with the refill's slice.
TEST_F(SliceAssignmentTest, ASignUpWaitsForTheRefillAssigningToTheSameUserAndGetsItsSlice) {
  const long long user = pool_->Write(
      [](pqxx::work& tx) { return gateway::UserStore(tx).Create("ana@example.com", "hash"); });
  const long long slice = AvailableSlice();

  pqxx::connection refill_connection(pg_->ConnectionString());
  pqxx::work refill(refill_connection);
  orchestrator::SliceStore refill_store(refill);
  ASSERT_TRUE(refill_store.LockUser(user));
  ASSERT_EQ(refill_store.TakeAvailable(user), slice);

  auto signup = std::async(std::launch::async, [&] { return orchestrator_->AssignWarm(user); });
  // Until the refill commits, the sign-up waits on the user's lock (a deadline only against a
  // hang: the condition is a state, not a duration).
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (signup.wait_for(0s) != std::future_status::ready && !SomeoneWaitsForALock() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(signup.wait_for(0s), std::future_status::ready)
      << "the sign-up answered before the refill committed";
  refill.commit();
  EXPECT_EQ(signup.get(), slice);

  // One live slice for the user, the one the refill gave; a second sign-up attempt answers the
  // same, and a user that does not exist gets none.
  EXPECT_EQ(orchestrator_->AssignWarm(user), slice);
  const long long other = AvailableSlice();
  EXPECT_EQ(orchestrator_->AssignWarm(user), slice);
  EXPECT_EQ(orchestrator_->AssignWarm(user + 1000), std::nullopt);
  EXPECT_EQ(pool_->Read([other](pqxx::read_transaction& tx) {
    return orchestrator::SliceStore(tx).Get(other).state;
  }),
            orchestrator::SliceState::kAvailable);
}

}  // namespace
}  // namespace crm::testing
