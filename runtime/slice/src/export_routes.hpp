// /api/export: the tenant's whole CRM as a download of JSON lines.
#pragma once

#include "crm/http/server.hpp"
#include "slice_context.hpp"

namespace crm::slice {

void AddExportRoutes(http::Router& router, SliceContext& slice);

}  // namespace crm::slice
