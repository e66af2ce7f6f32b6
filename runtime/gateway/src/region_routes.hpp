// Region pinning at the gateway: the answer to another region's session token (307 to its
// home), the peers' lookup (POST /region/lookup), GET /admin/regions, and the answer sign-in,
// sign-up and password reset give for an address another region holds.
#pragma once

#include <optional>
#include <string>

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddRegionRoutes(http::Router& router, GatewayContext& gateway);

/// Runs before `next`: a request carrying a session token of another configured region is
/// answered 307 to the same path and query at that region's origin, before any lookup and with
/// its body unread. Without pinned regions it is `next` alone.
http::HeadCheck RegionHeadCheck(GatewayContext& gateway, http::HeadCheck next);

/// For an address with no account here: when another region holds it, the 409 that sends the
/// browser there ({"error", "field": "email", "region", "url"}: `url` is that region's `page`
/// with the address prefilled). nullopt when no region does (or regions are not pinned). Asks
/// the peers on the blocking pool, each within region_peer_timeout.
boost::asio::awaitable<std::optional<Response>> ElsewhereAnswer(GatewayContext& gateway,
                                                                const std::string& email,
                                                                const std::string& page,
                                                                const std::string& message);

}  // namespace crm::gateway
