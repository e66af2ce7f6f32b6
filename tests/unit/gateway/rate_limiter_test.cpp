#include "crm/gateway/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace crm::gateway {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiterTest, AllowsFivePerMinutePerAddressThenSaysWhenToRetry) {
  RateLimiter limiter(5, 60s);
  RateLimiter::Clock::time_point t0{};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(limiter.Attempt("203.0.113.9", t0 + std::chrono::seconds(i)), 0s) << i;
  }
  EXPECT_EQ(limiter.Attempt("203.0.113.9", t0 + 10s), 50s);
  EXPECT_EQ(limiter.Attempt("198.51.100.1", t0 + 10s), 0s) << "another address has its own budget";
  EXPECT_EQ(limiter.Attempt("203.0.113.9", t0 + 60s), 0s) << "the first attempt left the window";
  EXPECT_GT(limiter.Attempt("203.0.113.9", t0 + 60s), 0s);
}

TEST(RateLimiterTest, RefusedAttemptsDoNotExtendTheWindow) {
  RateLimiter limiter(1, 60s);
  RateLimiter::Clock::time_point t0{};
  EXPECT_EQ(limiter.Attempt("a", t0), 0s);
  for (int i = 1; i < 59; ++i) {
    EXPECT_GT(limiter.Attempt("a", t0 + std::chrono::seconds(i)), 0s);
  }
  EXPECT_EQ(limiter.Attempt("a", t0 + 60s), 0s);
}

TEST(RateLimiterTest, AFullTableEvictsTheQuietestKeyAndStillAdmitsNewClients) {
  RateLimiter limiter(5, 60s, 100);
  RateLimiter::Clock::time_point t0{};
  // A flood of distinct addresses, all inside the window, well past the table's size.
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(
        limiter.Attempt("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), t0), 0s);
  }
  EXPECT_EQ(limiter.size(), 100u) << "bounded";
  EXPECT_EQ(limiter.Attempt("203.0.113.9", t0 + 1s), 0s) << "a fresh client still passes";
  EXPECT_EQ(limiter.size(), 100u);
}

TEST(RateLimiterTest, EvictionSparesTheKeysAttemptedMostRecently) {
  RateLimiter limiter(2, 60s, 3);
  RateLimiter::Clock::time_point t0{};
  EXPECT_EQ(limiter.Attempt("attacker", t0), 0s);
  EXPECT_EQ(limiter.Attempt("a", t0), 0s);
  EXPECT_EQ(limiter.Attempt("b", t0), 0s);
  EXPECT_EQ(limiter.Attempt("attacker", t0 + 1s), 0s);  // its last allowed try, now the newest
  EXPECT_EQ(limiter.Attempt("c", t0 + 2s), 0s);         // evicts "a", the quietest
  EXPECT_GT(limiter.Attempt("attacker", t0 + 3s), 0s) << "still remembered and limited";
}

}  // namespace
}  // namespace crm::gateway
