// argon2id on a pool of its own, bounded: a flood of sign-ins can keep these threads busy but never
// queues without limit, nor delays session lookups and other requests on the blocking pool.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <string>

#include "crm/http/blocking.hpp"

namespace crm::gateway {

class PasswordHasher {
 public:
  /// `threads` hash at once (each argon2id takes 19 MiB while it runs); up to `queue` more wait.
  PasswordHasher(std::size_t threads, std::size_t queue);

  /// argon2id of `password`, computed on the pool. Throws Unavailable (503, Retry-After) when
  /// `threads + queue` hashes are already in flight. `password` must outlive the call.
  boost::asio::awaitable<std::string> Hash(const std::string& password);
  /// Whether `password` matches `hash`, checked on the pool. An empty `hash` (no such account)
  /// does the same work against a dummy hash and answers false, so timing does not tell which
  /// addresses have accounts. Throws Unavailable like Hash.
  boost::asio::awaitable<bool> Verify(const std::string& password, const std::string& hash);

  /// Hashes running or waiting now.
  std::size_t in_flight() const { return in_flight_.load(); }

 private:
  class Admission;
  http::BlockingPool pool_;
  std::size_t capacity_;
  std::atomic<std::size_t> in_flight_{0};
};

}  // namespace crm::gateway
