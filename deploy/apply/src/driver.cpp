#include "crm/apply/driver.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <optional>

#include "crm/apply/approval.hpp"
#include "crm/apply/lock.hpp"
#include "crm/apply/step.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/planner/report.hpp"

namespace crm::apply {
namespace {

namespace fs = std::filesystem;

// A directory crmctl did not make is never taken over.
void CheckOwnDirectory(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw InputError(fmt::format("--dir: {} exists and is not a directory", dir.string()));
  }
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec) && !fs::exists(StatePath(dir))) {
    throw InputError(fmt::format(
        "--dir: {} holds files but no state.json, so crmctl did not make it; choose an empty or "
        "new directory",
        dir.string()));
  }
}

void RequireApplied(const fs::path& dir) {
  if (!fs::exists(StatePath(dir))) {
    throw InputError(
        fmt::format("--dir: {} has no state.json: nothing was applied there", dir.string()));
  }
}

// A directory holds one target's deployment.
void CheckKind(const DeploymentState& state, const DeployTarget& target) {
  const std::string_view kind = target.Kind();
  if (!state.target.empty() && state.target != kind) {
    throw InputError(fmt::format("--dir: {} holds a {} deployment, not {} {} one",
                                 target.Dir().string(), state.target, kind == "ssh" ? "an" : "a",
                                 kind));
  }
}

ApplyLock TakeLock(const fs::path& dir, bool quiet) {
  ApplyLock lock = ApplyLock::Acquire(LockPath(dir));
  if (lock.stale_pid() && !quiet) {
    std::cout << fmt::format(
        "Note: {} was left by process {}, which is no longer running; taking it over.\n",
        LockPath(dir).string(), *lock.stale_pid());
  }
  return lock;
}

// A new deployment's directory, made once the apply is approved.
ApplyLock CreateAndLock(const fs::path& dir, bool quiet) {
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0755);
  ApplyLock lock = TakeLock(dir, quiet);
  if (fs::exists(StatePath(dir))) {
    throw RuntimeError(fmt::format(
        "{} was created by another crmctl while this one waited for approval; run apply again",
        dir.string()));
  }
  return lock;
}

void RecordPlan(const fs::path& dir, const planner::Plan& plan) {
  if (fs::exists(StatePath(dir))) {
    WriteFileAtomic(RecordedPlanPath(dir), planner::PlanToJson(plan).dump(2) + "\n", 0644);
  }
}

}  // namespace

fs::path RecordedPlanPath(const fs::path& dir) {
  return dir / "plan.json";
}

Outcome ApplyDriver::Apply(DeployTarget& target, const planner::Plan& plan) {
  const auto started = std::chrono::steady_clock::now();
  const fs::path& dir = target.Dir();
  CheckOwnDirectory(dir);
  // An existing deployment is locked from planning to the end, approval prompt included; a new
  // one only once approved, so a refused or dry run leaves no directory behind.
  std::optional<ApplyLock> lock;
  if (!flags_.dry_run && fs::exists(dir)) {
    lock.emplace(TakeLock(dir, console_.quiet));
  }
  DeploymentState state = LoadState(StatePath(dir));
  CheckKind(state, target);
  const std::vector<DesiredHost> desired = target.Desire(plan, state);
  PlanDiff diff = Diff(desired, state, target.Observe(state));

  if (!console_.quiet) {
    std::cout << target.Heading();
  }
  const PlanReview review = target.Review(diff, flags_.dry_run);
  if (!console_.quiet) {
    std::cout << (diff.Empty() ? "" : FormatDiff(diff, console_.color)) << review.notes;
  }
  if (diff.Empty() && !review.unlisted_changes) {
    if (!console_.quiet) {
      std::cout << review.up_to_date;
    }
    if (!flags_.dry_run) {
      RecordPlan(dir, plan);
    }
    return Outcome::kNoChanges;
  }
  if (!Approve("apply these changes")) {
    return Outcome::kChanges;
  }
  if (!lock) {
    lock.emplace(CreateAndLock(dir, console_.quiet));
  }

  if (!console_.quiet) {
    std::cout << "\nApplying:\n";
  }
  state.target = std::string(target.Kind());
  target.Converge(diff, state, [&] { SaveState(StatePath(dir), state); });
  RecordPlan(dir, plan);
  if (!console_.quiet) {
    std::cout << fmt::format("\nApply complete in {}: {} added, {} changed, {} removed.\n",
                             FormatSeconds(std::chrono::steady_clock::now() - started),
                             diff.Count(ChangeKind::kAdd), diff.Count(ChangeKind::kChange),
                             diff.Count(ChangeKind::kRemove))
              << target.Closing();
  }
  return Outcome::kChanges;
}

Outcome ApplyDriver::Destroy(DeployTarget& target, bool purge) {
  const fs::path& dir = target.Dir();
  RequireApplied(dir);
  std::optional<ApplyLock> lock;
  if (!flags_.dry_run) {
    lock.emplace(TakeLock(dir, console_.quiet));
  }
  DeploymentState state = LoadState(StatePath(dir));
  CheckKind(state, target);
  const TeardownPlan teardown = target.PlanTeardown(state, purge);
  if (!console_.quiet) {
    std::cout << teardown.heading;
  }
  if (teardown.diff.Empty()) {
    if (!flags_.dry_run) {
      SaveState(StatePath(dir), state);
    }
    if (!console_.quiet) {
      std::cout << teardown.nothing_to_do;
    }
    return Outcome::kNoChanges;
  }
  if (!console_.quiet) {
    std::cout << FormatDiff(teardown.diff, console_.color);
  }
  if (!Approve(purge ? "destroy it and delete its data" : "stop it")) {
    return Outcome::kChanges;
  }
  target.Teardown(teardown, state);
  if (purge) {
    Step step(console_.quiet, fmt::format("remove {}", dir.string()));
    lock->Release();
    fs::remove_all(dir);
    step.Done();
  } else {
    SaveState(StatePath(dir), state);
  }
  if (!console_.quiet) {
    std::cout << (purge ? std::string("Destroyed; the data is gone.\n") : teardown.stopped);
  }
  return Outcome::kChanges;
}

StatusReport ApplyDriver::Status(DeployTarget& target, const SliceCounter& count_slices) const {
  RequireApplied(target.Dir());
  return target.Status(LoadState(StatePath(target.Dir())), count_slices);
}

bool ApplyDriver::Approve(const std::string& verb) const {
  return ConfirmChanges(flags_.dry_run, flags_.auto_approve, verb);
}

}  // namespace crm::apply
