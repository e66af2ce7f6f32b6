// /auth/* for the signed-in account itself: change the password, sign out everywhere, delete the
// account (its workspace destroyed).
#pragma once

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddAccountRoutes(http::Router& router, GatewayContext& gateway);

}  // namespace crm::gateway
