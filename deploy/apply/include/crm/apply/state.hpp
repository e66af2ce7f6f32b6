// The recorded state of a deployment (state.json in its directory): per host, the files applied
// (hash, mode, version) and the services started with the inputs they were started from.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace crm::apply {

struct FileRecord {
  std::string sha256;  ///< lower-case hex of the content applied
  int mode = 0644;
  std::string version;  ///< crmctl version that applied it
  bool operator==(const FileRecord&) const = default;
};

struct ServiceRecord {
  /// Input name ("config/crmd.env", "binary") → hash it was (re)started with.
  std::map<std::string, std::string> inputs;
  std::string version;  ///< crmctl version that (re)started it
  bool operator==(const ServiceRecord&) const = default;
};

struct HostState {
  std::map<std::string, FileRecord> files;        ///< by path relative to the host's root
  std::map<std::string, ServiceRecord> services;  ///< by service name
  bool operator==(const HostState&) const = default;
};

struct DeploymentState {
  static constexpr int kFormat = 1;
  std::string target;  ///< "local", "ssh", "k8s"
  /// Choices made once and kept (ports picked, the crmd binary used, ...).
  std::map<std::string, std::string> settings;
  std::map<std::string, HostState> hosts;
  bool operator==(const DeploymentState&) const = default;
};

nlohmann::ordered_json ToJson(const DeploymentState& state);
/// Throws InputError naming `source` and the field when the document is not a state.
DeploymentState StateFromJson(const nlohmann::json& doc, const std::string& source);

/// DIR/state.json, where a deployment's state is recorded.
std::filesystem::path StatePath(const std::filesystem::path& dir);

/// Reads `path`; a missing file is an empty state. Throws InputError naming the file when it is
/// not valid JSON or not a state (a hand-edited or truncated file).
DeploymentState LoadState(const std::filesystem::path& path);

/// Writes `path` atomically (temporary file + rename) with mode 0600, so a crash mid-write
/// leaves the previous state. Throws RuntimeError when it cannot.
void SaveState(const std::filesystem::path& path, const DeploymentState& state);

}  // namespace crm::apply
