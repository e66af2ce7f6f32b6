// What one HTTP server allows: body and header sizes (per path prefix where they differ),
// timeouts, and how many connections at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crm::http {

/// Meta's webhook payloads are at most 3 MB.
constexpr std::uint64_t kWebhookBodyLimit = 3ull << 20;

struct ServerLimits {
  std::uint64_t body_limit = 1 << 20;
  /// Larger (or smaller) limits for paths starting with a prefix ("/api/broadcasts").
  std::vector<std::pair<std::string, std::uint64_t>> body_limit_for;
  /// The body limit of a request for `target`.
  std::uint64_t BodyLimitFor(std::string_view target) const;
  std::uint32_t header_limit = 16 * 1024;
  /// Each request's headers, in full: from accept for the first, from its first byte after.
  std::chrono::milliseconds header_timeout{10'000};
  /// A keep-alive connection waiting longer for its next request's first byte closes.
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  /// After refusing a request whose body was not read, how long the server keeps reading (and
  /// discarding) what the client still sends before it closes: closing with unread bytes makes
  /// the kernel reset the connection, and the client may lose the answer (nginx's lingering
  /// close does the same).
  std::chrono::milliseconds linger_timeout{5'000};
  std::size_t max_connections = 10'000;  ///< beyond this, new connections get 503 and close
  /// Per TCP peer address (Unix-socket peers are not counted): beyond this, 503 and close.
  std::size_t max_connections_per_address = 256;
};

}  // namespace crm::http
