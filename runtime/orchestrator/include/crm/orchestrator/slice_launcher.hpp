// The slice launcher: one process (`crmd --role slice-launcher`) that the orchestrator starts
// once and asks for every slice process, which it forks from itself (single-threaded) instead of
// the orchestrator exec-ing crmd anew for each. Its children share, copy-on-write, the pages the
// dynamic linker relocated and what static initialisation wrote (docs/architecture.md,
// "Processes"); each exec'd slice held its own copy of them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace crm::orchestrator {

/// The descriptor the launcher's control socket is on in `crmd --role slice-launcher`.
inline constexpr int kLauncherControlFd = 3;
/// The descriptor a launched slice finds its database password on (CRM_DATABASE_PASSWORD_FD).
inline constexpr int kLaunchedSecretFd = 3;

/// What a new slice process gets: the same as an exec'd one.
struct SliceSpawn {
  long long slice_id = 0;
  /// Its whole environment, NAME=value (CRM_DATABASE_PASSWORD_FD is set by the launcher).
  std::vector<std::string> environment;
  int log_fd = -1;                        ///< its stdout and stderr
  int secret_fd = -1;                     ///< the database password, read and closed by the slice
  std::vector<int> group_fds;             ///< cgroup.procs files it joins before it runs
  std::uint64_t address_space_limit = 0;  ///< RLIMIT_AS in bytes; 0 = none
  std::uint32_t uid = 0;                  ///< uid and gid to run as; 0 = the launcher's own
};

/// The orchestrator's end of one launcher process. Thread-safe.
class SliceLauncher {
 public:
  /// Starts `binary --role slice-launcher` (stdout/stderr crmd's) and waits until it is ready.
  /// Throws RuntimeError when it does not start (a binary without the role, say).
  static std::shared_ptr<SliceLauncher> Start(const std::string& binary);
  /// Closes the control socket (the launcher exits; slices it started get SIGTERM) and reaps it.
  ~SliceLauncher();
  SliceLauncher(const SliceLauncher&) = delete;
  SliceLauncher& operator=(const SliceLauncher&) = delete;

  /// A slice process forked by the launcher: its pid and a pidfd (owned by the caller) to poll
  /// for its exit and signal it without a pid-reuse race. Throws RuntimeError when the launcher
  /// is gone or the fork failed.
  std::pair<pid_t, int> Launch(const SliceSpawn& spawn);
  /// The wait status of launched `pid` once it exited and the launcher reported it, waiting up
  /// to `timeout` for the report; nullopt when none came (the launcher is gone). Forgets it.
  std::optional<int> TakeExitStatus(pid_t pid, std::chrono::milliseconds timeout);
  /// Whether the launcher process still runs (a dead one is replaced by a new one).
  bool Alive();
  pid_t pid() const { return pid_; }

 private:
  SliceLauncher(pid_t pid, int control) : pid_(pid), control_(control) {}
  /// Reads one message (blocking up to `timeout`); exit reports are filed. Returns the reply's
  /// payload for a launch, nullopt for a report or nothing. Under mutex_.
  struct Reply {
    pid_t pid = 0;
    int error = 0;
    int pidfd = -1;
  };
  std::optional<Reply> ReadOne(std::chrono::milliseconds timeout, bool* eof);

  pid_t pid_;
  int control_;
  bool gone_ = false;  ///< the control socket reached EOF (under mutex_)
  std::mutex mutex_;
  std::map<pid_t, int> exits_;  ///< wait statuses reported and not yet taken
};

/// The launcher itself, in `crmd --role slice-launcher`: serves launch requests on
/// kLauncherControlFd until the orchestrator closes it, then exits. Returns only in a new slice
/// process, already set up as an exec'd one would be (descriptors, groups, limits, uid,
/// capabilities, environment, signal mask, parent-death signal): the slice's id, to run it.
/// `argc`/`argv` are main's: a slice shows in `ps` as `--role slice --slice-id N`, written over
/// them. Throws InputError when the descriptor is not a launcher's control socket.
long long ServeSliceLaunches(int argc, char** argv);

/// Writes "`what`: <errno's text>" to stderr (a new slice's log) and exits 126: a slice whose
/// setup failed between fork and exec, or fork and run, never runs. Async-signal-safe, for a
/// child forked by a threaded process.
[[noreturn]] void ChildSetupFailed(const char* what);

/// In a new slice process, before it runs anything of its own: becomes `uid` (its group too, no
/// supplementary groups, umask 0077) when it is not 0, and drops the ambient capabilities crmd was
/// granted. Async-signal-safe; a step that fails ends the process (ChildSetupFailed).
void DropToSliceUser(unsigned uid);

}  // namespace crm::orchestrator
