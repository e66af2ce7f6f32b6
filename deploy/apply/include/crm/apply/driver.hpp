// The one driver of apply, destroy and status for every DeployTarget (target.hpp): it checks the
// deployment directory is crmctl's, holds its lock, loads and saves the recorded state, compares
// what the target wants with what it observes, prints the plan, asks for approval, and says what
// came of it. Exit codes are the caller's (cli/apply_cmd.cpp maps the Outcome).
#pragma once

#include <filesystem>

#include "crm/apply/target.hpp"
#include "crm/planner/plan.hpp"

namespace crm::apply {

struct ApplyFlags {
  bool dry_run = false;       ///< print the plan, change nothing
  bool auto_approve = false;  ///< change without asking
};

enum class Outcome {
  kNoChanges,  ///< everything already matched: nothing was done
  kChanges,    ///< there were changes: made, or (dry run) only shown
};

/// The plan applied last, beside state.json: a plain re-apply converges to it again.
std::filesystem::path RecordedPlanPath(const std::filesystem::path& dir);

class ApplyDriver {
 public:
  ApplyDriver(Console console, ApplyFlags flags) : console_(console), flags_(flags) {}

  /// Converges `target` to `plan`. Refuses a directory crmctl did not make and one holding
  /// another target's deployment (InputError); without --auto-approve on no terminal, or when
  /// the answer is not "yes", it changes nothing and throws InputError. After a real apply the
  /// plan is recorded (RecordedPlanPath).
  Outcome Apply(DeployTarget& target, const planner::Plan& plan);

  /// Stops `target`'s deployment; with `purge` removes its directory too. Same approval rule.
  /// Throws InputError when nothing was applied there.
  Outcome Destroy(DeployTarget& target, bool purge);

  /// The deployment's status. Throws InputError when nothing was applied there.
  StatusReport Status(DeployTarget& target, const SliceCounter& count_slices) const;

 private:
  /// Whether `verb` ("apply these changes", "stop it") may go on: --dry-run stops here,
  /// --auto-approve goes on, a terminal is asked for "yes", anything else is refused.
  bool Approve(const std::string& verb) const;

  Console console_;
  ApplyFlags flags_;
};

}  // namespace crm::apply
