// What a browser opens: the web app's files (every path no API route claims) and the public
// price of a workspace (GET /billing/plan) its pricing page shows.
#pragma once

#include "crm/http/server.hpp"
#include "crm/http/static_site.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

/// The paths the web app never answers: an unknown one among them stays a JSON 404.
const std::vector<std::string>& ApiPrefixes();

/// `site` outlives the router.
void AddWebRoutes(http::Router& router, GatewayContext& gateway, const http::StaticSite& site);

}  // namespace crm::gateway
