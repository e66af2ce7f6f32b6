// The gateway (`crmd --role gateway|all`): accounts, sessions, the proxy to each tenant's slice,
// live events, the admin API, the orchestrator that runs the slices, the mailer and the monitor.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "crm/address_range.hpp"
#include "crm/billing/billing_service.hpp"
#include "crm/db/pool.hpp"
#include "crm/gateway/price_plan.hpp"
#include "crm/gateway/region.hpp"
#include "crm/http/endpoint.hpp"
#include "crm/http/limits.hpp"
#include "crm/mail/mailer.hpp"
#include "crm/monitor/monitor.hpp"
#include "crm/orchestrator/orchestrator.hpp"

namespace crm::gateway {

struct GatewayOptions {
  std::string log_level = "info";
  http::Endpoint listen;
  http::ServerLimits limits;
  int io_threads = 2;
  std::chrono::milliseconds drain_timeout{10'000};
  db::PoolOptions database;        ///< the gateway's pool (gateway schema, every slice's rows)
  std::size_t worker_threads = 4;  ///< blocking work: database calls, password hashing
  /// The origin browsers use ("https://crm.example.com"): mailed links, the Origin check and the
  /// cookies' Secure flag follow it. Empty: derived from the bound listen address
  /// (BrowserPolicy::DeriveFrom), never from a request's Host.
  std::string public_url;
  /// Peers whose X-Forwarded-For names the client; empty: the peer is the client.
  std::vector<AddressRange> trusted_proxies;
  /// The web app's built files (index.html, assets/…), served for every path no API route
  /// claims.
  std::filesystem::path web_root;
  PricePlan plan;  ///< GET /billing/plan
  std::chrono::seconds session_ttl{std::chrono::hours(24 * 30)};
  int login_attempts_per_minute = 5;               ///< per client address
  std::size_t rate_limit_max_addresses = 100'000;  ///< per limiter; the quietest is evicted
  std::size_t password_hash_threads = 2;           ///< argon2id runs here, apart from other work
  std::size_t password_hash_queue = 32;            ///< hashes waiting past which 503
  std::string whatsapp_verify_token;               ///< the webhook subscription handshake
  std::string whatsapp_app_secret;  ///< verifies X-Hub-Signature-256 on /webhooks/whatsapp
  orchestrator::OrchestratorOptions orchestrator;
  /// Presented to slice hosts with every request (placement kGateway).
  std::string internal_token;
  /// Count sign-in and sign-up attempts in PostgreSQL, so every gateway behind the load
  /// balancer shares one limit per client address.
  bool shared_limits = false;
  mail::MailerOptions mail;         ///< the mailer this gateway runs (docs/operations.md, "Mail")
  billing::BillingOptions billing;  ///< off without a Stripe secret key
  monitor::MonitorOptions
      monitor;           ///< checks, alerts, telemetry (docs/operations.md, "Monitoring")
  RegionOptions region;  ///< tenant region pinning (docs/operations.md, "Regions")
};

/// Runs the gateway (with its orchestrator, and the slice processes unless slice hosts run them)
/// until SIGTERM/SIGINT.
int RunGateway(const GatewayOptions& options);

/// `crmd admin create --email E`: creates (or promotes) an admin account with `password`.
/// Runs the gateway migrations first. Returns the user id.
long long CreateAdmin(const db::PoolOptions& database, const std::string& email,
                      const std::string& password);

/// `crmd migrate`: migrates the gateway schema and every live slice schema. Returns one line
/// per schema ("gateway: applied 0001_init", "slice_3: up to date").
std::vector<std::string> MigrateAll(const db::PoolOptions& database);

}  // namespace crm::gateway
