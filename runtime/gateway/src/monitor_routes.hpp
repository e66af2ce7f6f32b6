// The monitor's admin API: /admin/alerts, /admin/overview and /admin/telemetry/… (admin role).
#pragma once

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddMonitorRoutes(http::Router& router, GatewayContext& gateway);

}  // namespace crm::gateway
