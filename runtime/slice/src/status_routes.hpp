// /health, /ready, /metrics and /api/status: is this slice alive, and how is its channel.
#pragma once

#include "crm/http/server.hpp"
#include "slice_context.hpp"

namespace crm::slice {

void AddStatusRoutes(http::Router& router, SliceContext& slice);

}  // namespace crm::slice
