// One slice process (`crmd --role slice --slice-id N`): the tenant's CRM API on its own schema
// `slice_<N>`, reached through its own database role.
#pragma once

#include <chrono>

#include "crm/config/config.hpp"
#include "crm/db/pool.hpp"
#include "crm/http/blocking.hpp"
#include "crm/http/route_context.hpp"
#include "crm/http/server.hpp"
#include "crm/slice/events.hpp"
#include "crm/slice/messaging.hpp"

namespace crm::slice {

/// The slice's HTTP API: /api/contacts…, /api/conversations…, /api/status, /api/events, and
/// /health, /ready, /metrics.
class SliceApi {
 public:
  SliceApi(long long slice_id, db::Pool& pool, http::BlockingPool& blocking, http::Metrics& metrics,
           EventHub& events, Messaging& messaging);
  void Register(http::Router& router);

 private:
  long long slice_id_;
  http::DbCall db_;
  http::Metrics& metrics_;
  EventHub& events_;
  Messaging& messaging_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

/// Runs a slice process until SIGTERM/SIGINT; returns the exit code.
int RunSliceProcess(const config::RuntimeConfig& config, long long slice_id);

}  // namespace crm::slice
