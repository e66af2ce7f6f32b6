// What counting a request costs when every event loop counts into the same process-wide series,
// as the gateway's two (or more) I/O threads do on every request: crm::http::Metrics (a shard per
// thread, summed when scraped) against the reference, prometheus-cpp's own series shared by all
// threads (a counter and a histogram: a lock and three compare-and-swaps on shared lines), which
// is what Metrics recorded into before. Each is run on 1 thread, then on THREADS at once.
// Usage: crm_metrics_bench [observations per thread, default 2000000] [threads, default 2]
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "crm/http/metrics.hpp"

namespace {

// The latencies the observations record: spread over the low buckets, as a proxy's are.
constexpr double kSeconds[] = {0.0004, 0.0009, 0.0012, 0.003, 0.0007, 0.0021, 0.006, 0.0003};

// Nanoseconds per observation, wall time of `threads` threads each making `each` at once.
double Run(int threads, long each, const std::function<void(unsigned, double)>& observe) {
  std::barrier start(threads + 1);
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&] {
      start.arrive_and_wait();
      for (long i = 0; i < each; ++i) {
        observe(i % 50 == 0 ? 404 : 200, kSeconds[i % 8]);
      }
    });
  }
  start.arrive_and_wait();
  auto began = std::chrono::steady_clock::now();
  for (auto& thread : running) {
    thread.join();
  }
  std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - began;
  return took.count() / static_cast<double>(each);
}

}  // namespace

int main(int argc, char** argv) {
  long each = argc > 1 ? std::atol(argv[1]) : 2'000'000;
  int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  if (each <= 0 || threads <= 0) {
    std::fprintf(stderr, "usage: crm_metrics_bench [observations per thread > 0] [threads > 0]\n");
    return 2;
  }

  auto registry = std::make_shared<prometheus::Registry>();
  auto& requests = prometheus::BuildCounter().Name("requests_total").Register(*registry);
  prometheus::Counter& ok = requests.Add({{"code", "2xx"}});
  prometheus::Counter& missing = requests.Add({{"code", "4xx"}});
  auto& latency = prometheus::BuildHistogram().Name("latency").Register(*registry).Add(
      {}, prometheus::Histogram::BucketBoundaries(crm::http::Metrics::kLatencyBounds.begin(),
                                                  crm::http::Metrics::kLatencyBounds.end()));
  auto shared = [&](unsigned status, double seconds) {
    (status == 200 ? ok : missing).Increment();
    latency.Observe(seconds);
  };
  crm::http::Metrics metrics;
  auto sharded = [&](unsigned status, double seconds) { metrics.ObserveRequest(status, seconds); };

  std::printf(
      "%ld observations per thread; ns per observation (wall time of the threads at once)\n", each);
  std::printf("%-56s %10s %10s\n", "", "1 thread",
              std::to_string(threads).append(" threads").c_str());
  double shared_1 = Run(1, each, shared);
  double shared_n = Run(threads, each, shared);
  double sharded_1 = Run(1, each, sharded);
  double sharded_n = Run(threads, each, sharded);
  std::printf("%-56s %10.1f %10.1f\n", "reference: prometheus-cpp series shared by the threads",
              shared_1, shared_n);
  std::printf("%-56s %10.1f %10.1f\n", "crm::http::Metrics (a shard per thread)", sharded_1,
              sharded_n);
  // The check that nothing was lost: the scrape counts every observation once.
  std::string text = metrics.Serialize();
  std::string count = "crm_http_request_duration_seconds_count " +
                      std::to_string(static_cast<long>(threads + 1) * each);
  if (text.find(count) == std::string::npos) {
    std::fprintf(stderr, "metrics bench: the scrape lost observations (expected \"%s\")\n",
                 count.c_str());
    return 1;
  }
  return 0;
}
