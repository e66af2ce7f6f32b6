// Reading and writing whole files, and secrets kept in files (mode 0600).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace crm {

/// The whole content of `path`. Throws RuntimeError naming the path and the OS error.
std::string ReadFile(const std::filesystem::path& path);

/// The whole content of `path`, or nullopt when it does not exist or cannot be opened.
std::optional<std::string> ReadFileIfExists(const std::filesystem::path& path);

/// Writes `content` to `path` through a temporary file renamed over it, so a reader sees the old
/// or the new content, never a part; creates the parent directories. Throws RuntimeError.
void WriteFileAtomic(const std::filesystem::path& path, const std::string& content,
                     int mode = 0644);

/// Reads a secret file (trailing newlines dropped), refusing one that others can read ("mode
/// 0644: … want 0600"). `what` names the secret in messages. Throws InputError.
std::string ReadSecretFile(const std::filesystem::path& path, const std::string& what);

}  // namespace crm
