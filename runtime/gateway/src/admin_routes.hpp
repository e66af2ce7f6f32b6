// /admin/*: the operator's API over slices (provision, assign, suspend, resume, destroy, channel,
// rolling restart) and accounts; admin role only.
#pragma once

#include "crm/http/server.hpp"
#include "gateway_context.hpp"

namespace crm::gateway {

void AddAdminRoutes(http::Router& router, GatewayContext& gateway);

/// The admin preamble: an administrator's request; a state-changing one from our own origin.
boost::asio::awaitable<void> RequireAdmin(GatewayContext& gateway, Exchange& ex);
/// A slice id from the path; InputError naming "id" otherwise.
long long ParseSliceId(const std::string& text);

}  // namespace crm::gateway
