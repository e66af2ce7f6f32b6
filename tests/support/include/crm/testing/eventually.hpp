// Polling with a deadline, for tests that wait on another process (never a timing assertion).
#pragma once

#include <chrono>
#include <thread>

namespace crm::testing {

/// Polls `done` every `every` until it holds or `limit` has passed; its last answer.
template <class F>
bool Eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(30),
                std::chrono::milliseconds every = std::chrono::milliseconds(100)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(every);
  }
  return done();
}

}  // namespace crm::testing
