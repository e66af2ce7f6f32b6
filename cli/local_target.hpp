// crmctl apply/status/destroy --target local: the embedded default. One directory holds a
// private PostgreSQL 15 cluster (run as the postgres user when we are root), crmd --role all
// started detached, their logs, secrets and the recorded state.
#pragma once

#include <string>

#include "apply_engine.hpp"
#include "cli_context.hpp"
#include "crm/planner/plan.hpp"

namespace crm::cli {

struct LocalOptions {
  std::string dir;
  int port = -1;  ///< crmd's HTTP port: -1 the recorded one or 8080, 0 the recorded or a free one
  int pg_port = -1;  ///< PostgreSQL's port: -1/0 the recorded one or a free one
  std::string crmd;  ///< --crmd PATH; empty: next to crmctl, the build tree, PATH
  std::string admin_email = "admin@crm.local";
};

/// Converges DIR to the plan. Returns the exit code (see ApplyExitCode).
int ApplyLocal(const planner::Plan& plan, const LocalOptions& options, const ApplyFlags& flags,
               const GlobalOptions& global);

/// Prints processes, health, slices and versions; 0 when everything runs and is healthy, 1 when
/// not (what is down is named).
int StatusLocal(const std::string& dir, const GlobalOptions& global);

/// Stops crmd and PostgreSQL; with `purge` removes DIR. Same approval rule as apply.
int DestroyLocal(const std::string& dir, bool purge, const ApplyFlags& flags,
                 const GlobalOptions& global);

/// The crmd binary to run: `given`, else next to crmctl, the build tree, PATH. Throws
/// InputError (given but not executable) or RuntimeError (not found, naming where it looked).
std::string FindCrmd(const std::string& given);

}  // namespace crm::cli
