#include "crm/db/migrations.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>

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

// Migrations of one schema serialise on an advisory lock of their own: (kSchemaLockClass,
// hashtext(schema)), so slices provisioned at once migrate their schemas at once. They also hold
// the database-wide key ("crmmigr") shared: a binary that predates the per-schema lock takes that
// key exclusively, and so still waits for every migration in flight (a rolling upgrade).
constexpr long long kMigrationLock = 0x63726d6d69677200LL;
constexpr int kSchemaLockClass = 0x63726d6d;  // "crmm"

// One set's migrations as applied: each with its checksum, and, for a schema that has none yet,
// the whole set as one SQL text (each migration followed by its schema_migrations row), built
// once per process.
struct PreparedSet {
  struct Entry {
    Migration migration;
    std::string checksum;
    std::string record;  ///< the INSERT INTO schema_migrations of this migration
  };
  std::vector<Entry> entries;
  std::string fresh;  ///< every migration and its record, in version order
};

std::string Literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') {
      out += c;
    }
  }
  return out + "'";
}

const PreparedSet& Prepared(std::string_view set) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<PreparedSet>, std::less<>> cache;
  std::lock_guard lock(mutex);
  auto it = cache.find(set);
  if (it != cache.end()) {
    return *it->second;
  }
  auto prepared = std::make_unique<PreparedSet>();
  for (const auto& m : MigrationsOf(set)) {
    PreparedSet::Entry e{m, Sha256(m.sql), {}};
    e.record = "INSERT INTO schema_migrations (version, name, checksum) VALUES (" +
               std::to_string(m.version) + ", " + Literal(m.name) + ", " + Literal(e.checksum) +
               ");\n";
    // A line break and a lone ';' after the file's own text: a last line that is a comment, or
    // a last statement without its semicolon, cannot swallow the record.
    prepared->fresh += std::string(m.sql) + "\n;\n" + e.record;
    prepared->entries.push_back(std::move(e));
  }
  return *cache.emplace(std::string(set), std::move(prepared)).first->second;
}

std::string AppliedList(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    out += (out.empty() ? "" : ", ") + n;
  }
  return out;
}

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
  const std::string as_role = role.empty() ? "" : "SET LOCAL ROLE " + Identifier(role) + ";\n";
  const PreparedSet& prepared = Prepared(set);
  auto lock = [&](pqxx::work& tx) {
    tx.exec_params(
        "SELECT pg_advisory_xact_lock_shared($1), pg_advisory_xact_lock($2, hashtext($3))",
        kMigrationLock, kSchemaLockClass, schema);
  };
  std::vector<std::string> applied;
  std::map<int, std::string> recorded;  // version → checksum
  {
    pqxx::work tx(connection);
    lock(tx);
    bool exists = !tx.exec_params(
                         "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname = $1 AND c.relname = 'schema_migrations'",
                         schema)
                       .empty();
    if (!exists) {
      // A schema without migrations (a slice being provisioned): the whole set in this one
      // transaction and one round trip, the text prepared once per process.
      std::string text = "CREATE SCHEMA IF NOT EXISTS " + s +
                         (role.empty() ? "" : " AUTHORIZATION " + Identifier(role)) + ";\n" +
                         as_role + "SET LOCAL search_path TO " + s + ";\n" +
                         "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text "
                         "NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL "
                         "DEFAULT now());\n" +
                         prepared.fresh;
      for (const auto& e : prepared.entries) {
        applied.push_back(e.migration.name);
      }
      try {
        tx.exec(text);
      } catch (const pqxx::sql_error& e) {
        throw RuntimeError("migrations " + std::string(set) + "/{" + AppliedList(applied) +
                           "} failed on " + schema + ": " + e.what());
      }
      tx.commit();
      return applied;
    }
    if (!role.empty()) {
      tx.exec(as_role);
    }
    for (const auto& r : tx.exec("SELECT version, checksum FROM " + s + ".schema_migrations")) {
      recorded[r[0].as<int>()] = r[1].as<std::string>();
    }
    tx.commit();
  }
  for (const auto& e : prepared.entries) {
    auto it = recorded.find(e.migration.version);
    if (it != recorded.end()) {
      if (it->second != e.checksum) {
        throw RuntimeError(
            "migration " + std::string(set) + "/" + e.migration.name +
            " was changed after it was applied to " + schema +
            " (checksum differs); add a new migration instead of editing an applied one");
      }
      continue;
    }
    // A pending migration of a schema that has some: its own transaction, as it always was
    // (an upgrade keeps what it applied before a later migration fails). Checked again under
    // the lock: another process may have applied it meanwhile.
    pqxx::work tx(connection);
    lock(tx);
    tx.exec(as_role + "SET LOCAL search_path TO " + s);
    auto row = tx.exec_params("SELECT checksum FROM schema_migrations WHERE version = $1",
                              e.migration.version);
    if (!row.empty()) {
      if (row[0][0].as<std::string>() != e.checksum) {
        throw RuntimeError(
            "migration " + std::string(set) + "/" + e.migration.name +
            " was changed after it was applied to " + schema +
            " (checksum differs); add a new migration instead of editing an applied one");
      }
      continue;
    }
    tx.exec(std::string(e.migration.sql) + "\n;\n" + e.record);
    tx.commit();
    applied.push_back(e.migration.name);
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
