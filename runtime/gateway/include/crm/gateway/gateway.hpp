// The gateway (`crmd --role gateway|all`): accounts, sessions, the proxy to each tenant's slice,
// live events, the admin API and the orchestrator that runs the slices.
#pragma once

#include <string>
#include <vector>

#include "crm/config/config.hpp"

namespace crm::gateway {

/// Runs the gateway (with its orchestrator and slice processes) until SIGTERM/SIGINT.
int RunGateway(const config::RuntimeConfig& config);

/// `crmd admin create --email E`: creates (or promotes) an admin account with `password`.
/// Runs the gateway migrations first. Returns the user id.
long long CreateAdmin(const config::RuntimeConfig& config, const std::string& email,
                      const std::string& password);

/// `crmd migrate`: migrates the gateway schema and every live slice schema. Returns one line
/// per schema ("gateway: applied 0001_init", "slice_3: up to date").
std::vector<std::string> MigrateAll(const config::RuntimeConfig& config);

}  // namespace crm::gateway
