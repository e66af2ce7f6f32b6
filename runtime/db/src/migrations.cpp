#include "crm/db/migrations.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>

#include "crm/db/pool.hpp"
#include "crm/error.hpp"

namespace crm::db {
namespace {

std::string Sha256(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  std::string hex;
  char buf[3];
  for (unsigned char b : digest) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    hex += buf;
  }
  return hex;
}

// All migrations of one database serialise on this advisory lock key ("crmmigr").
constexpr long long kMigrationLock = 0x63726d6d69677200LL;

}  // namespace

std::vector<Migration> MigrationsOf(std::string_view set) {
  std::vector<Migration> out;
  std::string prefix = std::string(set) + "/";
  for (const auto& file : EmbeddedMigrations()) {
    if (file.name.rfind(prefix, 0) != 0) {
      continue;
    }
    std::string base = file.name.substr(prefix.size());
    if (base.size() < 9 || base.substr(base.size() - 4) != ".sql") {
      continue;
    }
    Migration m;
    m.version = std::stoi(base.substr(0, 4));
    m.name = base.substr(0, base.size() - 4);
    m.sql = file.text;
    out.push_back(m);
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  return out;
}

std::vector<std::string> Migrate(pqxx::connection& connection, std::string_view set,
                                 const std::string& schema, const std::string& role) {
  const std::string s = Identifier(schema);
  std::vector<std::string> applied;
  {
    pqxx::work tx(connection);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + s +
            (role.empty() ? "" : " AUTHORIZATION " + Identifier(role)));
    if (!role.empty()) {
      tx.exec("SET LOCAL ROLE " + Identifier(role));
    }
    tx.exec("CREATE TABLE IF NOT EXISTS " + s +
            ".schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text "
            "NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())");
    tx.commit();
  }
  for (const auto& m : MigrationsOf(set)) {
    pqxx::work tx(connection);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    if (!role.empty()) {
      tx.exec("SET LOCAL ROLE " + Identifier(role));
    }
    tx.exec("SET LOCAL search_path TO " + s);
    std::string checksum = Sha256(m.sql);
    auto row =
        tx.exec_params("SELECT checksum FROM schema_migrations WHERE version = $1", m.version);
    if (!row.empty()) {
      if (row[0][0].as<std::string>() != checksum) {
        throw RuntimeError(
            "migration " + std::string(set) + "/" + m.name +
            " was changed after it was applied to " + schema +
            " (checksum differs); add a new migration instead of editing an applied one");
      }
      continue;
    }
    tx.exec(std::string(m.sql));
    tx.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                   m.version, m.name, checksum);
    tx.commit();
    applied.push_back(m.name);
  }
  return applied;
}

std::vector<std::string> MigrateEverything(pqxx::connection& connection) {
  auto line = [](const std::string& schema, const std::vector<std::string>& applied) {
    std::string out = schema + ": ";
    if (applied.empty()) {
      return out + "up to date";
    }
    out += "applied";
    for (std::size_t i = 0; i < applied.size(); ++i) {
      out += (i == 0 ? " " : ", ") + applied[i];
    }
    return out;
  };
  std::vector<std::string> report = {line("gateway", Migrate(connection, "gateway", "gateway"))};
  std::vector<std::string> slices;
  {
    pqxx::read_transaction tx(connection);
    for (const auto& r : tx.exec("SELECT 'slice_' || id FROM gateway.slices WHERE state IN "
                                 "('available', 'assigned', 'suspended') ORDER BY id")) {
      slices.push_back(r[0].as<std::string>());
    }
  }
  for (const auto& schema : slices) {
    report.push_back(line(schema, Migrate(connection, "slice", schema, schema)));
  }
  return report;
}

}  // namespace crm::db
