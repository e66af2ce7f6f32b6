// Validating a rendered deployment directory: the structural rules (structure.hpp), then each
// real tool that is installed (nginx -t, promtool, postgres -C, pgbouncer, systemd-analyze,
// docker-compose config, the Kubernetes schemas of tools/k8s-validate) on scratch copies.
#pragma once

#include <filesystem>

#include "crm/validate/report.hpp"

namespace crm::validate {

/// Runs every check on `dir` (a `crmctl render` output) in a scratch directory under /tmp that
/// is removed afterwards. A tool that is not installed is skipped, saying so. Throws InputError
/// when `dir` is not a rendering, RuntimeError when a tool cannot be run at all.
DirReport ValidateDir(const std::filesystem::path& dir);

}  // namespace crm::validate
