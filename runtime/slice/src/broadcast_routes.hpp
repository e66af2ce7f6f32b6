// /api/broadcasts…: broadcasts queued, listed, paused, resumed and cancelled.
#pragma once

#include "crm/http/server.hpp"
#include "slice_context.hpp"

namespace crm::slice {

void AddBroadcastRoutes(http::Router& router, SliceContext& slice);

}  // namespace crm::slice
