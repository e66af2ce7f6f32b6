#include "crm/process.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <cerrno>
#include <fstream>

#include "crm/files.hpp"

namespace crm {

std::optional<pid_t> ReadPidFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  long long pid = 0;
  if (in >> pid && pid > 0 && pid < (1LL << 31)) {
    return static_cast<pid_t>(pid);
  }
  return std::nullopt;
}

bool ProcessExists(pid_t pid) {
  if (pid <= 0) {
    return false;
  }
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

bool IsZombie(pid_t pid) {
  const std::string stat = ReadFileIfExists(fmt::format("/proc/{}/stat", pid)).value_or("");
  // The command name (in parentheses) may hold spaces and ')': the state follows the last ')'.
  const std::size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

}  // namespace crm
