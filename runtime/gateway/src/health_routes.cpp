#include "health_routes.hpp"

#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>

#include "crm/http/response.hpp"
#include "crm/monitor/alert_store.hpp"
#include "crm/monitor/monitor.hpp"
#include "crm/orchestrator/slice_store.hpp"

namespace crm::gateway {
namespace {

using orchestrator::SliceState;
using orchestrator::SliceStore;

// One family of per-slice series, labelled by slice id only: no tenant's address in metrics.
class SliceFamily {
 public:
  SliceFamily(const char* name, const char* help, prometheus::MetricType type) {
    family_.name = name;
    family_.help = help;
    family_.type = type;
  }
  void Add(long long slice_id, double value) {
    prometheus::ClientMetric m;
    m.label.push_back({"slice", std::to_string(slice_id)});
    if (family_.type == prometheus::MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    family_.metric.push_back(std::move(m));
  }
  prometheus::MetricFamily Take() { return std::move(family_); }

 private:
  prometheus::MetricFamily family_;
};

// The monitor's latest pass and the open alerts, built per scrape so that a destroyed slice's
// series are gone at the next scrape instead of lingering in the registry.
std::vector<prometheus::MetricFamily> MonitorFamilies(
    const std::vector<monitor::SliceGauges>& slices,
    const std::map<std::pair<std::string, std::string>, long long>& alerts_open) {
  using prometheus::MetricType;
  SliceFamily memory("crm_slice_memory_bytes",
                     "Slice memory (its cgroup's memory.current, else its process's RSS)",
                     MetricType::Gauge);
  SliceFamily limit("crm_slice_memory_limit_bytes", "Slice memory limit", MetricType::Gauge);
  SliceFamily storage("crm_slice_storage_bytes", "Slice storage (its schema and files)",
                      MetricType::Gauge);
  SliceFamily quota("crm_slice_storage_quota_bytes", "Slice storage quota", MetricType::Gauge);
  SliceFamily whatsapp("crm_slice_whatsapp_connected",
                       "1 when a paired slice's WhatsApp is connected, else 0", MetricType::Gauge);
  SliceFamily restarts("crm_slice_restarts_total", "Slice process restarts since provisioning",
                       MetricType::Counter);
  SliceFamily pending("crm_queue_pending_tasks", "Outbound tasks queued in a slice",
                      MetricType::Gauge);
  for (const auto& s : slices) {
    if (s.memory_bytes) {
      memory.Add(s.slice_id, static_cast<double>(*s.memory_bytes));
    }
    if (s.memory_limit_bytes > 0) {
      limit.Add(s.slice_id, static_cast<double>(s.memory_limit_bytes));
    }
    storage.Add(s.slice_id, static_cast<double>(s.storage_bytes));
    if (s.storage_quota_bytes > 0) {
      quota.Add(s.slice_id, static_cast<double>(s.storage_quota_bytes));
    }
    if (s.whatsapp_connected) {
      whatsapp.Add(s.slice_id, *s.whatsapp_connected ? 1 : 0);
    }
    restarts.Add(s.slice_id, s.restarts);
    if (s.pending_tasks) {
      pending.Add(s.slice_id, static_cast<double>(*s.pending_tasks));
    }
  }
  prometheus::MetricFamily alerts{
      "crm_alerts_open", "Open alerts of the monitor", MetricType::Gauge, {}};
  for (const auto& [key, count] : alerts_open) {
    prometheus::ClientMetric m;
    m.label = {{"kind", key.first}, {"severity", key.second}};
    m.gauge.value = static_cast<double>(count);
    alerts.metric.push_back(std::move(m));
  }
  return {memory.Take(),   limit.Take(),    storage.Take(), quota.Take(),
          whatsapp.Take(), restarts.Take(), pending.Take(), std::move(alerts)};
}

}  // namespace

void AddHealthRoutes(http::Router& router, GatewayContext& gateway) {
  using bhttp::verb;
  router.Add(verb::get, "/health", [&gateway](Exchange&) -> Reply {
    try {
      co_await gateway.route.db()(
          [](pqxx::connection& c) { pqxx::nontransaction(c).exec("SELECT 1"); });
    } catch (const std::exception& e) {
      co_return http::ErrorResponse(Status::service_unavailable,
                                    std::string("database: ") + e.what());
    }
    co_return http::JsonResponse(Status::ok, {{"status", "ok"}, {"database", "ok"}});
  });

  router.Add(verb::get, "/ready", [&gateway](Exchange&) -> Reply {
    long long available = co_await gateway.route.db().Read(
        [](pqxx::read_transaction& tx) { return SliceStore(tx).Count({SliceState::kAvailable}); });
    co_return http::JsonResponse(
        available > 0 ? Status::ok : Status::service_unavailable,
        {{"status", available > 0 ? "ready" : "warming"}, {"warm_slices", available}});
  });

  auto* slices_gauge = &prometheus::BuildGauge()
                            .Name("crm_slices")
                            .Help("Slices by lifecycle state")
                            .Register(gateway.metrics.registry());
  router.Add(verb::get, "/metrics", [&gateway, slices_gauge](Exchange&) -> Reply {
    auto [counts, alerts_open] = co_await gateway.route.db().Read([](pqxx::read_transaction& tx) {
      return std::pair(SliceStore(tx).CountByState(), monitor::AlertStore(tx).CountOpenByKind());
    });
    for (SliceState state : orchestrator::kSliceStates) {
      auto it = counts.find(state);
      slices_gauge->Add({{"state", std::string(ToString(state))}})
          .Set(it == counts.end() ? 0.0 : static_cast<double>(it->second));
    }
    Response res{Status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
    res.body() =
        gateway.metrics.Serialize(MonitorFamilies(gateway.monitor.LatestSlices(), alerts_open));
    co_return res;
  });
}

}  // namespace crm::gateway
