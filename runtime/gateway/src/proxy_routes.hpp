// /api/*: a tenant's requests, proxied to the tenant's own slice (and its live events relayed).
#pragma once

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddProxyRoutes(http::Router& router, GatewayContext& gateway);

/// The server's head check for /api/*: a request without a valid session is answered 401 on
/// its header, before its body (up to the broadcast limit) is read. Other paths pass.
http::HeadCheck ProxyHeadCheck(GatewayContext& gateway);
/// What ProxyHeadCheck answers without waiting: paths other than /api/, and a request with the
/// token the connection's last session was found by (Sessions::Recall), whose caller it notes.
http::QuickHeadCheck ProxyQuickCheck(GatewayContext& gateway);

}  // namespace crm::gateway
