// What every route file of the gateway works with: its settings, the database and the caller
// (the shared preamble), the browser rules, the orchestrator, the monitor, the slices' upstreams,
// the password hashing pool and the per-address limits. Owned by RunGateway; outlives the router.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iterator>
#include <string>

#include <fmt/format.h>

#include "crm/billing/billing_service.hpp"
#include "crm/gateway/browser.hpp"
#include "crm/gateway/gateway.hpp"
#include "crm/gateway/password_hasher.hpp"
#include "crm/gateway/rate_limiter.hpp"
#include "crm/gateway/region.hpp"
#include "crm/gateway/sessions.hpp"
#include "crm/http/metrics.hpp"
#include "crm/http/route_context.hpp"
#include "crm/orchestrator/orchestrator.hpp"
#include "slice_upstreams.hpp"

namespace crm::gateway {

using namespace http::route_names;  // Exchange, Reply, Response, Status, json, bhttp

struct GatewayContext {
  GatewayContext(const GatewayOptions& settings, http::DbCall db,
                 orchestrator::Orchestrator& slices, billing::BillingService& billing_service,
                 monitor::Monitor& slice_monitor, http::Metrics& process_metrics)
      : options(settings),
        sessions(db, settings.session_ttl),
        route(db, sessions),
        browser(settings.public_url, settings.trusted_proxies, settings.session_ttl),
        orchestrator(slices),
        billing(billing_service),
        monitor(slice_monitor),
        metrics(process_metrics),
        passwords(settings.password_hash_threads, settings.password_hash_queue),
        login_limiter(settings.login_attempts_per_minute, std::chrono::seconds(60),
                      settings.rate_limit_max_addresses),
        account_limiter(std::max(20, settings.login_attempts_per_minute), std::chrono::seconds(60),
                        settings.rate_limit_max_addresses),
        regions(settings.region) {}

  const GatewayOptions& options;
  Sessions sessions;
  http::RouteContext<Caller> route;
  BrowserPolicy browser;
  orchestrator::Orchestrator& orchestrator;
  billing::BillingService& billing;
  monitor::Monitor& monitor;
  http::Metrics& metrics;
  SliceUpstreams upstreams;
  PasswordHasher passwords;     ///< argon2id, on threads of its own
  RateLimiter login_limiter;    ///< sign-ins per client address
  RateLimiter account_limiter;  ///< sign-ups and password resets per client address
  RegionPeers regions;          ///< the other regions' gateways (region_routes.cpp)

  /// Addresses `out` to slice `slice_id`: its Host (which slice hosts route by) and, behind
  /// gateways, the token that proves to a slice host that the request comes from one.
  void ToSlice(http::Request& out, long long slice_id) const {
    out.set(bhttp::field::host, "slice-" + std::to_string(slice_id));
    if (!options.internal_token.empty()) {
      out.set(orchestrator::kGatewayTokenHeader, options.internal_token);
    }
  }
  /// The same, as header lines appended to a request head being written out.
  void ToSlice(std::string& head, long long slice_id) const {
    char digits[24];
    char* end = std::to_chars(digits, digits + sizeof digits, slice_id).ptr;
    head.append("Host: slice-").append(digits, end).append("\r\n");
    if (!options.internal_token.empty()) {
      head.append(orchestrator::kGatewayTokenHeader)
          .append(": ")
          .append(options.internal_token)
          .append("\r\n");
    }
  }
};

}  // namespace crm::gateway
