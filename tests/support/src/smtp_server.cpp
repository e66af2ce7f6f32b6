#include "crm/testing/smtp_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "crm/ports.hpp"
#include "crm/testing/crmd_process.hpp"

namespace crm::testing {
namespace {

bool Accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::unique_ptr<SmtpServer> SmtpServer::Start(const std::filesystem::path& maildir, int port) {
  std::unique_ptr<SmtpServer> s(new SmtpServer());
  s->maildir_ = maildir;
  s->port_ = port != 0 ? port : FreeLoopbackPort();
  s->log_ = maildir.parent_path() / ("smtp-" + std::to_string(s->port_) + ".log");
  std::filesystem::create_directories(maildir.parent_path());
  // Debian's python3 has the aiosmtpd module; another python3 first in PATH may not.
  s->pid_ = StartProcess(
      {"/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:" + std::to_string(s->port_),
       "-c", "aiosmtpd.handlers.Mailbox", maildir.string()},
      {}, s->log_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(s->pid_, &status, WNOHANG) == s->pid_) {
      s->pid_ = -1;
      std::ifstream in(s->log_);
      std::ostringstream text;
      text << in.rdbuf();
      throw std::runtime_error("aiosmtpd exited during start-up: " + text.str());
    }
    if (Accepts(s->port_)) {
      return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("aiosmtpd did not listen within 15 s");
}

SmtpServer::~SmtpServer() {
  Stop();
}

void SmtpServer::Stop() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::vector<std::string> SmtpServer::Messages() const {
  std::vector<std::string> out;
  for (const char* sub : {"new", "cur"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(maildir_ / sub, ec)) {
      std::ifstream in(entry.path(), std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      out.push_back(text.str());
    }
  }
  return out;
}

}  // namespace crm::testing
