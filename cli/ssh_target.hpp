// crmctl apply --target ssh: the rendered bundles of a plan's hosts copied to the machines of an
// inventory with rsync over ssh, installed and restarted there (slice hosts in batches with a
// health check between batches), with the recorded state kept in a local directory.
#pragma once

#include <string>

#include "apply_engine.hpp"
#include "cli_context.hpp"
#include "crm/planner/plan.hpp"

namespace crm::cli {

struct SshOptions {
  std::string dir;        ///< local: state.json, the lock, known_hosts, staged bundles
  std::string inventory;  ///< the inventory file
};

/// Converges the inventory's hosts to the plan. Returns the exit code (see ApplyExitCode).
int ApplySsh(const planner::Plan& plan, const SshOptions& options, const ApplyFlags& flags,
             const GlobalOptions& global);

}  // namespace crm::cli
