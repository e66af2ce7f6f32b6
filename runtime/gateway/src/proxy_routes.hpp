// /api/*: a tenant's requests, proxied to the tenant's own slice (and its live events relayed).
#pragma once

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddProxyRoutes(http::Router& router, GatewayContext& gateway);

}  // namespace crm::gateway
