#include "monitor_routes.hpp"

#include "admin_routes.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/monitor/alert_store.hpp"
#include "crm/monitor/telemetry_store.hpp"

namespace crm::gateway {
namespace {

std::string Query(Exchange& ex, std::string_view name, const std::string& fallback) {
  return http::QueryParam(ex.request().target(), name).value_or(fallback);
}

monitor::SeriesRange RangeOf(GatewayContext& gateway, Exchange& ex) {
  return monitor::ParseRange(Query(ex, "range", "24h"),
                             gateway.monitor.options().telemetry_interval);
}

json Overview(GatewayContext& gateway) {
  auto slices = gateway.orchestrator.List();
  json by_state = json::object();
  json by_health = {{"green", 0}, {"yellow", 0}, {"red", 0}};
  long long used = 0;
  long long memory_total = 0;
  auto [server, open, alerts_open] = gateway.route.db().pool().Read([](pqxx::read_transaction& tx) {
    monitor::AlertStore alerts(tx);
    return std::tuple(monitor::TelemetryStore(tx).LatestServer(), alerts.OpenBySubject(),
                      alerts.CountOpen());
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
           {{"slices_max", nullptr},
            {"slices_used", used},
            {"memory_limit_bytes_total", memory_total}}},
          {"monitor", {{"leader", gateway.monitor.leader()}}}};
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
    std::string limit_text = Query(ex, "limit", "100");
    if (limit_text.empty() || limit_text.size() > 4 ||
        limit_text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(limit_text) < 1 || std::stoi(limit_text) > 1000) {
      throw InputError("limit: expected a whole number from 1 to 1000, got \"" + limit_text + "\"",
                       "limit");
    }
    int limit = std::stoi(limit_text);
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
