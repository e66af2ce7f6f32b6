#include "crm/orchestrator/slice_launcher.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "crm/error.hpp"

extern char** environ;

namespace crm::orchestrator {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// One message each way on a SOCK_SEQPACKET socket: a kind, a fixed header, and for a launch the
// environment (NAME=value strings, each NUL-terminated) after it; descriptors ride along as
// SCM_RIGHTS.
enum class Kind : std::uint32_t {
  kReady = 1,     // launcher → orchestrator, once: it serves
  kLaunch = 2,    // orchestrator → launcher: fork a slice (descriptors: log, secret, groups…)
  kLaunched = 3,  // launcher → orchestrator: its pid or the fork's errno (descriptor: a pidfd)
  kExited = 4,    // launcher → orchestrator: a slice it started exited, with its wait status
};

struct Header {
  Kind kind{};
  std::int32_t pid = 0;     // kLaunched, kExited
  std::int32_t value = 0;   // kLaunched: errno; kExited: the wait status
  std::uint32_t uid = 0;    // kLaunch
  std::int64_t slice_id = 0;
  std::uint64_t address_space_limit = 0;
  std::uint32_t group_fds = 0;  // kLaunch: how many of the descriptors after log and secret
  std::uint32_t environment_bytes = 0;
};

constexpr std::size_t kMaxMessage = 64 * 1024;
constexpr std::size_t kMaxFds = 8;
constexpr milliseconds kReadyTimeout{10'000};
constexpr milliseconds kLaunchTimeout{10'000};

void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

// Sends one message; false (errno set) when the socket refused it.
bool Send(int socket, const Header& header, const std::string& body, const std::vector<int>& fds,
          int flags = 0) {
  iovec parts[2] = {{const_cast<Header*>(&header), sizeof header},
                    {const_cast<char*>(body.data()), body.size()}};
  msghdr msg{};
  msg.msg_iov = parts;
  msg.msg_iovlen = body.empty() ? 1 : 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t n = ::sendmsg(socket, &msg, MSG_NOSIGNAL | flags);
    if (n >= 0) {
      return true;
    }
    if (errno != EINTR) {
      return false;
    }
  }
}

// Receives one message: its size (0 at EOF, -1 with errno on error), its descriptors (close-on-
// exec) in `fds`.
ssize_t Receive(int socket, char* buffer, std::size_t size, std::vector<int>& fds) {
  iovec part{buffer, size};
  msghdr msg{};
  msg.msg_iov = &part;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = 0;
  do {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  fds.clear();
  if (n < 0) {
    return n;
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      std::vector<int> got(count);
      std::memcpy(got.data(), CMSG_DATA(c), count * sizeof(int));
      fds.insert(fds.end(), got.begin(), got.end());
    }
  }
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    CloseAll(fds);
    fds.clear();
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}

// --- the launcher's side --------------------------------------------------------------------

// `ps` and /proc/<pid>/cmdline show a launched slice as an exec'd one: `--role slice --slice-id
// N` over the launcher's own arguments (which leave room for it: see SliceLauncher::Start).
void RenameArguments(char** argv, int argc, long long slice_id) {
  if (argc < 2) {
    return;
  }
  char* begin = argv[1];
  char* end = argv[argc - 1] + std::strlen(argv[argc - 1]) + 1;
  std::string wanted = std::string("--role") + '\0' + "slice" + '\0' + "--slice-id" + '\0' +
                       std::to_string(slice_id) + '\0';
  if (wanted.size() > static_cast<std::size_t>(end - begin)) {
    return;
  }
  std::memset(begin, 0, static_cast<std::size_t>(end - begin));
  std::memcpy(begin, wanted.data(), wanted.size());
}

// In the new slice process (a fork of the single-threaded launcher): everything an exec'd slice
// gets between fork and exec, in the same order (orchestrator.cpp, StartProcess), then its
// environment and signal mask.
void EnterSlice(const Header& request, const std::vector<int>& fds,
                const std::vector<std::string>& environment, const sigset_t& mask,
                pid_t launcher) {
  int log_fd = fds[0];
  int secret_fd = fds[1];
  ::dup2(log_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  // Before setuid (the group files are root's) and before it runs anything.
  std::string pid = std::to_string(::getpid());
  for (std::size_t i = 0; i < request.group_fds; ++i) {
    if (::write(fds[2 + i], pid.data(), pid.size()) != static_cast<ssize_t>(pid.size())) {
      ChildSetupFailed("joining the slice's cgroup");
    }
  }
  // The password on a known descriptor, then nothing else of the launcher's (its control socket,
  // the other descriptors it was handed) beyond 0-2.
  if (::dup2(secret_fd, kLaunchedSecretFd) != kLaunchedSecretFd) {
    ChildSetupFailed("placing the password's descriptor");
  }
  if (::syscall(SYS_close_range, kLaunchedSecretFd + 1U, ~0U, 0U) != 0) {
    for (int fd = kLaunchedSecretFd + 1; fd < 65'536; ++fd) {
      ::close(fd);
    }
  }
  if (request.address_space_limit != 0) {
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max = request.address_space_limit;
    ::setrlimit(RLIMIT_AS, &limit);
  }
  DropToSliceUser(static_cast<unsigned>(request.uid));
  // After setuid, which clears it: it dies with the launcher, which ends with the orchestrator.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != launcher) {
    ::_exit(1);  // the launcher died before the line above
  }
  ::clearenv();
  for (const auto& entry : environment) {
    ::putenv(::strdup(entry.c_str()));
  }
  ::setenv("CRM_DATABASE_PASSWORD_FD", std::to_string(kLaunchedSecretFd).c_str(), 1);
  ::sigprocmask(SIG_SETMASK, &mask, nullptr);
}

}  // namespace

// --- the orchestrator's side ------------------------------------------------------------------

std::shared_ptr<SliceLauncher> SliceLauncher::Start(const std::string& binary) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    throw RuntimeError(std::string("socketpair: ") + std::strerror(errno));
  }
  // The launcher's end above kLauncherControlFd, so that dup2 onto it is a real copy (without
  // close-on-exec).
  int child_end = ::fcntl(sv[1], F_DUPFD_CLOEXEC, kLauncherControlFd + 1);
  ::close(sv[1]);
  if (child_end < 0) {
    ::close(sv[0]);
    throw RuntimeError(std::string("fcntl: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_end, kLauncherControlFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, kLauncherControlFd + 1);
  // The slice id is room for each launched slice's own arguments (RenameArguments).
  std::vector<std::string> args = {binary, "--role", "slice-launcher", "--slice-id",
                                   "100000000000000000"};
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const char* path = std::getenv("PATH");
  std::string path_entry = std::string("PATH=") + (path != nullptr ? path : "/usr/bin:/bin");
  char* envp[] = {path_entry.data(), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  ::close(child_end);
  if (rc != 0) {
    ::close(sv[0]);
    throw RuntimeError("cannot start the slice launcher (" + binary + "): " + std::strerror(rc));
  }
  std::shared_ptr<SliceLauncher> launcher(new SliceLauncher(pid, sv[0]));
  // Its first message says it serves; a binary without the role exits instead.
  Header header;
  std::vector<int> fds;
  pollfd p{sv[0], POLLIN, 0};
  int ready = ::poll(&p, 1, static_cast<int>(kReadyTimeout.count()));
  ssize_t n = ready > 0 ? Receive(sv[0], reinterpret_cast<char*>(&header), sizeof header, fds) : -1;
  CloseAll(fds);
  if (n != static_cast<ssize_t>(sizeof header) || header.kind != Kind::kReady) {
    throw RuntimeError("the slice launcher (" + binary + " --role slice-launcher) did not start" +
                       (ready > 0 ? "" : " within 10 s"));
  }
  return launcher;
}

SliceLauncher::~SliceLauncher() {
  ::close(control_);
  // It exits at EOF; its slices have been stopped by then, or get SIGTERM as it goes.
  auto deadline = Clock::now() + std::chrono::seconds(3);
  for (;;) {
    pid_t got = ::waitpid(pid_, nullptr, WNOHANG);
    if (got == pid_ || (got < 0 && errno == ECHILD)) {
      return;
    }
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      return;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

bool SliceLauncher::Alive() {
  std::lock_guard lock(mutex_);
  if (gone_) {
    return false;
  }
  pid_t got = ::waitpid(pid_, nullptr, WNOHANG);
  if (got == pid_ || (got < 0 && errno == ECHILD)) {
    gone_ = true;
  }
  return !gone_;
}

std::optional<SliceLauncher::Reply> SliceLauncher::ReadOne(milliseconds timeout, bool* eof) {
  *eof = false;
  pollfd p{control_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
    return std::nullopt;
  }
  Header header;
  std::vector<int> fds;
  ssize_t n = Receive(control_, reinterpret_cast<char*>(&header), sizeof header, fds);
  if (n <= 0) {
    CloseAll(fds);
    *eof = true;
    gone_ = true;
    return std::nullopt;
  }
  if (n != static_cast<ssize_t>(sizeof header)) {
    CloseAll(fds);
    return std::nullopt;
  }
  if (header.kind == Kind::kExited) {
    CloseAll(fds);
    exits_[header.pid] = header.value;
    return std::nullopt;
  }
  if (header.kind != Kind::kLaunched) {
    CloseAll(fds);
    return std::nullopt;
  }
  Reply reply{header.pid, header.value, -1};
  if (!fds.empty()) {
    reply.pidfd = fds[0];
    fds.erase(fds.begin());
    CloseAll(fds);
  }
  return reply;
}

std::pair<pid_t, int> SliceLauncher::Launch(const SliceSpawn& spawn) {
  std::string environment;
  for (const auto& entry : spawn.environment) {
    environment += entry;
    environment += '\0';
  }
  if (environment.size() + sizeof(Header) > kMaxMessage || spawn.group_fds.size() + 2 > kMaxFds) {
    throw RuntimeError("slice " + std::to_string(spawn.slice_id) +
                       ": its environment is too large for the slice launcher");
  }
  Header header;
  header.kind = Kind::kLaunch;
  header.slice_id = spawn.slice_id;
  header.uid = spawn.uid;
  header.address_space_limit = spawn.address_space_limit;
  header.group_fds = static_cast<std::uint32_t>(spawn.group_fds.size());
  header.environment_bytes = static_cast<std::uint32_t>(environment.size());
  std::vector<int> fds = {spawn.log_fd, spawn.secret_fd};
  fds.insert(fds.end(), spawn.group_fds.begin(), spawn.group_fds.end());
  std::lock_guard lock(mutex_);
  if (gone_) {
    throw RuntimeError("the slice launcher has exited");
  }
  if (!Send(control_, header, environment, fds)) {
    gone_ = true;
    throw RuntimeError(std::string("the slice launcher did not take the request: ") +
                       std::strerror(errno));
  }
  auto deadline = Clock::now() + kLaunchTimeout;
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      // Its answer may still come; a launcher that does not answer is replaced.
      gone_ = true;
      throw RuntimeError("the slice launcher did not answer within 10 s");
    }
    bool eof = false;
    auto reply = ReadOne(left, &eof);
    if (eof) {
      throw RuntimeError("the slice launcher exited");
    }
    if (!reply) {
      continue;
    }
    if (reply->pid <= 0) {
      if (reply->pidfd >= 0) {
        ::close(reply->pidfd);
      }
      throw RuntimeError(std::string("the slice launcher could not fork: ") +
                         std::strerror(reply->error));
    }
    if (reply->pidfd < 0) {
      ::kill(reply->pid, SIGKILL);
      throw RuntimeError("the slice launcher sent no pidfd for pid " + std::to_string(reply->pid));
    }
    return {reply->pid, reply->pidfd};
  }
}

std::optional<int> SliceLauncher::TakeExitStatus(pid_t pid, milliseconds timeout) {
  std::lock_guard lock(mutex_);
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto it = exits_.find(pid); it != exits_.end()) {
      int status = it->second;
      exits_.erase(it);
      return status;
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (gone_ || left.count() <= 0) {
      return std::nullopt;
    }
    bool eof = false;
    auto reply = ReadOne(left, &eof);
    if (reply && reply->pidfd >= 0) {
      ::close(reply->pidfd);  // a launch given up on: not ours to keep
    }
  }
}

long long ServeSliceLaunches(int argc, char** argv) {
  constexpr int control = kLauncherControlFd;
  struct stat st {};
  int type = 0;
  socklen_t type_size = sizeof type;
  if (::fstat(control, &st) != 0 || !S_ISSOCK(st.st_mode) ||
      ::getsockopt(control, SOL_SOCKET, SO_TYPE, &type, &type_size) != 0 ||
      type != SOCK_SEQPACKET) {
    throw InputError(
        "--role slice-launcher: descriptor 3 is not a launcher's control socket (the "
        "orchestrator starts this role itself)",
        "role");
  }
  ::fcntl(control, F_SETFD, FD_CLOEXEC);
  // What a slice started now would inherit from an exec: the mask crmd had when it started this.
  sigset_t inherited;
  ::sigprocmask(SIG_SETMASK, nullptr, &inherited);
  sigset_t child_exits;
  sigemptyset(&child_exits);
  sigaddset(&child_exits, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &child_exits, nullptr);
  int exits = ::signalfd(-1, &child_exits, SFD_NONBLOCK | SFD_CLOEXEC);
  if (exits < 0) {
    throw RuntimeError(std::string("signalfd: ") + std::strerror(errno));
  }
  const pid_t self = ::getpid();
  Header ready;
  ready.kind = Kind::kReady;
  ready.pid = self;
  if (!Send(control, ready, {}, {})) {
    return 0;
  }
  std::vector<char> buffer(kMaxMessage);
  for (;;) {
    pollfd p[2] = {{control, POLLIN, 0}, {exits, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw RuntimeError(std::string("poll: ") + std::strerror(errno));
    }
    if ((p[1].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      while (::read(exits, &info, sizeof info) > 0) {
      }
      int status = 0;
      for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
        Header exited;
        exited.kind = Kind::kExited;
        exited.pid = pid;
        exited.value = status;
        // Never blocks the launcher: an orchestrator that stopped reading loses the report.
        Send(control, exited, {}, {}, MSG_DONTWAIT);
      }
    }
    if (p[0].revents == 0) {
      continue;
    }
    std::vector<int> fds;
    ssize_t n = Receive(control, buffer.data(), buffer.size(), fds);
    if (n == 0 || (n < 0 && errno != EMSGSIZE && errno != EAGAIN)) {
      // The orchestrator is gone (or closed its end): so are we; our slices get SIGTERM.
      std::exit(0);
    }
    Header request;
    bool valid = n >= static_cast<ssize_t>(sizeof request);
    if (valid) {
      std::memcpy(&request, buffer.data(), sizeof request);
      valid = request.kind == Kind::kLaunch &&
              static_cast<std::size_t>(n) == sizeof request + request.environment_bytes &&
              fds.size() == 2 + static_cast<std::size_t>(request.group_fds);
    }
    Header answer;
    answer.kind = Kind::kLaunched;
    if (!valid) {
      CloseAll(fds);
      answer.pid = -1;
      answer.value = EINVAL;
      Send(control, answer, {}, {});
      continue;
    }
    std::vector<std::string> environment;
    const char* at = buffer.data() + sizeof request;
    const char* end = at + request.environment_bytes;
    while (at < end) {
      const char* stop = static_cast<const char*>(std::memchr(at, '\0', std::size_t(end - at)));
      if (stop == nullptr) {
        stop = end;
      }
      environment.emplace_back(at, stop);
      at = stop + 1;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
      EnterSlice(request, fds, environment, inherited, self);
      RenameArguments(argv, argc, request.slice_id);
      return request.slice_id;
    }
    int fork_error = errno;
    CloseAll(fds);
    // The next slice is a copy of this process: it keeps nothing of this one's environment (a
    // Cloud API slice's token, say).
    for (auto& entry : environment) {
      ::explicit_bzero(entry.data(), entry.size());
    }
    ::explicit_bzero(buffer.data(), static_cast<std::size_t>(n));
    std::vector<int> pidfd;
    if (pid > 0) {
      int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      if (fd >= 0) {
        pidfd.push_back(fd);
      }
    }
    answer.pid = pid > 0 ? pid : -1;
    answer.value = pid > 0 ? 0 : fork_error;
    Send(control, answer, {}, pidfd);
    CloseAll(pidfd);
  }
}

void ChildSetupFailed(const char* what) {
  const char* reason = std::strerror(errno);
  [[maybe_unused]] auto a = ::write(STDERR_FILENO, what, std::strlen(what));
  [[maybe_unused]] auto b = ::write(STDERR_FILENO, ": ", 2);
  [[maybe_unused]] auto c = ::write(STDERR_FILENO, reason, std::strlen(reason));
  [[maybe_unused]] auto d = ::write(STDERR_FILENO, "\n", 1);
  ::_exit(126);
}

void DropToSliceUser(unsigned uid) {
  if (uid != 0) {
    if (::setgroups(0, nullptr) != 0) {
      ChildSetupFailed("setgroups");
    }
    if (::setgid(static_cast<gid_t>(uid)) != 0) {
      ChildSetupFailed("setgid");
    }
    if (::setuid(static_cast<uid_t>(uid)) != 0) {
      ChildSetupFailed("setuid");
    }
    ::umask(0077);
  }
  // Capabilities crmd was granted (the unit's AmbientCapabilities) stop here.
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

}  // namespace crm::orchestrator
