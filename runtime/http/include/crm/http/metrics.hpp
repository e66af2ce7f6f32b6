// Prometheus metrics of one crmd process: a registry, the HTTP server's own series, and the
// text exposition for /metrics.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace crm::http {

class Metrics {
 public:
  /// crm_http_request_duration_seconds' upper bounds; a last bucket, +Inf, takes the rest.
  static constexpr std::array<double, 14> kLatencyBounds{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  Metrics();
  prometheus::Registry& registry() { return *registry_; }
  /// Counts one answered request and its latency. Safe from any thread.
  void ObserveRequest(unsigned status, double seconds);
  /// The exposition in Prometheus text format 0.0.4: the HTTP server's series, the registry's
  /// families, then `extra` (families built per scrape, whose series come and go with what they
  /// describe).
  std::string Serialize(const std::vector<prometheus::MetricFamily>& extra = {}) const;

 private:
  /// The request series are counted per thread and summed when scraped: every event loop
  /// answers requests, and one shared series (prometheus-cpp's histogram takes a lock, its
  /// counters compare-and-swap a double) moved its cache lines between the cores on every
  /// request (docs/benchmarks.md, "Gateway proxy"). A thread takes the next shard in turn;
  /// threads beyond kShards share one, which the atomic additions keep exact.
  static constexpr std::size_t kShards = 16;
  struct alignas(64) Shard {
    std::array<std::atomic<std::uint64_t>, 6> by_class{};  // 1xx … 5xx, other
    std::array<std::atomic<std::uint64_t>, kLatencyBounds.size() + 1> by_bucket{};
    std::atomic<std::uint64_t> nanoseconds{0};
  };
  std::vector<prometheus::MetricFamily> RequestFamilies() const;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace crm::http
