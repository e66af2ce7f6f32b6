// crmctl migrate: the gateway schema and every live slice schema, from CRM_DATABASE_URL (or
// CRM_DATABASE_DIRECT_URL, PostgreSQL itself, when the former is a PgBouncer).
#include <iostream>

#include "cli_context.hpp"
#include "crm/config/config.hpp"
#include "crm/db/migrations.hpp"
#include "crm/db/pool.hpp"

namespace crm::cli {

void SetupMigrate(CLI::App& app, GlobalOptions& global) {
  auto url = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "migrate", "apply database migrations: the gateway schema and every slice schema");
  cmd->add_option("--database-url", *url,
                  "PostgreSQL URL (default $CRM_DATABASE_DIRECT_URL, else $CRM_DATABASE_URL; "
                  "password from "
                  "CRM_DATABASE_PASSWORD or CRM_DATABASE_PASSWORD_FILE)");
  cmd->callback([url, &global] {
    auto config = config::LoadConfig(std::nullopt, config::ProcessEnvironment());
    if (!url->empty()) {
      config.database_url = *url;
    } else if (!config.database_direct_url.empty()) {
      config.database_url = config.database_direct_url;  // a whole session, not a pooler's
    } else if (std::getenv("CRM_DATABASE_URL") == nullptr) {
      throw InputError("migrate: give --database-url or set CRM_DATABASE_URL");
    }
    db::PoolOptions options;
    options.url = config.database_url;
    options.password = config.database_password;
    options.max_size = 1;
    options.statement_timeout = std::chrono::minutes(10);  // migrations may rewrite big tables
    options.application_name = "crmctl-migrate";
    db::Pool pool(options);
    for (const auto& line :
         pool.Run([](pqxx::connection& c) { return db::MigrateEverything(c); })) {
      if (!global.quiet) {
        std::cout << line << "\n";
      }
    }
  });
}

}  // namespace crm::cli
