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

TEST(RateLimiterTest, AFloodOfAddressesStaysBounded) {
  RateLimiter limiter(5, 60s, 100);
  RateLimiter::Clock::time_point t0{};
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(limiter.Attempt("10.0.0." + std::to_string(i), t0), 0s);
  }
  EXPECT_GT(limiter.Attempt("10.0.1.1", t0 + 1s), 0s)
      << "table full of live entries: refuse, do not grow";
  EXPECT_EQ(limiter.Attempt("10.0.1.1", t0 + 61s), 0s)
      << "expired entries are dropped to make room";
}

}  // namespace
}  // namespace crm::gateway
