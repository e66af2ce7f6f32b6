// /api/channel… (the channel's state, the simulator's controls) and /internal/channel/events
// (Meta's webhook, relayed by the gateway).
#pragma once

#include "crm/http/server.hpp"
#include "slice_context.hpp"

namespace crm::slice {

void AddChannelRoutes(http::Router& router, SliceContext& slice);

}  // namespace crm::slice
