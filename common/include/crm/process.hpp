// Processes by pid: pid files, whether a process still runs.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>

namespace crm {

/// The pid written in `path` (a pid file, PostgreSQL's postmaster.pid, a lock), or nullopt when
/// the file is missing, empty or holds no positive pid on its first line.
std::optional<pid_t> ReadPidFile(const std::filesystem::path& path);

/// Whether a process with this pid exists (ours or another user's). A zombie counts as existing;
/// see IsZombie.
bool ProcessExists(pid_t pid);

/// Whether `pid` has exited but not been reaped by its parent yet (state Z in /proc).
bool IsZombie(pid_t pid);

}  // namespace crm
