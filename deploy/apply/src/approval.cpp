#include "crm/apply/approval.hpp"

#include <string>

namespace crm::apply {

Approval DecideApproval(bool has_changes, bool dry_run, bool auto_approve, bool interactive) {
  if (!has_changes) {
    return Approval::kNothingToDo;
  }
  if (dry_run) {
    return Approval::kDryRun;
  }
  if (auto_approve) {
    return Approval::kApproved;
  }
  return interactive ? Approval::kAsk : Approval::kRefuse;
}

bool IsApproval(const char* answer) {
  if (answer == nullptr) {
    return false;
  }
  std::string text(answer);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text == "yes";
}

}  // namespace crm::apply
