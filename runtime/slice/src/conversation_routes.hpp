// /api/conversations…: one conversation per contact, and the messages typed in them.
#pragma once

#include "crm/http/server.hpp"
#include "slice_context.hpp"

namespace crm::slice {

void AddConversationRoutes(http::Router& router, SliceContext& slice);

}  // namespace crm::slice
