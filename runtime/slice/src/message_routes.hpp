// /api/messages and /api/conversations/{id}/messages: the inbox's messages.
#pragma once

#include "crm/http/server.hpp"
#include "slice_context.hpp"

namespace crm::slice {

void AddMessageRoutes(http::Router& router, SliceContext& slice);

}  // namespace crm::slice
