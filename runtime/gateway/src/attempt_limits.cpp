#include "attempt_limits.hpp"

namespace crm::gateway {
namespace {

[[noreturn]] void Refuse(const char* what, std::chrono::seconds wait) {
  throw Throttled(std::string("too many ") + what + " attempts from your address; retry in " +
                      std::to_string(wait.count()) + " s",
                  wait);
}

}  // namespace

std::chrono::seconds CountSharedAttempt(pqxx::work& tx, const std::string& kind,
                                        const std::string& key, int limit,
                                        std::chrono::seconds window) {
  auto row = tx.exec_params1(
      "INSERT INTO gateway.rate_limits AS r (kind, key, window_start, attempts) "
      "VALUES ($1, $2, now(), 1) ON CONFLICT (kind, key) DO UPDATE SET "
      "attempts = CASE WHEN r.window_start <= now() - make_interval(secs => $3) THEN 1 "
      "ELSE r.attempts + 1 END, "
      "window_start = CASE WHEN r.window_start <= now() - make_interval(secs => $3) THEN now() "
      "ELSE r.window_start END "
      "RETURNING attempts, ceil(extract(epoch FROM r.window_start + make_interval(secs => $3) - "
      "now()))::bigint",
      kind, key, static_cast<long long>(window.count()));
  // Windows long past are nobody's: swept now and then by whoever counts.
  if (row[0].as<int>() == 1 && std::rand() % 100 == 0) {
    tx.exec_params(
        "DELETE FROM gateway.rate_limits WHERE window_start < now() - make_interval(secs => $1)",
        static_cast<long long>(window.count()) * 2);
  }
  if (row[0].as<int>() <= limit) {
    return std::chrono::seconds(0);
  }
  return std::chrono::seconds(std::max(1LL, row[1].as<long long>()));
}

boost::asio::awaitable<void> LimitAttempts(GatewayContext& gateway, RateLimiter& limiter,
                                           Exchange& ex, const char* what) {
  std::string ip = gateway.browser.ClientIp(ex.request(), ex.peer());
  auto wait = limiter.Attempt(ip, RateLimiter::Clock::now());
  if (wait.count() > 0) {
    Refuse(what, wait);
  }
  if (!gateway.options.shared_limits) {
    co_return;
  }
  std::string kind = &limiter == &gateway.login_limiter ? "sign-in" : "account";
  int limit = limiter.limit();
  std::chrono::seconds window = limiter.window();
  wait = co_await gateway.route.db().Write(
      [&](pqxx::work& tx) { return CountSharedAttempt(tx, kind, ip, limit, window); });
  if (wait.count() > 0) {
    Refuse(what, wait);
  }
}

}  // namespace crm::gateway
