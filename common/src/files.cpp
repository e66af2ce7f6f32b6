#include "crm/files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "crm/error.hpp"

namespace crm {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw RuntimeError(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw RuntimeError(fmt::format("cannot read {}", path.string()));
  }
  return text.str();
}

std::optional<std::string> ReadFileIfExists(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFileAtomic(const std::filesystem::path& path, const std::string& content, int mode) {
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path());
  }
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) {
    throw RuntimeError(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
  }
  // open() applies the umask; fchmod gives the file exactly `mode` (secrets rely on it).
  const bool ok =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
      ::fchmod(fd, static_cast<mode_t>(mode)) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    std::filesystem::remove(tmp);
    throw RuntimeError(fmt::format("cannot write {}: {}", path.string(), std::strerror(saved)));
  }
  std::filesystem::rename(tmp, path);
}

std::string ReadSecretFile(const std::filesystem::path& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw InputError(path.string() + ": cannot read the " + what + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 0077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw InputError(path.string() + ": the " + what + " file has mode " + mode +
                     ": others can read it; want 0600 (chmod 600 " + path.string() + ")");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) {
    secret.pop_back();
  }
  if (!in && !in.eof()) {
    throw InputError(path.string() + ": cannot read the " + what);
  }
  return secret;
}

}  // namespace crm
