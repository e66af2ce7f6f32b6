// Running the real tools crmctl validate uses (nginx, promtool, postgres, pgbouncer,
// systemd-analyze, docker-compose, node), bounded in time, as the postgres user where a tool
// refuses root.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace crm::cli {

struct ToolResult {
  int exit_code = -1;
  bool timed_out = false;
  std::string output;  // stdout and stderr together
};

/// The full path of `name` on PATH (or in the extra directories), or nullopt.
std::optional<std::string> FindTool(const std::string& name,
                                    const std::vector<std::string>& extra_dirs = {});

/// Runs `argv` (argv[0] a full path) in `cwd` with a time limit, collecting its output. With
/// `as_postgres` and when we are root, runs it as the postgres user (initdb, postgres and
/// pgbouncer refuse root). Throws RuntimeError if it cannot be started.
ToolResult RunTool(const std::vector<std::string>& argv, const std::string& cwd,
                   std::chrono::seconds timeout, bool as_postgres = false);

}  // namespace crm::cli
