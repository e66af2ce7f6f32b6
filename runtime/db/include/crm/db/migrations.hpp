// Versioned SQL migrations, embedded in the binaries: runtime/migrations/gateway/NNNN_name.sql
// for the gateway schema, runtime/migrations/slice/NNNN_name.sql for every slice schema.
#pragma once

#include <pqxx/pqxx>

#include <string>
#include <string_view>
#include <vector>

namespace crm::db {

/// One embedded migration file: "gateway/0001_init.sql" and its SQL.
struct MigrationFile {
  std::string name;
  std::string_view text;
};
const std::vector<MigrationFile>& EmbeddedMigrations();

struct Migration {
  int version = 0;
  std::string name;  ///< "0001_init"
  std::string_view sql;
};

/// The migrations of `set` ("gateway" or "slice") in version order.
std::vector<Migration> MigrationsOf(std::string_view set);

/// Applies the pending migrations of `set` to `schema` (created when missing) with search_path =
/// schema, serialised per schema by an advisory lock so several processes may start at once (and
/// several slices provision at once). A schema without schema_migrations (a new slice's) gets the
/// whole set, and its schema_migrations rows, in one transaction and one round trip; a schema
/// that has some gets each pending migration in its own transaction. When `role` is given, the
/// schema is owned by it and the migrations run as that role (SET ROLE), so a slice's tables
/// belong to the slice's role. Returns the names applied. Throws RuntimeError when an applied
/// migration's checksum no longer matches the embedded one.
std::vector<std::string> Migrate(pqxx::connection& connection, std::string_view set,
                                 const std::string& schema, const std::string& role = {});

/// Migrates the gateway schema, then every live slice schema (available, assigned, suspended),
/// each slice's as its own role. Returns one line per schema: "gateway: applied 0001_init",
/// "slice_3: up to date".
std::vector<std::string> MigrateEverything(pqxx::connection& connection);

}  // namespace crm::db
