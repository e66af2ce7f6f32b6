// GET|POST /webhooks/whatsapp (docs/api.md, "WhatsApp webhook"): Meta's subscription handshake, and
// deliveries verified by X-Hub-Signature-256 before they are parsed, routed by phone_number_id to
// the slice that owns the number.
#pragma once

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddWebhookRoutes(http::Router& router, GatewayContext& gateway);

}  // namespace crm::gateway
