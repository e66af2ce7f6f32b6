// /api/events: the slice's live events as server-sent events.
#pragma once

#include "crm/http/server.hpp"
#include "slice_context.hpp"

namespace crm::slice {

void AddEventRoutes(http::Router& router, SliceContext& slice);

}  // namespace crm::slice
