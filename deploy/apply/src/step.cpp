#include "crm/apply/step.hpp"

#include <fmt/format.h>

#include <iostream>

namespace crm::apply {

Step::Step(bool quiet, const std::string& what)
    : quiet_(quiet), start_(std::chrono::steady_clock::now()) {
  if (!quiet_) {
    std::cout << "  " << what << " ... " << std::flush;
  }
}

Step::~Step() {
  if (!done_ && !quiet_) {
    std::cout << "failed (" << FormatSeconds(std::chrono::steady_clock::now() - start_) << ")\n"
              << std::flush;
  }
}

void Step::Done(const std::string& note) {
  done_ = true;
  if (!quiet_) {
    std::cout << "ok (" << FormatSeconds(std::chrono::steady_clock::now() - start_) << ")"
              << (note.empty() ? "" : " " + note) << "\n"
              << std::flush;
  }
}

std::string FormatSeconds(std::chrono::steady_clock::duration d) {
  const double s = std::chrono::duration<double>(d).count();
  return s < 1.0 ? fmt::format("{:.0f} ms", s * 1000) : fmt::format("{:.2f} s", s);
}

}  // namespace crm::apply
