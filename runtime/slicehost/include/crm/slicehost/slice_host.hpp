// The slice host (`crmd --role slice-host`, tiers 3–5): runs the slices of the tenant hash
// ranges it holds under leases (each slice still its own process, schema and role), and relays
// the gateways' requests to them (docs/architecture.md, "Scale-out").
#pragma once

#include <chrono>
#include <string>

#include "crm/db/pool.hpp"
#include "crm/http/endpoint.hpp"
#include "crm/http/limits.hpp"
#include "crm/orchestrator/orchestrator.hpp"
#include "crm/slicehost/shard_leases.hpp"

namespace crm::slicehost {

struct SliceHostOptions {
  std::string log_level = "info";
  http::Endpoint listen;
  http::ServerLimits limits;
  int io_threads = 1;
  std::chrono::milliseconds drain_timeout{10'000};
  db::PoolOptions database;  ///< leases and the slices' rows (the gateway schema)
  orchestrator::OrchestratorOptions orchestrator;  ///< placement kSliceHost
  ShardLeaseOptions leases;
  /// What gateways present in orchestrator::kGatewayTokenHeader; empty is refused unless `listen`
  /// is loopback or a Unix socket.
  std::string internal_token;
};

/// Runs until SIGTERM/SIGINT, then stops the slices it runs.
int RunSliceHost(const SliceHostOptions& options);

}  // namespace crm::slicehost
