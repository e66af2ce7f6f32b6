// Finding and running the real tools validate and apply use (nginx, promtool, postgres,
// pgbouncer, systemd-analyze, docker-compose, node; pg_ctl, ssh, rsync, kubectl, crmd), bounded
// in time, as the postgres user where a tool refuses root.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace crm::tools {

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

/// A process to run to completion (apply's steps).
struct ProcessSpec {
  std::vector<std::string> argv;  ///< argv[0] a full path
  std::string cwd = "/";
  std::chrono::seconds timeout{60};
  bool as_postgres = false;                ///< as RunTool
  std::map<std::string, std::string> env;  ///< added to (or replacing in) our environment
  /// Inherited variables starting with this are dropped first (e.g. "CRM_": crmd must see only
  /// its deployment's settings, never the operator's shell's). Empty: keep all.
  std::string drop_env_prefix;
  std::optional<std::string> input;  ///< written to its stdin, then closed
};

/// Runs `spec` like RunTool, with its environment additions and stdin input. Throws
/// RuntimeError if it cannot be started.
ToolResult RunProcess(const ProcessSpec& spec);

/// Starts `argv` detached from us (its own session, stdin from /dev/null, stdout and stderr
/// appended to `log`) and returns its pid; it outlives crmctl. Its environment is ours without
/// the variables starting with `drop_env_prefix`, plus `env`. Throws RuntimeError if it cannot
/// be started.
pid_t StartDetached(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env, const std::filesystem::path& log,
                    const std::string& cwd, const std::string& drop_env_prefix = "");

}  // namespace crm::tools
