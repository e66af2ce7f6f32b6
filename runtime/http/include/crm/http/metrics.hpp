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
#include <memory>
#include <string>
#include <vector>

namespace crm::http {

class Metrics {
 public:
  Metrics();
  prometheus::Registry& registry() { return *registry_; }
  /// Counts one answered request and its latency.
  void ObserveRequest(unsigned status, double seconds);
  /// The exposition in Prometheus text format 0.0.4: the registry's families, then `extra`
  /// (families built per scrape, whose series come and go with what they describe).
  std::string Serialize(const std::vector<prometheus::MetricFamily>& extra = {}) const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  /// The series of each status class (1xx … 5xx, other), made on first use: looking a series up
  /// by its labels builds a label map and takes the family's lock, on every request otherwise.
  std::array<std::atomic<prometheus::Counter*>, 6> requests_by_class_{};
  prometheus::Histogram* latency_;
};

}  // namespace crm::http
