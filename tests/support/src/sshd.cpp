#include "crm/testing/sshd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "crm/ports.hpp"
#include "crm/testing/crmd_process.hpp"

namespace crm::testing {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

bool Accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Sshd::Sshd(const fs::path& dir, const std::string& name, const fs::path& authorized_keys)
    : port_(FreeLoopbackPort()) {
  host_key_ = dir / (name + "_host_key");
  Keygen(host_key_);
  const fs::path config = dir / (name + "_sshd_config");
  std::ofstream(config) << "Port " << port_ << "\nListenAddress 127.0.0.1\nHostKey "
                        << host_key_.string() << "\nPidFile " << (dir / (name + ".pid")).string()
                        << "\nAuthorizedKeysFile " << authorized_keys.string()
                        << "\nStrictModes no\nPasswordAuthentication no\n"
                           "KbdInteractiveAuthentication no\nUsePAM no\n"
                           "PermitRootLogin prohibit-password\n";
  if (::geteuid() == 0) {
    fs::create_directories("/run/sshd");  // its privilege separation directory
  }
  log_ = dir / (name + "_sshd.log");
  pid_ = ::fork();
  if (pid_ == 0) {
    const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl(kSshdBinary, kSshdBinary, "-D", "-e", "-f", config.c_str(), nullptr);
    ::_exit(127);
  }
  for (int i = 0; i < 500 && !Accepts(port_); ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("sshd exited: " + Read(log_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Sshd::~Sshd() {
  Stop();
}

void Sshd::Stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

std::string Sshd::KnownHostsLine() const {
  std::istringstream pub(Read(host_key_.string() + ".pub"));
  std::string type;
  std::string key;
  pub >> type >> key;
  return "[127.0.0.1]:" + std::to_string(port_) + " " + type + " " + key + "\n";
}

void Sshd::Keygen(const fs::path& file) {
  auto [code, out] = RunCommand(
      {"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", file.string()}, {}, "");
  if (code != 0) {
    throw std::runtime_error("ssh-keygen: " + out);
  }
}

std::string CurrentUser() {
  auto [code, out] = RunCommand({"/usr/bin/id", "-un"}, {}, "");
  return out.substr(0, out.find('\n'));
}

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

int Occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace crm::testing
