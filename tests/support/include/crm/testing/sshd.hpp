// A real OpenSSH server (Debian's openssh-server) on a loopback port for tests of --target ssh:
// its own host key and configuration in a test's directory, accepting the keys of one
// authorized_keys file; the client side (keys, known_hosts lines) comes with it.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace crm::testing {

inline constexpr const char* kSshdBinary = "/usr/sbin/sshd";

class Sshd {
 public:
  /// Starts sshd on 127.0.0.1 and a free port with a new host key `dir`/`name`_host_key,
  /// returning once it accepts connections. Throws std::runtime_error with its log when it exits.
  Sshd(const std::filesystem::path& dir, const std::string& name,
       const std::filesystem::path& authorized_keys);
  ~Sshd();
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;

  /// SIGTERM and wait: connections are refused from then on.
  void Stop();
  int port() const { return port_; }
  /// The known_hosts line for this server's host key ("[127.0.0.1]:PORT TYPE KEY\n").
  std::string KnownHostsLine() const;
  /// A new passphrase-less ed25519 key pair at `file` and `file`.pub.
  static void Keygen(const std::filesystem::path& file);

 private:
  int port_;
  pid_t pid_ = -1;
  std::filesystem::path host_key_;
  std::filesystem::path log_;
};

/// The name of the user the tests run as (`id -un`), whom the test's sshd logs in.
std::string CurrentUser();

/// A file's whole text ("" when it cannot be read): the hosts' command logs, keys.
std::string ReadText(const std::filesystem::path& path);

/// How many times `what` occurs in `text` (commands a host's log recorded).
int Occurrences(const std::string& text, const std::string& what);

}  // namespace crm::testing
