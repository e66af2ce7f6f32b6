// SIGHUP for crmd: re-read the configuration file and the environment file, apply what can
// change while running (the log level) and say what needs a restart (docs/operations.md,
// "Reloading").
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crm/config/config.hpp"

namespace crm::config {

/// Reads a systemd EnvironmentFile: KEY=VALUE lines, `#` and `;` comments, blank lines, values
/// optionally in matching single or double quotes. Throws InputError naming file:line.
std::map<std::string, std::string> ReadEnvFile(const std::filesystem::path& file);

/// The environment with `file`'s variables (when given) taking precedence over the process's:
/// the file is what an operator edits before a reload.
EnvLookup EnvironmentWithFile(const std::optional<std::filesystem::path>& file);

/// What one reload did.
struct ReloadOutcome {
  std::vector<std::string> applied;       ///< "log_level: info -> debug"
  std::vector<std::string> need_restart;  ///< YAML keys whose new value waits for a restart
};

/// The settings a running crmd was started with, and how to read them again.
class Reloader {
 public:
  /// `config_file` and `env_file` as crmd was started with them.
  Reloader(std::optional<std::filesystem::path> config_file,
           std::optional<std::filesystem::path> env_file);

  /// Reads both files again, validates the whole configuration (an invalid one changes nothing
  /// and throws InputError), applies the log level to the default logger and reports the rest.
  ReloadOutcome Reload();

 private:
  std::optional<std::filesystem::path> config_file_;
  std::optional<std::filesystem::path> env_file_;
  std::map<std::string, std::string> current_;
};

}  // namespace crm::config
