#include "crm/http/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace crm::http {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("crm_http_requests_total")
                   .Help("HTTP requests answered, by status class")
                   .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("crm_http_request_duration_seconds")
                  .Help("Time from a request's last byte to its response's last byte")
                  .Register(*registry_)
                  .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005,
                                                                   0.01, 0.025, 0.05, 0.1, 0.25,
                                                                   0.5, 1, 2.5, 5, 10});
}

void Metrics::ObserveRequest(unsigned status, double seconds) {
  static const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
  unsigned cls = status / 100;
  std::size_t index = cls >= 1 && cls <= 5 ? cls - 1 : 5;
  prometheus::Counter* counter = requests_by_class_[index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Two threads may both get here: Add returns the one series its labels name.
    counter = &requests_->Add({{"code", kClasses[index]}});
    requests_by_class_[index].store(counter, std::memory_order_release);
  }
  counter->Increment();
  latency_->Observe(seconds);
}

std::string Metrics::Serialize(const std::vector<prometheus::MetricFamily>& extra) const {
  prometheus::TextSerializer serializer;
  auto families = registry_->Collect();
  families.insert(families.end(), extra.begin(), extra.end());
  return serializer.Serialize(families);
}

}  // namespace crm::http
