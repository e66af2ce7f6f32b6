// crmctl apply/status/destroy --target local: the embedded default. One directory holds a
// private PostgreSQL 15 cluster (run as the postgres user when we are root), crmd --role all
// started detached, their logs, secrets and the recorded state.
#pragma once

#include <memory>
#include <string>

#include "crm/apply/target.hpp"

namespace crm::apply {

struct LocalOptions {
  std::string dir;
  int port = -1;  ///< crmd's HTTP port: -1 the recorded one or 8080, 0 the recorded or a free one
  int pg_port = -1;  ///< PostgreSQL's port: -1/0 the recorded one or a free one
  std::string crmd;  ///< --crmd PATH; empty: next to crmctl, the build tree, PATH
  std::string admin_email = "admin@crm.local";
  /// --backup-repo: the pgBackRest repository; empty: the recorded one, else `<dir>.backups`
  std::string backup_repo;
  int backup_retention_full = 0;  ///< full backups kept; 0: the recorded number, else 2
};

/// The local target of `options.dir`. Throws InputError when the directory is not given. What
/// apply needs beyond it (crmd, PostgreSQL 15, the ports) is checked by Desire.
std::unique_ptr<DeployTarget> MakeLocalTarget(const LocalOptions& options, Console console);

/// The crmd binary to run: `given`, else next to crmctl, the build tree, PATH. Throws
/// InputError (given but not executable) or RuntimeError (not found, naming where it looked).
std::string FindCrmd(const std::string& given);

}  // namespace crm::apply
