// When apply and destroy may change things.
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

/// The operator's answer to "apply these changes?": only "yes" approves.
bool IsApproval(const char* answer);

}  // namespace crm::apply
