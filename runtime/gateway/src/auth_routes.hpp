// /auth/*: sign-up, sign-in and sign-out, who am I, and password resets.
#pragma once

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddAuthRoutes(http::Router& router, GatewayContext& gateway);

}  // namespace crm::gateway
