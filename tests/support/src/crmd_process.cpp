#include "crm/testing/crmd_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "crm/testing/http_client.hpp"

extern char** environ;

namespace crm::testing {
namespace {

std::vector<std::string> Environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  const char* path = std::getenv("PATH");
  env.push_back(std::string("PATH=") + (path ? path : "/usr/bin:/bin"));
  for (const auto& [k, v] : extra) {
    env.push_back(k + "=" + v);
  }
  return env;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, int in_fd,
            int out_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, in_fd, STDIN_FILENO);
  }
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) {
    envp.push_back(const_cast<char*>(e.c_str()));
  }
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("cannot start " + argv[0]);
  }
  return pid;
}

std::string ReadAll(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::unique_ptr<CrmdProcess> CrmdProcess::Start(const std::string& binary,
                                                const std::vector<std::string>& args,
                                                const std::map<std::string, std::string>& env,
                                                const std::filesystem::path& log,
                                                std::chrono::milliseconds timeout) {
  std::unique_ptr<CrmdProcess> p(new CrmdProcess());
  p->log_ = log;
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  p->pid_ = Spawn(argv, Environment(env), -1, fd);
  ::close(fd);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string marker = "serving on http://";
  while (std::chrono::steady_clock::now() < deadline) {
    if (!p->Running()) {
      throw std::runtime_error("crmd exited during start-up; its log:\n" + p->Log());
    }
    std::string text = p->Log();
    auto at = text.find(marker);
    if (at != std::string::npos && p->url_.empty()) {
      auto end = text.find_first_of(" \"", at + marker.size());
      p->url_ = "http://" + text.substr(at + marker.size(), end - at - marker.size());
    }
    if (!p->url_.empty() && Fetch("GET", p->url_ + "/ready", {}, {}, 2000).status == 200) {
      return p;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("crmd did not become ready within " + std::to_string(timeout.count()) +
                           " ms; its log:\n" + p->Log());
}

CrmdProcess::~CrmdProcess() {
  Stop(std::chrono::seconds(5));
}

std::string CrmdProcess::Log() const {
  return ReadAll(log_);
}

bool CrmdProcess::Running() {
  if (exited_) {
    return false;
  }
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    exited_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return false;
  }
  return true;
}

int CrmdProcess::Stop(std::chrono::milliseconds grace) {
  if (!Running()) {
    return status_;
  }
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (Running()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    status_ = -1;
  }
  return status_;
}

pid_t StartProcess(const std::vector<std::string>& argv,
                   const std::map<std::string, std::string>& env,
                   const std::filesystem::path& log) {
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = Spawn(argv, Environment(env), -1, fd);
  ::close(fd);
  return pid;
}

std::pair<int, std::string> RunCommand(const std::vector<std::string>& argv,
                                       const std::map<std::string, std::string>& env,
                                       const std::string& input) {
  char in_path[] = "/tmp/crm-test-inXXXXXX";
  char out_path[] = "/tmp/crm-test-outXXXXXX";
  int in_fd = ::mkstemp(in_path);
  int out_fd = ::mkstemp(out_path);
  if (::write(in_fd, input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
    throw std::runtime_error("cannot write the command's input");
  }
  ::lseek(in_fd, 0, SEEK_SET);
  pid_t pid = Spawn(argv, Environment(env), in_fd, out_fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(in_fd);
  ::close(out_fd);
  std::string output = ReadAll(out_path);
  ::unlink(in_path);
  ::unlink(out_path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace crm::testing
