// The sign-in and sign-up limits per client address: this process's own count (in memory, so a
// flood costs no database work), and with shared_limits every gateway's (gateway.rate_limits),
// so a load balancer spreading one address over N gateways does not give it N times the share.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <string>

#include "gateway_context.hpp"

namespace crm::gateway {

/// Counts an attempt of `kind` by `key` in gateway.rate_limits, in a fixed window of
/// `window`; returns the seconds until the window ends once `limit` is passed, else 0.
std::chrono::seconds CountSharedAttempt(pqxx::work& tx, const std::string& kind,
                                        const std::string& key, int limit,
                                        std::chrono::seconds window);

/// Counts an attempt by the request's client against `limiter` (and, with shared_limits, against
/// every gateway's count); throws Throttled naming `what` ("sign-in") when it had its share.
boost::asio::awaitable<void> LimitAttempts(GatewayContext& gateway, RateLimiter& limiter,
                                           Exchange& ex, const char* what);

}  // namespace crm::gateway
