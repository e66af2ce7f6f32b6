#include "crm/apply/approval.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "crm/error.hpp"

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

bool ConfirmChanges(bool dry_run, bool auto_approve, const std::string& verb) {
  const bool interactive = ::isatty(STDIN_FILENO) == 1;
  switch (DecideApproval(true, dry_run, auto_approve, interactive)) {
    case Approval::kNothingToDo:
      return false;
    case Approval::kDryRun:
      std::cout << "Dry run: nothing was changed.\n";
      return false;
    case Approval::kApproved:
      return true;
    case Approval::kRefuse:
      throw InputError(fmt::format(
          "refusing to {} without approval: stdin is not a terminal; review the plan above and "
          "pass --auto-approve",
          verb));
    case Approval::kAsk:
      break;
  }
  std::cout << fmt::format("\nDo you want to {}? Only 'yes' is accepted: ", verb) << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  if (!IsApproval(answer.c_str())) {
    throw InputError("not approved (the answer was not 'yes'); nothing was changed");
  }
  return true;
}

}  // namespace crm::apply
