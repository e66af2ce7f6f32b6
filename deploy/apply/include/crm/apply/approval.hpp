// When apply and destroy may change things.
#pragma once

#include <string>

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

/// Whether to go on with `verb` ("apply these changes", "restore"), for changes already printed:
/// --dry-run says so and stops (false), --auto-approve goes on, a terminal on stdin is asked
/// and only "yes" goes on; anything else throws InputError, changing nothing.
bool ConfirmChanges(bool dry_run, bool auto_approve, const std::string& verb);

}  // namespace crm::apply
