#include "crm/http/metrics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace crm::http {
namespace {

// The value of `series` in an exposition, or "" when it has none.
std::string Value(const std::string& text, const std::string& series) {
  std::size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) {
    return "";
  }
  at += series.size() + 2;
  return text.substr(at, text.find('\n', at) - at);
}

TEST(MetricsTest, RequestsObservedOnManyThreadsAreAllCountedInTheirClassAndBucket) {
  Metrics metrics;
  // More threads than shards, so some share one.
  constexpr int kThreads = 24;
  constexpr int kEach = 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < kEach; ++i) {
        // Even threads answer 200 in 0.3 ms; odd ones 503 in exactly 1 ms (a bound: `le`
        // counts it there) and, every 100th, 404 in 20 s (past every bound).
        if (t % 2 == 0) {
          metrics.ObserveRequest(200, 0.0003);
        } else if (i % 100 == 0) {
          metrics.ObserveRequest(404, 20.0);
        } else {
          metrics.ObserveRequest(503, 0.001);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  metrics.ObserveRequest(999, 0.0);  // no class: "other"

  std::string text = metrics.Serialize();
  EXPECT_EQ(Value(text, "crm_http_requests_total{code=\"2xx\"}"), "12000");
  EXPECT_EQ(Value(text, "crm_http_requests_total{code=\"5xx\"}"), "11880");
  EXPECT_EQ(Value(text, "crm_http_requests_total{code=\"4xx\"}"), "120");
  EXPECT_EQ(Value(text, "crm_http_requests_total{code=\"other\"}"), "1");
  EXPECT_EQ(Value(text, "crm_http_requests_total{code=\"3xx\"}"), "") << "never answered";
  // Cumulative buckets: 0.0005 holds the 12,000 fast ones and the 0 s one; 0.001 adds the
  // 11,880 of exactly 1 ms; only +Inf holds the 120 slow ones.
  EXPECT_EQ(Value(text, "crm_http_request_duration_seconds_bucket{le=\"0.0005\"}"), "12001");
  EXPECT_EQ(Value(text, "crm_http_request_duration_seconds_bucket{le=\"0.001\"}"), "23881");
  EXPECT_EQ(Value(text, "crm_http_request_duration_seconds_bucket{le=\"10\"}"), "23881");
  EXPECT_EQ(Value(text, "crm_http_request_duration_seconds_bucket{le=\"+Inf\"}"), "24001");
  EXPECT_EQ(Value(text, "crm_http_request_duration_seconds_count"), "24001");
  // 12,000 × 0.3 ms + 11,880 × 1 ms + 120 × 20 s = 3.6 + 11.88 + 2400.
  EXPECT_EQ(Value(text, "crm_http_request_duration_seconds_sum"), "2415.48");
  EXPECT_NE(text.find("# TYPE crm_http_request_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("# TYPE crm_http_requests_total counter"), std::string::npos);
}

TEST(MetricsTest, RegisteredAndPerScrapeFamiliesFollowTheRequestSeries) {
  Metrics metrics;
  prometheus::BuildGauge()
      .Name("crm_test_gauge")
      .Help("a registered gauge")
      .Register(metrics.registry())
      .Add({})
      .Set(7);
  prometheus::MetricFamily extra{
      "crm_test_extra", "built per scrape", prometheus::MetricType::Gauge, {}};
  prometheus::ClientMetric one;
  one.gauge.value = 3;
  extra.metric.push_back(one);

  std::string text = metrics.Serialize({extra});
  EXPECT_EQ(Value(text, "crm_test_gauge"), "7");
  EXPECT_EQ(Value(text, "crm_test_extra"), "3");
  EXPECT_EQ(Value(text, "crm_http_request_duration_seconds_count"), "0");
  EXPECT_LT(text.find("crm_http_request_duration_seconds"), text.find("crm_test_gauge"));
  EXPECT_LT(text.find("crm_test_gauge"), text.find("crm_test_extra"));
}

}  // namespace
}  // namespace crm::http
