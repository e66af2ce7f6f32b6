// /health (liveness and the database), /ready (a warm slice exists) and /metrics (Prometheus).
#pragma once

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddHealthRoutes(http::Router& router, GatewayContext& gateway);

}  // namespace crm::gateway
