// /api/contacts…: a tenant's contacts.
#pragma once

#include "crm/http/server.hpp"
#include "slice_context.hpp"

namespace crm::slice {

void AddContactRoutes(http::Router& router, SliceContext& slice);

}  // namespace crm::slice
