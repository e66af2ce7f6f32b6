#include "health_routes.hpp"

#include <prometheus/gauge.h>

#include "crm/http/response.hpp"
#include "crm/orchestrator/slice_store.hpp"

namespace crm::gateway {
namespace {

using orchestrator::SliceState;
using orchestrator::SliceStore;

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
    auto counts = co_await gateway.route.db().Read(
        [](pqxx::read_transaction& tx) { return SliceStore(tx).CountByState(); });
    for (SliceState state : orchestrator::kSliceStates) {
      auto it = counts.find(state);
      slices_gauge->Add({{"state", std::string(ToString(state))}})
          .Set(it == counts.end() ? 0.0 : static_cast<double>(it->second));
    }
    Response res{Status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
    res.body() = gateway.metrics.Serialize();
    co_return res;
  });
}

}  // namespace crm::gateway
