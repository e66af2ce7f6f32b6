// /billing/*: checkout and portal sessions, the subscription's status and Stripe's webhook; and
// /admin/revenue (docs/api.md, "Billing").
#pragma once

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddBillingRoutes(http::Router& router, GatewayContext& gateway);

}  // namespace crm::gateway
