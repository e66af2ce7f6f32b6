#include "crm/queue/rate.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::queue {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucket, StartsFullThenRefillsAtItsRateOnAFakeClock) {
  Clock::time_point t0{};
  TokenBucket bucket(250, 250, t0);
  EXPECT_EQ(bucket.Take(1000, t0), 250) << "a full second's burst at once";
  EXPECT_EQ(bucket.Take(1, t0), 0);
  EXPECT_EQ(bucket.NextToken(t0), t0 + 4ms) << "one token every 1/250 s";
  EXPECT_EQ(bucket.Take(10, t0 + 40ms), 10);
  EXPECT_EQ(bucket.Take(10, t0 + 40ms), 0);
  // Over ten simulated seconds, never more than rate × time (+ the initial burst).
  int sent = 0;
  for (int ms = 41; ms <= 10'040; ++ms) {
    sent += bucket.Take(1000, t0 + std::chrono::milliseconds(ms));
  }
  EXPECT_EQ(sent, 2500);
  EXPECT_EQ(bucket.Take(1000, t0 + 20s), 250) << "refills up to the burst, no further";
}

TEST(TokenBucket, APauseEmptiesItUntilTheProviderSaysSo) {
  Clock::time_point t0{};
  TokenBucket bucket(100, 100, t0);
  bucket.PauseUntil(t0 + 2s);
  EXPECT_EQ(bucket.Take(1, t0 + 1s), 0);
  EXPECT_EQ(bucket.NextToken(t0 + 1s), t0 + 2s + 10ms);
  EXPECT_EQ(bucket.Take(100, t0 + 2s + 500ms), 50) << "refilling starts when the pause ends";
}

TEST(TokenBucket, AFractionalRateStillGivesWholeTokens) {
  Clock::time_point t0{};
  TokenBucket bucket(0.5, 1, t0);  // one message every two seconds
  EXPECT_EQ(bucket.Take(5, t0), 1);
  EXPECT_EQ(bucket.Take(5, t0 + 1s), 0);
  EXPECT_EQ(bucket.Take(5, t0 + 2s), 1);
}

TEST(PairLimiter, ARecipientGetsABurstThenOneMessagePerInterval) {
  Clock::time_point t0{};
  PairLimiter pairs(6s, 3);
  std::chrono::milliseconds wait{0};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(pairs.Allow("+14155550100", t0, &wait));
  }
  EXPECT_FALSE(pairs.Allow("+14155550100", t0, &wait));
  EXPECT_EQ(wait, 6s);
  EXPECT_TRUE(pairs.Allow("+14155550101", t0, &wait)) << "other recipients are not held back";
  EXPECT_TRUE(pairs.Allow("+14155550100", t0 + 6s, &wait));
  EXPECT_EQ(pairs.tracked(), 2u);
  pairs.Prune(t0 + 60s);
  EXPECT_EQ(pairs.tracked(), 0u) << "full buckets are forgotten";
}

TEST(RetryDelay, DoublesUpToTheCapWithEqualJitter) {
  EXPECT_EQ(RetryDelay(1, 1s, 300s, 0.0), 500ms);
  EXPECT_EQ(RetryDelay(1, 1s, 300s, 1.0), 1s);
  EXPECT_EQ(RetryDelay(4, 1s, 300s, 0.0), 4s);
  EXPECT_EQ(RetryDelay(4, 1s, 300s, 0.5), 6s);
  EXPECT_EQ(RetryDelay(30, 1s, 300s, 1.0), 300s) << "capped";
  EXPECT_EQ(RetryDelay(1000, 1s, 300s, 0.0), 150s) << "no overflow far past the cap";
}

TEST(ShardRange, ParsesPercentRangesAndSplitsOrdinalsWithoutGapsOrOverlap) {
  EXPECT_EQ(ParseShardRange("0-50").to, 50);
  EXPECT_EQ(ParseShardRange("50-100").from, 50);
  for (const char* bad : {"", "50", "50-50", "60-40", "0-101", "-1-5", "a-b", "0-50x"}) {
    EXPECT_THROW(ParseShardRange(bad), InputError) << bad;
  }
  for (int count : {1, 3, 7}) {
    int covered = 0;
    int next = 0;
    for (int i = 0; i < count; ++i) {
      ShardRange r = ShardOfOrdinal(i, count);
      EXPECT_EQ(r.from, next);
      covered += r.to - r.from;
      next = r.to;
    }
    EXPECT_EQ(covered, 100);
  }
  EXPECT_THROW(ShardOfOrdinal(3, 3), InputError);
  // Every slice lands in exactly one of the ranges, and neighbouring ids spread out.
  std::vector<ShardRange> ranges = {ShardOfOrdinal(0, 2), ShardOfOrdinal(1, 2)};
  int first = 0;
  for (long long id = 1; id <= 1000; ++id) {
    EXPECT_NE(ranges[0].Owns(id), ranges[1].Owns(id));
    first += ranges[0].Owns(id) ? 1 : 0;
  }
  EXPECT_GT(first, 400);
  EXPECT_LT(first, 600);
}

}  // namespace
}  // namespace crm::queue
