// /admin/*: the operator's API over slices (provision, assign, suspend, resume, destroy, channel,
// rolling restart) and accounts; admin role only.
#pragma once

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddAdminRoutes(http::Router& router, GatewayContext& gateway);

}  // namespace crm::gateway
