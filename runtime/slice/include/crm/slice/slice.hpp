// One slice process (`crmd --role slice --slice-id N`): the tenant's CRM API on its own schema
// `slice_<N>`, reached through its own database role.
#pragma once

#include "crm/config/config.hpp"

namespace crm::slice {

/// Runs a slice process until SIGTERM/SIGINT: /api/contacts…, /api/conversations…,
/// /api/messages, /api/broadcasts…, /api/channel…, /api/status, /api/events, and /health,
/// /ready, /metrics. Returns the exit code.
int RunSliceProcess(const config::RuntimeConfig& config, long long slice_id);

}  // namespace crm::slice
