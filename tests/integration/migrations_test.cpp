// Migrations and a new slice's role against a real PostgreSQL: a schema that has none gets the
// whole set in one transaction and ends exactly as one migrated file by file (pg_dump of both);
// a schema part-way up (an upgrade) gets only what it lacks, each recorded; an edited migration is
// refused; migrations of several schemas at once, and of one schema twice at once, all end
// well; a slice role's password, sent as a SCRAM secret computed by the orchestrator, logs in
// under scram-sha-256 and a wrong one does not.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <regex>
#include <thread>

#include "crm/db/migrations.hpp"
#include "crm/db/pool.hpp"
#include "crm/error.hpp"
#include "crm/orchestrator/slice_store.hpp"
#include "crm/testing/pg_cluster.hpp"

namespace crm::testing {
namespace {

std::string Capture(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    throw std::runtime_error("cannot run " + command);
  }
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    out.append(buffer, n);
  }
  int status = ::pclose(pipe);
  if (status != 0) {
    throw std::runtime_error(command + " failed (status " + std::to_string(status) + ")");
  }
  return out;
}

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = PgCluster::Start();
    admin_ = std::make_unique<pqxx::connection>(pg_->ConnectionString());
  }

  // The slice's role, as the orchestrator makes it, then the slice set of migrations as that role.
  std::vector<std::string> Provision(pqxx::connection& c, const std::string& schema) {
    {
      pqxx::work tx(c);
      orchestrator::SliceStore(tx).CreateRole(schema, std::chrono::milliseconds(30'000));
      tx.commit();
    }
    return db::Migrate(c, "slice", schema, schema);
  }

  // The schema as pg_dump sees it (objects, owners, grants, and the schema_migrations rows
  // without their time), with its name written as "S".
  std::string Dump(const std::string& schema) {
    std::string dump = Capture("/usr/lib/postgresql/15/bin/pg_dump --schema-only -n " + schema +
                               " '" + pg_->ConnectionString() + "'");
    dump = std::regex_replace(dump, std::regex("\\b" + schema + "\\b"), "S");
    // pg_dump's \restrict / \unrestrict lines carry a random key of each run's.
    dump = std::regex_replace(dump, std::regex("\\\\(un)?restrict [A-Za-z0-9]+"), "\\$1restrict");
    pqxx::work tx(*admin_);
    for (const auto& r : tx.exec("SELECT version, name, checksum FROM " + schema +
                                 ".schema_migrations ORDER BY version")) {
      dump += "\n-- applied " + r[0].as<std::string>() + " " + r[1].as<std::string>() + " " +
              r[2].as<std::string>();
    }
    return dump;
  }

  std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<pqxx::connection> admin_;
};

std::vector<std::string> SliceNames() {
  std::vector<std::string> names;
  for (const auto& m : db::MigrationsOf("slice")) {
    names.push_back(m.name);
  }
  return names;
}

TEST_F(MigrationsTest, ANewSchemaInOneTransactionEndsAsOneMigratedFileByFile) {
  ASSERT_GE(SliceNames().size(), 2u);
  EXPECT_EQ(Provision(*admin_, "slice_7"), SliceNames());

  // slice_8 the way every schema was migrated before: the schema and its empty
  // schema_migrations first, then each migration in a transaction of its own (what Migrate
  // still does for a schema that has a schema_migrations table).
  {
    pqxx::work tx(*admin_);
    orchestrator::SliceStore(tx).CreateRole("slice_8", std::chrono::milliseconds(30'000));
    tx.exec(
        "CREATE SCHEMA slice_8 AUTHORIZATION slice_8; SET LOCAL ROLE slice_8; CREATE TABLE "
        "slice_8.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum "
        "text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    tx.commit();
  }
  EXPECT_EQ(db::Migrate(*admin_, "slice", "slice_8", "slice_8"), SliceNames());

  std::string fresh = Dump("slice_7");
  EXPECT_NE(fresh.find("CREATE TABLE S.contacts"), std::string::npos) << fresh;
  EXPECT_NE(fresh.find("CREATE TRIGGER queue_depth_insert"), std::string::npos) << fresh;
  EXPECT_NE(fresh.find("OWNER TO S;"), std::string::npos) << fresh;
  EXPECT_EQ(fresh, Dump("slice_8"));

  // Up to date: nothing applied, one look.
  EXPECT_TRUE(db::Migrate(*admin_, "slice", "slice_7", "slice_7").empty());
  EXPECT_TRUE(db::Migrate(*admin_, "slice", "slice_8", "slice_8").empty());
}

TEST_F(MigrationsTest, ASchemaPartWayUpGetsOnlyWhatItLacksAndAnEditedMigrationIsRefused) {
  Provision(*admin_, "slice_7");
  auto all = db::MigrationsOf("slice");
  ASSERT_GE(all.size(), 2u);
  // slice_8 as a crmd that knew only the first migration left it.
  {
    pqxx::work tx(*admin_);
    orchestrator::SliceStore(tx).CreateRole("slice_8", std::chrono::milliseconds(30'000));
    tx.exec(
        "CREATE SCHEMA slice_8 AUTHORIZATION slice_8; SET LOCAL ROLE slice_8; SET LOCAL "
        "search_path TO slice_8; CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
        "name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT "
        "now())");
    tx.exec(std::string(all[0].sql));
    tx.exec_params(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, "
        "encode(sha256(convert_to($3, 'UTF8')), 'hex'))",
        all[0].version, all[0].name, std::string(all[0].sql));
    tx.commit();
  }
  std::vector<std::string> rest;
  for (std::size_t i = 1; i < all.size(); ++i) {
    rest.push_back(all[i].name);
  }
  EXPECT_EQ(db::Migrate(*admin_, "slice", "slice_8", "slice_8"), rest);
  EXPECT_EQ(Dump("slice_7"), Dump("slice_8"));

  {
    pqxx::work tx(*admin_);
    tx.exec("UPDATE slice_8.schema_migrations SET checksum = 'edited' WHERE version = " +
            std::to_string(all.back().version));
    tx.commit();
  }
  try {
    db::Migrate(*admin_, "slice", "slice_8", "slice_8");
    FAIL() << "an edited migration was accepted";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(all.back().name + " was changed after it was applied"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(MigrationsTest, SchemasMigrateAtOnceAndOneSchemaMigratedTwiceAtOnceEndsOnce) {
  // Eight new slices at once, each on its own session, as concurrent provisioning does.
  std::vector<std::future<std::vector<std::string>>> runs;
  for (int i = 0; i < 8; ++i) {
    runs.push_back(std::async(std::launch::async, [this, i] {
      pqxx::connection c(pg_->ConnectionString());
      return Provision(c, "slice_" + std::to_string(20 + i));
    }));
  }
  for (auto& r : runs) {
    EXPECT_EQ(r.get(), SliceNames());
  }
  // One schema, two migrators at once (two gateways starting): one applies, the other finds it
  // done.
  {
    pqxx::work tx(*admin_);
    orchestrator::SliceStore(tx).CreateRole("slice_9", std::chrono::milliseconds(30'000));
    tx.commit();
  }
  std::vector<std::future<std::vector<std::string>>> twice;
  for (int i = 0; i < 2; ++i) {
    twice.push_back(std::async(std::launch::async, [this] {
      pqxx::connection c(pg_->ConnectionString());
      return db::Migrate(c, "slice", "slice_9", "slice_9");
    }));
  }
  auto a = twice[0].get();
  auto b = twice[1].get();
  EXPECT_EQ(a.size() + b.size(), SliceNames().size());
  EXPECT_TRUE(a.empty() || b.empty());
  EXPECT_EQ(Dump("slice_20"), Dump("slice_9"));
  EXPECT_EQ(Dump("slice_20"), Dump("slice_27"));
}

TEST_F(MigrationsTest, ASliceRolePasswordSentAsASecretLogsInUnderScramAndAWrongOneDoesNot) {
  {
    std::ofstream hba(pg_->dir() / "data" / "pg_hba.conf", std::ios::trunc);
    hba << "local all postgres trust\nlocal all all scram-sha-256\n";
  }
  pqxx::nontransaction(*admin_).exec("SELECT pg_reload_conf()");
  std::string password = "0123456789abcdef0123456789abcdef0123456789abcdef";
  {
    pqxx::work tx(*admin_);
    orchestrator::SliceStore store(tx);
    store.CreateRole("slice_5", std::chrono::milliseconds(30'000));
    store.SetLogin("slice_5", orchestrator::ScramSecret(password, orchestrator::kScramIterations),
                   std::chrono::milliseconds(30'000));
    tx.commit();
  }
  std::string secret = pqxx::nontransaction(*admin_)
                           .exec1("SELECT rolpassword FROM pg_authid WHERE rolname = 'slice_5'")[0]
                           .as<std::string>();
  EXPECT_EQ(
      secret.rfind("SCRAM-SHA-256$" + std::to_string(orchestrator::kScramIterations) + ":", 0), 0u)
      << secret;

  std::string base =
      std::regex_replace(pg_->ConnectionString(), std::regex("user=postgres"), "user=slice_5");
  // A new configuration takes a moment to reach new connections: the postmaster rereads it.
  std::string who;
  for (int i = 0; i < 50 && who.empty(); ++i) {
    try {
      pqxx::connection c(base + " password=" + password);
      who = pqxx::nontransaction(c).exec1("SELECT current_user")[0].as<std::string>();
    } catch (const pqxx::broken_connection&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_EQ(who, "slice_5");
  try {
    pqxx::connection c(base + " password=" + password.substr(1) + "0");
    FAIL() << "a wrong password logged in";
  } catch (const pqxx::broken_connection& e) {
    EXPECT_NE(std::string(e.what()).find("password authentication failed"), std::string::npos)
        << e.what();
  }
  // A new role has no password at all until a start sets one.
  {
    pqxx::work tx(*admin_);
    orchestrator::SliceStore(tx).CreateRole("slice_6", std::chrono::milliseconds(30'000));
    tx.commit();
  }
  EXPECT_TRUE(pqxx::nontransaction(*admin_)
                  .exec1("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'slice_6'")[0]
                  .as<bool>());
}

// The minute's storage pass sizes only the schemas whose activity moved (docs/architecture.md,
// "Storage"): a write moves its own schema's figure and no other's.
TEST_F(MigrationsTest, AWriteMovesItsSchemasActivityAndNoOtherSchemas) {
  Provision(*admin_, "slice_7");
  Provision(*admin_, "slice_9");
  // What this backend wrote is reported when a transaction ends (forced: not within
  // PostgreSQL's next 10 s).
  auto flush = [&] {
    pqxx::work tx(*admin_);
    tx.exec("SELECT pg_stat_force_next_flush()");
    tx.commit();
  };
  auto activity = [&] {
    pqxx::read_transaction tx(*admin_);
    return orchestrator::SliceStore(tx).SchemaActivity({"slice_7", "slice_9", "slice_404"});
  };
  flush();  // the migrations' own rows
  auto before = activity();
  ASSERT_EQ(before.count("slice_7"), 1u);
  ASSERT_EQ(before.count("slice_9"), 1u);
  EXPECT_EQ(before.count("slice_404"), 0u) << "no such schema";
  EXPECT_EQ(activity(), before) << "reading changes nothing";
  {
    pqxx::work tx(*admin_);
    tx.exec("INSERT INTO slice_7.contacts (name, phone) VALUES ('Ana', '+15550100')");
    tx.commit();
  }
  flush();
  auto after = activity();
  EXPECT_NE(after["slice_7"], before["slice_7"]);
  EXPECT_EQ(after["slice_9"], before["slice_9"]);
}

TEST(ScramSecretTest, RefusesWhatSaslprepCouldChangeAndNonPositiveIterations) {
  EXPECT_THROW(orchestrator::ScramSecret("caf\xc3\xa9", 1), InputError);
  EXPECT_THROW(orchestrator::ScramSecret("with space", 1), InputError);
  EXPECT_THROW(orchestrator::ScramSecret("abc", 0), InputError);
  // A fresh salt each time: two secrets of one password differ.
  EXPECT_NE(orchestrator::ScramSecret("abc", 1), orchestrator::ScramSecret("abc", 1));
}

}  // namespace
}  // namespace crm::testing
