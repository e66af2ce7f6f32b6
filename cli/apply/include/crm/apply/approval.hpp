// When apply and destroy may change things, and what their exit codes are.
#pragma once

namespace crm::apply {

enum class Approval {
  kNothingToDo,  ///< no changes: nothing to approve
  kDryRun,       ///< --dry-run: print the plan, change nothing
  kApproved,     ///< --auto-approve
  kAsk,          ///< a terminal: ask "yes" before changing anything
  kRefuse,       ///< no terminal and no --auto-approve: refuse, change nothing
};

Approval DecideApproval(bool has_changes, bool dry_run, bool auto_approve, bool interactive);

/// The exit code of an apply that got as far as `succeeded` (false: an error), with or without
/// --detailed-exitcode (then 0 no changes, 1 error, 2 changes present; else 0 ok, 1 error).
int ApplyExitCode(bool detailed, bool succeeded, bool had_changes);

/// The operator's answer to "apply these changes?": only "yes" approves.
bool IsApproval(const char* answer);

}  // namespace crm::apply
