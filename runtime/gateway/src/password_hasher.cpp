#include "crm/gateway/password_hasher.hpp"

#include "crm/error.hpp"
#include "crm/gateway/auth.hpp"

namespace crm::gateway {
namespace {

// What a check against a missing account costs the same as a real one against.
const std::string& DummyHash() {
  static const std::string hash = HashPassword("not-a-real-password");
  return hash;
}

}  // namespace

// One place among `capacity_`, held while a hash waits or runs.
class PasswordHasher::Admission {
 public:
  explicit Admission(PasswordHasher& hasher) : hasher_(hasher) {
    std::size_t now = hasher_.in_flight_.load();
    do {
      if (now >= hasher_.capacity_) {
        // A second is about what the queue takes to drain at argon2id's ~50 ms per hash.
        throw Unavailable("too many sign-ins at once; retry in a second", std::chrono::seconds(1));
      }
    } while (!hasher_.in_flight_.compare_exchange_weak(now, now + 1));
  }
  ~Admission() { hasher_.in_flight_.fetch_sub(1); }
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

 private:
  PasswordHasher& hasher_;
};

PasswordHasher::PasswordHasher(std::size_t threads, std::size_t queue)
    : pool_(threads < 1 ? 1 : threads), capacity_((threads < 1 ? 1 : threads) + queue) {}

boost::asio::awaitable<std::string> PasswordHasher::Hash(const std::string& password) {
  Admission admission(*this);
  co_return co_await pool_.Run([&password] { return HashPassword(password); });
}

boost::asio::awaitable<bool> PasswordHasher::Verify(const std::string& password,
                                                    const std::string& hash) {
  Admission admission(*this);
  co_return co_await pool_.Run([&password, &hash] {
    bool known = !hash.empty();
    bool match = VerifyPassword(password, known ? hash : DummyHash());
    return known && match;
  });
}

}  // namespace crm::gateway
