#include "monitor_routes.hpp"

#include <fmt/format.h>

#include "admin_routes.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/monitor/alert_store.hpp"
#include "crm/monitor/live_capacity.hpp"
#include "crm/monitor/report.hpp"
#include "crm/monitor/telemetry_store.hpp"

namespace crm::gateway {
namespace {

std::string Query(Exchange& ex, std::string_view name, const std::string& fallback) {
  return http::QueryParam(ex.request().target(), name).value_or(fallback);
}

// A whole number from `min` to `max` in query parameter `name`, else `fallback`.
int BoundedQueryInt(Exchange& ex, std::string_view name, int fallback, int min, int max) {
  auto text = http::QueryParam(ex.request().target(), name);
  if (!text) {
    return fallback;
  }
  if (text->empty() || text->size() > 9 ||
      text->find_first_not_of("0123456789") != std::string::npos || std::stoi(*text) < min ||
      std::stoi(*text) > max) {
    throw InputError(
        fmt::format("{}: expected a whole number from {} to {}, got \"{}\"", name, min, max, *text),
        std::string(name));
  }
  return std::stoi(*text);
}

monitor::SeriesRange RangeOf(GatewayContext& gateway, Exchange& ex) {
  return monitor::ParseRange(Query(ex, "range", "24h"),
                             gateway.monitor.options().telemetry_interval);
}

// The planner's default target utilization (the catalog's rules.target_utilization): the
// overview's capacity fills RAM and disk to it; crmctl capacity --live sends the catalog's own.
constexpr int kDefaultTargetPercent = 70;

json LiveCapacity(pqxx::transaction_base& tx, monitor::TimePoint now, double target) {
  auto in = monitor::ReadCapacityInputs(tx, now);
  return monitor::LiveCapacityJson(in, monitor::ComputeLiveCapacity(in, target), target, now);
}

json Overview(GatewayContext& gateway) {
  auto slices = gateway.orchestrator.List();
  json by_state = json::object();
  json by_health = {{"green", 0}, {"yellow", 0}, {"red", 0}};
  long long used = 0;
  long long memory_total = 0;
  auto now = gateway.monitor.Now();
  auto [server, open, alerts_open, live] =
      gateway.route.db().pool().Read([now](pqxx::read_transaction& tx) {
        monitor::AlertStore alerts(tx);
        return std::tuple(monitor::TelemetryStore(tx).LatestServer(), alerts.OpenBySubject(),
                          alerts.CountOpen(), LiveCapacity(tx, now, kDefaultTargetPercent / 100.0));
      });
  for (const auto& s : slices) {
    std::string state(orchestrator::ToString(s.state));
    by_state[state] = by_state.value(state, 0) + 1;
    if (!s.holds_data()) {
      continue;
    }
    ++used;
    if (s.runs()) {
      memory_total += static_cast<long long>(s.memory_limit_bytes);
    }
    auto alerts = open[monitor::SliceSubject(s.id)];
    std::string colour =
        monitor::GridColour(monitor::ObservationOf(s), alerts.critical, alerts.warning);
    by_health[colour] = by_health[colour].get<long long>() + 1;
  }
  long long total = 0;
  for (const auto& [state, n] : by_state.items()) {
    total += n.get<long long>();
  }
  return {{"server", server},
          {"slices", {{"total", total}, {"by_state", by_state}, {"by_health", by_health}}},
          {"alerts_open", alerts_open},
          {"capacity",
           {{"slices_max", live["more_slices"].is_null()
                               ? json(nullptr)
                               : json(used + live["more_slices"].get<long long>())},
            {"fills_on", live["growth"]["fills_on"]},
            {"history_days", live["growth"]["fitted_over_days"]},
            {"binding", live["binding"]},
            {"slices_used", used},
            {"memory_limit_bytes_total", memory_total}}},
          {"monitor",
           {{"leader", gateway.monitor.leader()}, {"reclaim", gateway.monitor.ReclaimStatus()}}}};
}

}  // namespace

void AddMonitorRoutes(http::Router& router, GatewayContext& gateway) {
  using bhttp::verb;
  router.Add(verb::get, "/admin/alerts", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    std::string state = Query(ex, "state", "all");
    if (state != "open" && state != "all") {
      throw InputError("state: expected open or all, got \"" + state + "\"", "state");
    }
    int limit = BoundedQueryInt(ex, "limit", 100, 1, 1000);
    json items = co_await gateway.route.db().Read([&](pqxx::read_transaction& tx) {
      return monitor::AlertStore(tx).ListJson(state == "open", limit);
    });
    co_return http::JsonResponse(Status::ok, {{"items", items}});
  });
  router.Add(verb::get, "/admin/overview", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    json body = co_await gateway.route.db().Blocking([&gateway] { return Overview(gateway); });
    co_return http::JsonResponse(Status::ok, body);
  });
  router.Add(verb::get, "/admin/telemetry/server", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    auto range = RangeOf(gateway, ex);
    auto now = gateway.monitor.Now();
    json points = co_await gateway.route.db().Read([&](pqxx::read_transaction& tx) {
      return monitor::TelemetryStore(tx).ServerSeries(range, now);
    });
    co_return http::JsonResponse(
        Status::ok,
        {{"range", range.name}, {"step_seconds", range.step_seconds}, {"points", points}});
  });
  router.Add(verb::get, "/admin/capacity", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    double target = BoundedQueryInt(ex, "target_percent", kDefaultTargetPercent, 1, 100) / 100.0;
    auto now = gateway.monitor.Now();
    json body = co_await gateway.route.db().Read(
        [&](pqxx::read_transaction& tx) { return LiveCapacity(tx, now, target); });
    co_return http::JsonResponse(Status::ok, body);
  });
  router.Add(verb::get, "/admin/telemetry/report", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    monitor::ReportOptions options;
    options.window = std::chrono::hours(BoundedQueryInt(ex, "hours", 24 * 7, 1, 24 * 365));
    options.idle_after = std::chrono::seconds(BoundedQueryInt(
        ex, "idle_after", static_cast<int>(options.idle_after.count()), 60, 7 * 24 * 3600));
    options.thresholds = gateway.monitor.options().thresholds;
    auto now = gateway.monitor.Now();
    json report = co_await gateway.route.db().Read(
        [&](pqxx::read_transaction& tx) { return monitor::BuildReport(tx, now, options); });
    co_return http::JsonResponse(Status::ok, report);
  });
  router.Add(verb::get, "/admin/telemetry/slices/{id}", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    long long id = ParseSliceId(ex.params()["id"]);
    auto range = RangeOf(gateway, ex);
    auto now = gateway.monitor.Now();
    // A slice that never existed is a 404; a destroyed one keeps its history.
    co_await gateway.route.db().Blocking([&gateway, id] { gateway.orchestrator.Get(id); });
    json points = co_await gateway.route.db().Read([&](pqxx::read_transaction& tx) {
      return monitor::TelemetryStore(tx).SliceSeries(id, range, now);
    });
    co_return http::JsonResponse(Status::ok, {{"slice", id},
                                              {"range", range.name},
                                              {"step_seconds", range.step_seconds},
                                              {"points", points}});
  });
}

}  // namespace crm::gateway
