// A real SMTP server for tests: Debian's aiosmtpd on loopback, storing every message it accepts
// in a maildir; stopped and started again on the same port to play an outage.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace crm::testing {

class SmtpServer {
 public:
  /// Starts `python3 -m aiosmtpd` on 127.0.0.1:`port` (0: a free one) with the Mailbox handler
  /// writing to `maildir`; returns once it accepts connections. Throws std::runtime_error.
  static std::unique_ptr<SmtpServer> Start(const std::filesystem::path& maildir, int port = 0);
  ~SmtpServer();

  /// "smtp://127.0.0.1:PORT".
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  /// Stops the server (the port stays free for a later Start with it).
  void Stop();
  /// Every message received so far, as stored (headers and body).
  std::vector<std::string> Messages() const;

 private:
  SmtpServer() = default;
  std::filesystem::path maildir_;
  std::filesystem::path log_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace crm::testing
