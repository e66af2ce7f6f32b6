// What every apply target shares: the approval rule, timed steps, port checks and a health probe.
#pragma once

#include <chrono>
#include <string>

#include "cli_context.hpp"
#include "crm/apply/diff.hpp"

namespace crm::cli {

struct ApplyFlags {
  bool dry_run = false;
  bool detailed_exitcode = false;
  bool auto_approve = false;
};

/// Decides whether `verb` ("apply", "destroy") may go on once its plan was printed: --dry-run
/// stops here, --auto-approve goes on, a terminal is asked for "yes", anything else is refused
/// with an InputError (nothing changed). Returns false when there is nothing to do or it is a
/// dry run.
bool ConfirmPlan(bool has_changes, const ApplyFlags& flags, const std::string& verb);

/// One step of an apply: prints what it does, then "ok (1.23 s)" or "failed (0.20 s)".
class Step {
 public:
  Step(const GlobalOptions& global, const std::string& what);
  ~Step();
  Step(const Step&) = delete;
  Step& operator=(const Step&) = delete;
  /// Marks the step done; `note` is printed after the time.
  void Done(const std::string& note = "");

 private:
  bool quiet_;
  bool done_ = false;
  std::chrono::steady_clock::time_point start_;
};

/// "1.23 s" / "120 ms".
std::string FormatSeconds(std::chrono::steady_clock::duration d);

struct HttpAnswer {
  long status = 0;  ///< 0: no answer
  std::string body;
  std::string error;
};
/// GET `url` with a time limit. Never throws.
HttpAnswer HttpGet(const std::string& url, long timeout_ms);

/// The last `lines` lines of a log file ("" when it cannot be read), for error messages.
std::string LogTail(const std::string& path, int lines);

}  // namespace crm::cli
