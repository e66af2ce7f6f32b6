// crmctl apply --target ssh: the rendered bundles of a plan's hosts copied to the machines of an
// inventory with rsync over ssh, installed and restarted there (slice hosts in batches with a
// health check between batches), with the recorded state kept in a local directory.
#pragma once

#include <memory>
#include <string>

#include "crm/apply/target.hpp"

namespace crm::apply {

struct SshOptions {
  std::string dir;             ///< local: state.json, the lock, known_hosts, staged bundles
  std::string inventory;       ///< the inventory file as given (messages, relative key paths)
  std::string inventory_text;  ///< its content: the caller reads it (a file, or stdin for "-")
};

/// The ssh target of `options`. Throws InputError when --inventory or --dir is missing or the
/// inventory is not valid (file:line:col).
std::unique_ptr<DeployTarget> MakeSshTarget(const SshOptions& options, Console console);

}  // namespace crm::apply
