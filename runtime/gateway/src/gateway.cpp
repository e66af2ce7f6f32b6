#include "crm/gateway/gateway.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>

#include "admin_routes.hpp"
#include "auth_routes.hpp"
#include "crm/config/logging.hpp"
#include "crm/db/migrations.hpp"
#include "crm/db/pool.hpp"
#include "crm/gateway/account_store.hpp"
#include "crm/gateway/auth.hpp"
#include "crm/http/blocking.hpp"
#include "crm/http/server.hpp"
#include "gateway_context.hpp"
#include "health_routes.hpp"
#include "proxy_routes.hpp"
#include "webhook_routes.hpp"

namespace crm::gateway {
namespace {

db::PoolOptions GatewayPoolOptions(const config::RuntimeConfig& config, std::size_t size) {
  db::PoolOptions options;
  options.url = config.database_url;
  options.password = config.database_password;
  options.max_size = size;
  options.statement_timeout = config.statement_timeout;
  options.application_name = "crmd-gateway";
  return options;
}

void InitSodium() {
  if (sodium_init() < 0) {
    throw RuntimeError("libsodium failed to initialise");
  }
}

void AddRoutes(http::Router& router, GatewayContext& gateway) {
  AddProxyRoutes(router, gateway);
  AddWebhookRoutes(router, gateway);
  AddHealthRoutes(router, gateway);
  AddAuthRoutes(router, gateway);
  AddAdminRoutes(router, gateway);
}

}  // namespace

std::vector<std::string> MigrateAll(const config::RuntimeConfig& config) {
  db::Pool pool(GatewayPoolOptions(config, 1));
  return pool.Run([](pqxx::connection& c) { return db::MigrateEverything(c); });
}

long long CreateAdmin(const config::RuntimeConfig& config, const std::string& email,
                      const std::string& password) {
  InitSodium();
  std::string normalized = NormalizeEmail(email);
  CheckPassword(password, "password (stdin)");
  MigrateAll(config);
  db::Pool pool(GatewayPoolOptions(config, 1));
  std::string hash = HashPassword(password);
  return pool.Write(
      [&](pqxx::work& tx) { return UserStore(tx).CreateOrPromoteAdmin(normalized, hash); });
}

int RunGateway(const config::RuntimeConfig& config) {
  config::SetupLogging("gateway", config.log_level);
  http::BlockStopSignals();  // before the worker and orchestrator threads start
  InitSodium();
  for (const auto& line : MigrateAll(config)) {
    spdlog::info("migrations: {}", line);
  }
  db::Pool pool(GatewayPoolOptions(config, static_cast<std::size_t>(config.db_max_open_conns)));
  spdlog::info("database: {}", db::RedactedConnInfo(pool.conninfo()));
  http::BlockingPool blocking(static_cast<std::size_t>(config.worker_concurrency));
  orchestrator::Orchestrator orchestrator(config, pool);
  orchestrator.Start();
  boost::asio::io_context io(config.io_threads);
  http::Metrics metrics;
  GatewayContext gateway(config, http::DbCall(blocking, pool), orchestrator, metrics,
                         io.get_executor());
  http::Router router;
  AddRoutes(router, gateway);
  http::Server server(
      io, http::LimitsFrom(config), [&router](http::Exchange& ex) { return router.Dispatch(ex); },
      &metrics);
  auto bound = server.Listen(http::ParseEndpoint(config.listen));
  server.Start();
  spdlog::info("gateway serving on http://{} (data in {})", bound.ToString(),
               config.data_dir.string());
  // Requests drain first (they may need their slices), then the slices stop.
  http::ServeUntilSignal(io, server, config.io_threads, config.drain_timeout);
  orchestrator.Stop();
  return 0;
}

}  // namespace crm::gateway
