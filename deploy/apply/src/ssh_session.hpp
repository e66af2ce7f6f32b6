// Reaching the hosts of an ssh deployment (private to crm_apply): one ssh connection per host for
// the whole apply (ControlMaster; each step would otherwise pay a new handshake), commands run
// in the host's bundle directory, rsync over the same connection.
#pragma once

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "crm/apply/inventory.hpp"
#include "crm/tools/tool_runner.hpp"

namespace crm::apply::ssh {

class SshSession {
 public:
  /// Finds ssh and rsync on PATH (RuntimeError naming the one missing). Hosts without their own
  /// known_hosts use `default_known_hosts` (accept-new).
  explicit SshSession(std::filesystem::path default_known_hosts);
  /// Closes the masters and removes their socket directory.
  ~SshSession();
  SshSession(const SshSession&) = delete;
  SshSession& operator=(const SshSession&) = delete;

  /// ssh's options for `h` (key, port, host key checking, the shared connection).
  std::vector<std::string> OptionsFor(const InventoryHost& h);
  /// Runs `command` in `h`'s bundle directory ({host} and {dir} expanded).
  tools::ToolResult RunInDir(const InventoryHost& h, const std::string& command,
                             std::chrono::seconds timeout = std::chrono::seconds(600));
  /// Copies `files` (relative to `stage`, listed in `list_file`) to `h`'s bundle directory.
  tools::ToolResult Rsync(const InventoryHost& h, const std::filesystem::path& stage,
                          const std::filesystem::path& list_file);

 private:
  std::string ssh_;
  std::string rsync_;
  std::filesystem::path default_known_hosts_;
  std::filesystem::path control_dir_;  // short: socket paths are limited to 107 bytes
  std::set<const InventoryHost*> used_;
};

/// "user@address:port".
std::string Where(const InventoryHost& h);

/// ssh exits 255 when it cannot connect or authenticate; anything else is the command's status.
/// Throws RuntimeError naming the host when `r` says it was unreachable.
void RequireReachable(const InventoryHost& h, const tools::ToolResult& r);

/// Runs `health` on `host` (in its directory) every half second until it exits 0. Throws
/// RuntimeError naming the host, the command and its last output after `timeout_s` seconds, or
/// at once when the host is unreachable.
void AwaitHealthy(SshSession& session, const InventoryHost& host, const std::string& health,
                  int timeout_s);

}  // namespace crm::apply::ssh
