#include "web_routes.hpp"

#include "crm/gateway/price_plan.hpp"
#include "crm/http/response.hpp"

namespace crm::gateway {

const std::vector<std::string>& ApiPrefixes() {
  static const std::vector<std::string> kPrefixes = {
      "/api/",      "/auth/",   "/admin/", "/billing/", "/webhooks/",
      "/internal/", "/health/", "/ready/", "/metrics/", "/region/"};
  return kPrefixes;
}

void AddWebRoutes(http::Router& router, GatewayContext& gateway, const http::StaticSite& site) {
  router.Add(bhttp::verb::get, "/billing/plan", [&gateway](Exchange&) -> Reply {
    Response res = http::JsonResponse(Status::ok, PlanJson(gateway.options.plan));
    // Public and the same for everyone; a price change shows within a minute.
    res.set(bhttp::field::cache_control, "public, max-age=60");
    co_return res;
  });
  router.SetFallback([&site](const http::Request& request) { return site.Serve(request); });
}

}  // namespace crm::gateway
