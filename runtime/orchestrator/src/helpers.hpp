// Small helpers the orchestrator's sources share: the tail of a log for an error message, random
// secrets.
#pragma once

#include <sodium.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace crm::orchestrator {

/// The last `lines` lines of `file` joined with " | " (empty when it cannot be read).
inline std::string LastLines(const std::filesystem::path& file, std::size_t lines) {
  std::ifstream in(file);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (tail.size() > lines) {
      tail.pop_front();
    }
  }
  std::string out;
  for (const auto& l : tail) {
    out += (out.empty() ? "" : " | ") + l;
  }
  return out;
}

/// `bytes` random bytes (libsodium's, initialised by the caller) as lower-case hex.
inline std::string RandomHex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
  hex.pop_back();
  return hex;
}

}  // namespace crm::orchestrator
