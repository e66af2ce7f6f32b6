// crmctl's client for a running gateway's admin API (libcurl): signs in, calls, reports errors
// with the gateway's own message.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace crm::cli {

/// $CRM_URL, else http://127.0.0.1:8080: the gateway crmctl's admin commands call.
std::string DefaultGatewayUrl();

/// A command group over a running gateway's admin API: `--url` into `url` (set to
/// DefaultGatewayUrl()) and a footer naming where the credentials come from.
CLI::App* AddAdminCommand(CLI::App& app, const std::string& name, const std::string& description,
                          std::string& url);

class AdminClient {
 public:
  /// `url` is the gateway ("http://127.0.0.1:8080"). The credential comes from the environment:
  /// CRM_ADMIN_TOKEN (a session token), or CRM_ADMIN_EMAIL with the password in
  /// CRM_ADMIN_PASSWORD_FILE (mode 0600) or on stdin. Throws InputError when none is given.
  explicit AdminClient(std::string url);
  ~AdminClient();

  /// Calls `method path` with a JSON body; returns the JSON answer. Throws InputError with the
  /// gateway's message on 4xx, RuntimeError on 5xx or when the gateway cannot be reached.
  nlohmann::json Call(const std::string& method, const std::string& path,
                      const nlohmann::json& body = nullptr);

 private:
  std::string url_;
  std::string token_;
  bool signed_in_ = false;  ///< we opened the session, so we close it
};

}  // namespace crm::cli
