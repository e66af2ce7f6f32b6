#include "crm/queue/rate.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

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

TEST(TokenBucket, AvailableSaysWhatTakeWouldGiveWithoutTakingIt) {
  Clock::time_point t0{};
  TokenBucket bucket(250, 250, t0);
  EXPECT_EQ(bucket.Available(t0), 250);
  EXPECT_EQ(bucket.Available(t0), 250) << "looking takes nothing";
  EXPECT_EQ(bucket.Take(200, t0), 200);
  EXPECT_EQ(bucket.Available(t0), 50);
  EXPECT_EQ(bucket.Available(t0 + 40ms), 60) << "refilled at its rate";
  bucket.PauseUntil(t0 + 1s);
  EXPECT_EQ(bucket.Available(t0 + 500ms), 0) << "none while paused";
  EXPECT_EQ(bucket.Available(t0 + 1s + 20ms), 5) << "refilling starts when the pause ends";
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

// TenantBucket before basis points (0…99): the reference the finer bucket must agree with, so
// that a percent range owns the same tenants after an upgrade.
int PercentBucketOfEarlierReleases(long long slice_id) {
  auto x = static_cast<std::uint64_t>(slice_id);
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return static_cast<int>(x % 100);
}

TEST(TenantBucket, IsABasisPointWhoseHundredthIsThePercentBucketOfEarlierReleases) {
  std::vector<int> per_bucket(10'000);
  std::vector<int> per_hundredth(100);
  const ShardRange quarter = ParseShardRange("25-50");
  for (long long id = 1; id <= 100'000; ++id) {
    const int bucket = TenantBucket(id);
    ASSERT_GE(bucket, 0) << id;
    ASSERT_LT(bucket, 10'000) << id;
    const int before = PercentBucketOfEarlierReleases(id);
    ASSERT_EQ(bucket / 100, before) << "slice " << id;
    ASSERT_EQ(quarter.Owns(id), before >= 25 && before < 50) << "slice " << id;
    ++per_bucket[static_cast<std::size_t>(bucket)];
    ++per_hundredth[static_cast<std::size_t>(bucket % 100)];
  }
  // The hundredths spread too (1,000 ids each on average, 10 per bucket): a range of a basis
  // point gets its share.
  for (int n : per_hundredth) {
    EXPECT_GT(n, 850);
    EXPECT_LT(n, 1150);
  }
  EXPECT_LT(std::count(per_bucket.begin(), per_bucket.end(), 0), 20);
  EXPECT_LT(*std::max_element(per_bucket.begin(), per_bucket.end()), 30);
}

TEST(ShardRange, ParsesPercentsWithTwoDecimalsAndPrintsThemWithoutTrailingZeros) {
  EXPECT_EQ(ParseShardRange("0-50").from, 0);
  EXPECT_EQ(ParseShardRange("0-50").to, 5'000);
  EXPECT_EQ(ParseShardRange("50-100").from, 5'000);
  EXPECT_EQ(ParseShardRange("12.5-25").from, 1'250);
  EXPECT_EQ(ParseShardRange("0.11-0.22").to, 22);
  EXPECT_EQ(ShardRangeText(ParseShardRange("12.50-25.00")), "12.5-25");
  EXPECT_EQ(ShardRangeText(ParseShardRange("007-010")), "7-10");
  for (const char* text : {"0-50", "50-100", "0-100", "12.5-25", "0.11-0.22", "0-0.01", "99.99-100",
                           "33.3-66.67", "0.5-100"}) {
    EXPECT_EQ(ShardRangeText(ParseShardRange(text)), text);
  }
  // Every basis point reads back as itself.
  for (int bp = 0; bp < 10'000; ++bp) {
    ShardRange r{bp, bp + 1};
    ASSERT_EQ(ParseShardRange(ShardRangeText(r)).from, bp) << ShardRangeText(r);
    ASSERT_EQ(ParseShardRange(ShardRangeText(r)).to, bp + 1) << ShardRangeText(r);
  }
  for (const char* bad : {"",     "0-0",   "50-40",   "0-100.01", "1.234-2", "-1-5",  "a-b",
                          "50",   "50-50", "0-101",   "0-50x",    "1.-2",    ".5-1",  "0 -5",
                          "+1-5", "0-1e2", "0-50-60", "0,5-1",    "100-100", "0-1000"}) {
    try {
      ParseShardRange(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("\"" + std::string(bad) + "\""), std::string::npos)
          << e.what();
    }
  }
}

TEST(ShardRange, OrdinalsTileTheSpaceWithNonEmptyRangesInWholePercentsUpToAHundredHosts) {
  for (int count : {1, 3, 7, 100, 101, 902, 10'000}) {
    int next = 0;
    for (int i = 0; i < count; ++i) {
      ShardRange r = ShardOfOrdinal(i, count);
      ASSERT_EQ(r.from, next) << i << " of " << count << ": no gap, no overlap";
      ASSERT_LT(r.from, r.to) << i << " of " << count << ": not empty";
      if (count <= 100) {
        // As releases before basis points split them: an upgrade moves no tenant.
        ASSERT_EQ(r.from, i * 100 / count * 100) << i << " of " << count;
        ASSERT_EQ(r.to, (i + 1) * 100 / count * 100) << i << " of " << count;
      }
      next = r.to;
    }
    EXPECT_EQ(next, 10'000) << count;
  }
  EXPECT_EQ(ShardRangeText(ShardOfOrdinal(1, 902)), "0.11-0.22");
  EXPECT_THROW(ShardOfOrdinal(3, 3), InputError);
  EXPECT_THROW(ShardOfOrdinal(-1, 3), InputError);
  EXPECT_THROW(ShardOfOrdinal(0, 0), InputError);
  EXPECT_THROW(ShardOfOrdinal(0, 10'001), InputError);
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
