// A real `crmd` process for tests: started with an environment, its log captured in a file, the
// HTTP address read from its log, stopped with SIGTERM (SIGKILL after a grace period).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace crm::testing {

class CrmdProcess {
 public:
  /// Starts `binary args…` with `env` added to a minimal environment (PATH). For the gateway
  /// roles, waits until the log says where it serves and GET /ready answers 200 (at most
  /// `timeout`). Throws std::runtime_error with the log when it does not come up.
  static std::unique_ptr<CrmdProcess> Start(
      const std::string& binary, const std::vector<std::string>& args,
      const std::map<std::string, std::string>& env, const std::filesystem::path& log,
      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~CrmdProcess();

  /// "http://127.0.0.1:PORT".
  const std::string& url() const { return url_; }
  pid_t pid() const { return pid_; }
  std::string Log() const;
  /// SIGTERM, waits up to `grace`, then SIGKILL. Returns the exit status (-1 if killed).
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(15));
  bool Running();

 private:
  CrmdProcess() = default;
  pid_t pid_ = -1;
  std::string url_;
  std::filesystem::path log_;
  bool exited_ = false;
  int status_ = 0;
};

/// Starts `argv` (argv[0] a path) with `env` added to a minimal environment, its output appended
/// to `log`; returns its pid (the caller reaps it). Throws std::runtime_error.
pid_t StartProcess(const std::vector<std::string>& argv,
                   const std::map<std::string, std::string>& env, const std::filesystem::path& log);

/// Runs a command to completion with `input` on stdin; returns {exit status, stdout+stderr}.
std::pair<int, std::string> RunCommand(const std::vector<std::string>& argv,
                                       const std::map<std::string, std::string>& env,
                                       const std::string& input);

}  // namespace crm::testing
