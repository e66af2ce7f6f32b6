#include "ssh_session.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "crm/error.hpp"

namespace crm::apply::ssh {
namespace {

namespace fs = std::filesystem;
using tools::ProcessSpec;
using tools::ToolResult;

std::string Tool(const std::string& name) {
  auto path = tools::FindTool(name);
  if (!path) {
    throw RuntimeError(fmt::format(
        "{} not found on PATH: --target ssh needs it (scripts/bootstrap installs openssh-client "
        "and rsync)",
        name));
  }
  return *path;
}

}  // namespace

SshSession::SshSession(fs::path default_known_hosts)
    : ssh_(Tool("ssh")),
      rsync_(Tool("rsync")),
      default_known_hosts_(std::move(default_known_hosts)) {
  char tmpl[] = "/tmp/crmctl-ssh-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    throw RuntimeError("cannot create a directory for ssh's control sockets in /tmp");
  }
  control_dir_ = tmpl;
}

SshSession::~SshSession() {
  for (const InventoryHost* h : used_) {
    ProcessSpec spec;
    spec.argv = {ssh_,
                 "-o",
                 "ControlPath=" + (control_dir_ / "%C").string(),
                 "-p",
                 std::to_string(h->port),
                 "-O",
                 "exit",
                 h->user + "@" + h->address};
    spec.timeout = std::chrono::seconds(10);
    try {
      tools::RunProcess(spec);
    } catch (const std::exception&) {
      // The master exits on its own once idle (ControlPersist); nothing to report.
    }
  }
  std::error_code ec;
  fs::remove_all(control_dir_, ec);
}

std::vector<std::string> SshSession::OptionsFor(const InventoryHost& h) {
  used_.insert(&h);
  const std::string known = h.known_hosts.empty() ? default_known_hosts_.string() : h.known_hosts;
  return {"-i",
          h.key,
          "-p",
          std::to_string(h.port),
          "-o",
          "BatchMode=yes",
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "ConnectTimeout=10",
          "-o",
          h.known_hosts.empty() ? "StrictHostKeyChecking=accept-new" : "StrictHostKeyChecking=yes",
          "-o",
          "UserKnownHostsFile=" + known,
          "-o",
          "LogLevel=ERROR",
          "-o",
          "ControlMaster=auto",
          "-o",
          "ControlPath=" + (control_dir_ / "%C").string(),
          "-o",
          "ControlPersist=60"};
}

ToolResult SshSession::RunInDir(const InventoryHost& h, const std::string& command,
                                std::chrono::seconds timeout) {
  ProcessSpec spec;
  spec.argv = {ssh_};
  const auto opts = OptionsFor(h);
  spec.argv.insert(spec.argv.end(), opts.begin(), opts.end());
  spec.argv.push_back(fmt::format("{}@{}", h.user, h.address));
  spec.argv.push_back(fmt::format("cd {} && {}", ShellQuote(h.dir), ExpandCommand(command, h)));
  spec.timeout = timeout;
  return tools::RunProcess(spec);
}

ToolResult SshSession::Rsync(const InventoryHost& h, const fs::path& stage,
                             const fs::path& list_file) {
  std::string rsh = ShellQuote(ssh_);
  for (const std::string& o : OptionsFor(h)) {
    rsh += " " + ShellQuote(o);
  }
  ProcessSpec spec;
  spec.argv = {
      rsync_, "-a", "--mkpath",           "--files-from=" + list_file.string(),
      "-e",   rsh,  stage.string() + "/", fmt::format("{}@{}:{}/", h.user, h.address, h.dir)};
  spec.timeout = std::chrono::seconds(600);
  return tools::RunProcess(spec);
}

std::string Where(const InventoryHost& h) {
  return fmt::format("{}@{}:{}", h.user, h.address, h.port);
}

void RequireReachable(const InventoryHost& h, const ToolResult& r) {
  if (r.exit_code == 255 || r.timed_out) {
    throw RuntimeError(fmt::format("host {} ({}) is unreachable over ssh{}: {}", h.name, Where(h),
                                   r.timed_out ? " (timed out)" : "", r.output));
  }
}

void AwaitHealthy(SshSession& session, const InventoryHost& host, const std::string& health,
                  int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  ToolResult last;
  while (true) {
    last = session.RunInDir(host, health, std::chrono::seconds(60));
    RequireReachable(host, last);
    if (last.exit_code == 0) {
      return;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  throw RuntimeError(
      fmt::format("host {}: the health check `{}` still fails after {} s (exit {}): {}", host.name,
                  health, timeout_s, last.exit_code, last.output));
}

}  // namespace crm::apply::ssh
