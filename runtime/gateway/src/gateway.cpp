#include "crm/gateway/gateway.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include "account_routes.hpp"
#include "admin_routes.hpp"
#include "auth_routes.hpp"
#include "billing_routes.hpp"
#include "crm/config/logging.hpp"
#include "crm/db/leader.hpp"
#include "crm/db/listener.hpp"
#include "crm/db/migrations.hpp"
#include "crm/db/pool.hpp"
#include "crm/gateway/account_store.hpp"
#include "crm/gateway/auth.hpp"
#include "crm/http/blocking.hpp"
#include "crm/http/server.hpp"
#include "gateway_context.hpp"
#include "health_routes.hpp"
#include "monitor_routes.hpp"
#include "proxy_routes.hpp"
#include "region_routes.hpp"
#include "web_routes.hpp"
#include "webhook_routes.hpp"

namespace crm::gateway {
namespace {

// An arbitrary constant of our own: the advisory lock of the gateway that keeps the warm pool.
constexpr long long kOrchestratorLockKey = 0x63726d6f7263;  // "crmorc"

void InitSodium() {
  if (sodium_init() < 0) {
    throw RuntimeError("libsodium failed to initialise");
  }
}

void AddRoutes(http::Router& router, GatewayContext& gateway, const http::StaticSite& site) {
  AddProxyRoutes(router, gateway);
  AddWebhookRoutes(router, gateway);
  AddHealthRoutes(router, gateway);
  AddAuthRoutes(router, gateway);
  AddAccountRoutes(router, gateway);
  AddAdminRoutes(router, gateway);
  AddMonitorRoutes(router, gateway);
  AddBillingRoutes(router, gateway);
  AddRegionRoutes(router, gateway);
  AddWebRoutes(router, gateway, site);
}

http::StaticSite LoadSite(const std::filesystem::path& root) {
  http::StaticSite site(root, ApiPrefixes());
  if (site.installed()) {
    spdlog::info("web app: {} files from {}", site.file_count(), root.string());
  } else {
    spdlog::warn("web app: no files in {} (CRM_WEB_ROOT): pages answer 404, the API works",
                 root.string());
  }
  return site;
}

}  // namespace

std::vector<std::string> MigrateAll(const db::PoolOptions& database) {
  db::PoolOptions one = database;
  one.max_size = 1;
  db::Pool pool(one);
  // On a session of its own: to PostgreSQL itself when a pooler is in between.
  return pool.RunSession([](pqxx::connection& c) { return db::MigrateEverything(c); });
}

long long CreateAdmin(const db::PoolOptions& database, const std::string& email,
                      const std::string& password) {
  InitSodium();
  std::string normalized = NormalizeEmail(email);
  CheckPassword(password, "password (stdin)");
  MigrateAll(database);
  db::PoolOptions one = database;
  one.max_size = 1;
  db::Pool pool(one);
  std::string hash = HashPassword(password);
  return pool.Write(
      [&](pqxx::work& tx) { return UserStore(tx).CreateOrPromoteAdmin(normalized, hash); });
}

int RunGateway(const GatewayOptions& options) {
  config::SetupLogging("gateway", options.log_level);
  CheckRegionOptions(options.region);
  http::BlockStopSignals();  // before the worker and orchestrator threads start
  InitSodium();
  for (const auto& line : MigrateAll(options.database)) {
    spdlog::info("migrations: {}", line);
  }
  db::Pool pool(options.database);
  spdlog::info("database: {}", db::RedactedConnInfo(pool.conninfo()));
  http::BlockingPool blocking(options.worker_threads);
  // Dedicated connections (LISTEN, a leader's advisory lock, the mailer's row locks): whole
  // sessions, so to PostgreSQL itself when a pooler is in between.
  std::string conninfo = pool.session_conninfo();
  auto connect = [conninfo] { return std::make_unique<pqxx::connection>(conninfo); };
  const bool behind_gateways = options.orchestrator.placement == orchestrator::Placement::kGateway;
  // Several gateways share one warm pool: one of them keeps it (docs/operations.md, "Scale-out:
  // gateways and slice hosts").
  db::AdvisoryLeader orchestration(connect, kOrchestratorLockKey, "orchestrator");
  orchestrator::OrchestratorOptions orchestrator_options = options.orchestrator;
  if (behind_gateways) {
    orchestrator_options.leads = [&orchestration] { return orchestration.Hold(); };
  }
  orchestrator::Orchestrator orchestrator(orchestrator_options, pool);
  orchestrator.Start();
  mail::Mailer mailer(options.mail, connect, mail::MakeTransport(options.mail));
  mailer.Start();
  billing::BillingService billing(options.billing, pool, orchestrator);
  billing.Start();
  // The monitor's leader lock lives on a connection of its own: the lock is the session's.
  monitor::MonitorOptions monitor_options = options.monitor;
  monitor_options.slices_here = !behind_gateways;
  monitor::Monitor monitor(monitor_options, pool, orchestrator, connect);
  monitor.Start();
  http::IoPool io(options.io_threads);
  http::Metrics metrics;
  GatewayContext gateway(options, http::DbCall(blocking, pool), orchestrator, billing, monitor,
                         metrics);
  // Cached sessions go stale when another process (a gateway behind the same load balancer, a
  // slice host moving a range, crmctl) changes what they hold: it says so on crm_gateway.
  db::ChannelListener changes(
      connect, "crm_gateway",
      [&gateway](const std::string& change) { gateway.sessions.ForgetChanged(change); },
      [&gateway] { gateway.sessions.ForgetAll(); });
  http::StaticSite site = LoadSite(options.web_root);
  http::Router router;
  AddRoutes(router, gateway, site);
  http::Server server(
      io, options.limits, [&router](http::Exchange& ex) { return router.Dispatch(ex); }, &metrics);
  // With pinned regions every request's token is checked for its region first: no quick path.
  server.SetHeadCheck(RegionHeadCheck(gateway, ProxyHeadCheck(gateway)),
                      gateway.regions.options().pinned() ? nullptr : ProxyQuickCheck(gateway));
  auto bound = server.Listen(options.listen);
  gateway.browser.DeriveFrom(bound);
  if (options.public_url.empty()) {
    spdlog::warn("no CRM_PUBLIC_URL: links and the expected Origin use {} (set it behind a proxy)",
                 gateway.browser.PublicUrl());
  }
  server.Start();
  spdlog::info("mail: {}", options.mail.smtp.url.empty()
                               ? "no SMTP server (CRM_SMTP_URL); writing .eml files to " +
                                     options.mail.eml_dir.string()
                               : "sending through " + options.mail.smtp.url);
  spdlog::info("billing: {}", options.billing.enabled()
                                  ? "on, Stripe at " + options.billing.stripe.api_url
                                  : "off (no CRM_STRIPE_SECRET_KEY): sign-up assigns a slice");
  spdlog::info("gateway serving on http://{} (data in {})", bound.ToString(),
               options.orchestrator.data_dir.string());
  // Requests drain first (they may need their slices), then the slices stop.
  http::ServeUntilSignal(io, server, options.drain_timeout);
  monitor.Stop();
  billing.Stop();
  mailer.Stop();
  orchestrator.Stop();
  orchestration.Release();
  return 0;
}

}  // namespace crm::gateway
