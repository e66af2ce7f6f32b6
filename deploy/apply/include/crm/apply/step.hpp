// One step of an apply as the operator sees it: "  what ... ok (1.23 s)" or "failed (0.20 s)".
#pragma once

#include <chrono>
#include <string>

namespace crm::apply {

class Step {
 public:
  /// Prints "  what ... " (unless `quiet`); the destructor prints "failed" unless Done was called.
  Step(bool quiet, const std::string& what);
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

}  // namespace crm::apply
