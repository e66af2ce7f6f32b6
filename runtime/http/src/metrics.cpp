#include "crm/http/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace crm::http {
namespace {

constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

std::size_t ThreadShard(std::size_t shards) {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t taken = next.fetch_add(1, std::memory_order_relaxed);
  return taken % shards;
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      shards_(std::make_unique<Shard[]>(kShards)) {}

void Metrics::ObserveRequest(unsigned status, double seconds) {
  Shard& shard = shards_[ThreadShard(kShards)];
  unsigned cls = status / 100;
  shard.by_class[cls >= 1 && cls <= 5 ? cls - 1 : 5].fetch_add(1, std::memory_order_relaxed);
  // As Prometheus reads `le`: a value equal to a bound is counted in that bound's bucket.
  auto bound = std::lower_bound(kLatencyBounds.begin(), kLatencyBounds.end(), seconds);
  shard.by_bucket[static_cast<std::size_t>(bound - kLatencyBounds.begin())].fetch_add(
      1, std::memory_order_relaxed);
  if (seconds > 0) {
    shard.nanoseconds.fetch_add(static_cast<std::uint64_t>(std::llround(seconds * 1e9)),
                                std::memory_order_relaxed);
  }
}

std::vector<prometheus::MetricFamily> Metrics::RequestFamilies() const {
  std::array<std::uint64_t, std::size(kClasses)> by_class{};
  std::array<std::uint64_t, kLatencyBounds.size() + 1> by_bucket{};
  std::uint64_t nanoseconds = 0;
  for (std::size_t s = 0; s < kShards; ++s) {
    const Shard& shard = shards_[s];
    for (std::size_t i = 0; i < by_class.size(); ++i) {
      by_class[i] += shard.by_class[i].load(std::memory_order_relaxed);
    }
    for (std::size_t i = 0; i < by_bucket.size(); ++i) {
      by_bucket[i] += shard.by_bucket[i].load(std::memory_order_relaxed);
    }
    nanoseconds += shard.nanoseconds.load(std::memory_order_relaxed);
  }

  prometheus::MetricFamily requests{"crm_http_requests_total",
                                    "HTTP requests answered, by status class",
                                    prometheus::MetricType::Counter,
                                    {}};
  // A class appears once it has been answered, as a labelled series does.
  for (std::size_t i = 0; i < by_class.size(); ++i) {
    if (by_class[i] > 0) {
      prometheus::ClientMetric series;
      series.label.push_back({"code", kClasses[i]});
      series.counter.value = static_cast<double>(by_class[i]);
      requests.metric.push_back(std::move(series));
    }
  }

  prometheus::MetricFamily latency{"crm_http_request_duration_seconds",
                                   "Time from a request's last byte to its response's last byte",
                                   prometheus::MetricType::Histogram,
                                   {}};
  prometheus::ClientMetric histogram;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < by_bucket.size(); ++i) {
    cumulative += by_bucket[i];
    histogram.histogram.bucket.push_back(
        {cumulative,
         i < kLatencyBounds.size() ? kLatencyBounds[i] : std::numeric_limits<double>::infinity()});
  }
  histogram.histogram.sample_count = cumulative;
  histogram.histogram.sample_sum = static_cast<double>(nanoseconds) / 1e9;
  latency.metric.push_back(std::move(histogram));
  return {std::move(requests), std::move(latency)};
}

std::string Metrics::Serialize(const std::vector<prometheus::MetricFamily>& extra) const {
  prometheus::TextSerializer serializer;
  auto families = RequestFamilies();
  auto registered = registry_->Collect();
  families.insert(families.end(), std::make_move_iterator(registered.begin()),
                  std::make_move_iterator(registered.end()));
  families.insert(families.end(), extra.begin(), extra.end());
  return serializer.Serialize(families);
}

}  // namespace crm::http
