#include "crm/config/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

#include "crm/error.hpp"
#include "env_lookup.hpp"

namespace crm::config {
namespace {

std::filesystem::path WriteFile(const std::string& name, const std::string& text,
                                unsigned mode = 0600) {
  auto path = std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()));
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
  return path;
}

TEST(RuntimeConfigTest, DefaultsAreTheSingleHostOnes) {
  auto c = LoadConfig(std::nullopt, Env({}));
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.statement_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c.slice_storage_quota, 2'000'000'000u);
  EXPECT_EQ(c.warm_slices, 1);
}

TEST(RuntimeConfigTest, TheDirectDatabaseUrlIsUnsetUnlessGivenThenReadFromFileOrEnvironment) {
  EXPECT_EQ(LoadConfig(std::nullopt, Env({})).database_direct_url, "") << "unpooled by default";
  auto file = WriteFile("crmd.yaml", "database_direct_url: postgresql://crm@pg:5432/crm\n");
  EXPECT_EQ(LoadConfig(file, Env({})).database_direct_url, "postgresql://crm@pg:5432/crm");
  auto c = LoadConfig(file, Env({{"CRM_DATABASE_DIRECT_URL", "postgresql://crm@primary/crm"},
                                 {"CRM_DATABASE_PASSWORD", "one password for both"}}));
  EXPECT_EQ(c.database_direct_url, "postgresql://crm@primary/crm");
  EXPECT_EQ(c.database_password, "one password for both");
  std::filesystem::remove(file);
}

TEST(RuntimeConfigTest, TheSlicesPoolerIsOffByDefaultAndRefusedBesideAPoolerInFrontOfTheDatabase) {
  auto none = LoadConfig(std::nullopt, Env({}));
  EXPECT_EQ(none.slice_pool_size, 0) << "slices connect directly by default";
  auto c = LoadConfig(std::nullopt, Env({{"CRM_SLICE_POOL_SIZE", "20"},
                                         {"CRM_SLICE_POOL_PER_SLICE", "4"},
                                         {"CRM_SLICE_POOL_IDLE_TIMEOUT", "30s"},
                                         {"CRM_PGBOUNCER", "/opt/pgbouncer"}}));
  EXPECT_EQ(c.slice_pool_size, 20);
  EXPECT_EQ(c.slice_pool_per_slice, 4);
  EXPECT_EQ(c.slice_pool_idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c.pgbouncer, "/opt/pgbouncer");
  for (const char* bad : {"-1", "twenty", "10001"}) {
    EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_SLICE_POOL_SIZE", bad}})), InputError) << bad;
  }
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_SLICE_POOL_IDLE_TIMEOUT", "500ms"}})),
               InputError);
  try {
    LoadConfig(std::nullopt, Env({{"CRM_SLICE_POOL_SIZE", "20"},
                                  {"CRM_DATABASE_DIRECT_URL", "postgresql://crm@pg/crm"}}));
    ADD_FAILURE() << "two poolers accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("CRM_DATABASE_DIRECT_URL"), std::string::npos) << e.what();
  }
}

TEST(RuntimeConfigTest, TheReadReplicaIsTheRenderedKnobAndItsLagBoundFiveSeconds) {
  auto none = LoadConfig(std::nullopt, Env({}));
  EXPECT_EQ(none.db_read_replica_url, "");
  EXPECT_EQ(none.db_replica_max_lag, std::chrono::seconds(5));
  auto c = LoadConfig(std::nullopt, Env({{"DB_READ_REPLICA_URL", "postgresql://crm@replica/crm"},
                                         {"CRM_DB_REPLICA_MAX_LAG", "2s"}}));
  EXPECT_EQ(c.db_read_replica_url, "postgresql://crm@replica/crm");
  EXPECT_EQ(c.db_replica_max_lag, std::chrono::seconds(2));
}

TEST(RuntimeConfigTest, EnvironmentOverridesTheFileAndTakesThePlansKnobNames) {
  auto file = WriteFile(
      "crmd.yaml", "listen: 127.0.0.1:9000\ndb_max_open_conns: 7\nslice_memory_limit: 256 MiB\n");
  auto c = LoadConfig(file, Env({{"CRM_LISTEN", "unix:/run/crmd.sock"},
                                 {"DB_MAX_OPEN_CONNS", "25"},
                                 {"STATEMENT_TIMEOUT", "5s"},
                                 {"SLICE_MEMORY_LIMIT", "23000000"}}));
  EXPECT_EQ(c.listen, "unix:/run/crmd.sock");
  EXPECT_EQ(c.db_max_open_conns, 25);
  EXPECT_EQ(c.statement_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.slice_memory_limit, 23'000'000u);
  auto from_file = LoadConfig(file, Env({}));
  EXPECT_EQ(from_file.slice_memory_limit, 256u << 20);
  std::filesystem::remove(file);
}

TEST(RuntimeConfigTest, BadValuesNameTheVariableOrTheFileLine) {
  try {
    LoadConfig(std::nullopt, Env({{"DB_MAX_OPEN_CONNS", "lots"}}));
    FAIL() << "accepted a non-number";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("DB_MAX_OPEN_CONNS"), std::string::npos) << e.what();
  }
  auto file = WriteFile("bad.yaml", "listen: 127.0.0.1:9000\nstatment_timeout: 5s\n");
  try {
    LoadConfig(file, Env({}));
    FAIL() << "accepted an unknown key";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(":2:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("statment_timeout"), std::string::npos) << e.what();
  }
  std::filesystem::remove(file);
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_STATEMENT_TIMEOUT", "30 parsecs"}})),
               InputError);
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_PUBLIC_URL", "crm.example.com"}})), InputError);
}

TEST(RuntimeConfigTest, ShardRangesTakeTwoDecimalsAndStatefulSetsUpToTenThousandHosts) {
  EXPECT_EQ(LoadConfig(std::nullopt, Env({{"WORKER_SHARD_RANGE", "12.5-25"}})).worker_shard_range,
            "12.5-25");
  EXPECT_EQ(LoadConfig(std::nullopt, Env({{"CRM_WORKER_SHARD_RANGE", "0-50"}})).worker_shard_range,
            "0-50");
  for (const char* bad : {"0-0", "1.234-2", "0-100.01", "-1-5"}) {
    try {
      LoadConfig(std::nullopt, Env({{"WORKER_SHARD_RANGE", bad}}));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("WORKER_SHARD_RANGE"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(LoadConfig(std::nullopt, Env({{"WORKER_SHARD_COUNT", "902"}})).worker_shard_count, 902);
  EXPECT_EQ(LoadConfig(std::nullopt, Env({{"WORKER_SHARD_COUNT", "10000"}})).worker_shard_count,
            10'000);
  try {
    LoadConfig(std::nullopt, Env({{"WORKER_SHARD_COUNT", "10001"}}));
    ADD_FAILURE() << "accepted 10001 slice hosts: more than the 10,000 buckets";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("WORKER_SHARD_COUNT"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("10000"), std::string::npos) << e.what();
  }
}

TEST(RuntimeConfigTest, SliceReclaimIdleIsTenMinutesZeroForOffOrAtLeastASecond) {
  using std::chrono::minutes;
  using std::chrono::seconds;
  EXPECT_EQ(LoadConfig(std::nullopt, Env({})).slice_reclaim_idle, minutes(10));
  EXPECT_EQ(LoadConfig(std::nullopt, Env({{"CRM_SLICE_RECLAIM_IDLE", "0"}})).slice_reclaim_idle,
            seconds(0));
  EXPECT_EQ(LoadConfig(std::nullopt, Env({{"CRM_SLICE_RECLAIM_IDLE", "30m"}})).slice_reclaim_idle,
            minutes(30));
  for (const char* bad : {"500ms", "-5m", "soon"}) {
    EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_SLICE_RECLAIM_IDLE", bad}})), InputError)
        << bad;
  }
}

TEST(RuntimeConfigTest, TheBackupCheckReadsAStanzaOnlyWhenOneIsNamed) {
  auto c = LoadConfig(std::nullopt, Env({}));
  EXPECT_TRUE(c.backup_stanza.empty());
  EXPECT_EQ(c.backup_max_age, std::chrono::hours(26));
  c = LoadConfig(std::nullopt, Env({{"CRM_BACKUP_STANZA", "crm"},
                                    {"CRM_PGBACKREST_CONFIG", "/srv/backups/pgbackrest.conf"},
                                    {"CRM_BACKUP_MAX_AGE", "8h"}}));
  EXPECT_EQ(c.backup_stanza, "crm");
  EXPECT_EQ(c.pgbackrest_config, "/srv/backups/pgbackrest.conf");
  EXPECT_EQ(c.backup_max_age, std::chrono::hours(8));
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_BACKUP_MAX_AGE", "500ms"}})), InputError);
}

TEST(RuntimeConfigTest, ThePublicUrlIsAnOriginWithoutAPath) {
  EXPECT_EQ(
      LoadConfig(std::nullopt, Env({{"CRM_PUBLIC_URL", "https://crm.example.com/"}})).public_url,
      "https://crm.example.com");
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_PUBLIC_URL", "https://crm.example.com/app"}})),
               InputError);
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_PUBLIC_URL", "https://"}})), InputError);
  EXPECT_EQ(LoadConfig(std::nullopt, Env({})).public_url, "") << "derived from listen at start";
}

TEST(RuntimeConfigTest, TrustedProxiesAreAddressesOrRangesAndNoneByDefault) {
  EXPECT_TRUE(LoadConfig(std::nullopt, Env({})).trusted_proxies.empty());
  auto config =
      LoadConfig(std::nullopt, Env({{"CRM_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,fd00::/8"}}));
  ASSERT_EQ(config.trusted_proxies.size(), 3u);
  EXPECT_TRUE(config.trusted_proxies[1].Contains("10.1.2.3"));
  try {
    LoadConfig(std::nullopt, Env({{"CRM_TRUSTED_PROXIES", "127.0.0.1,nginx"}}));
    FAIL() << "accepted a host name";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("CRM_TRUSTED_PROXIES"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nginx"), std::string::npos) << e.what();
  }
}

TEST(RuntimeConfigTest, TheStripePriceIdIsReadFromItsFileBesideTheKey) {
  auto price = WriteFile("price-id", "price_123\n", 0600);
  EXPECT_EQ(
      LoadConfig(std::nullopt, Env({{"CRM_STRIPE_PRICE_ID_FILE", price.string()}})).stripe_price_id,
      "price_123");
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_STRIPE_PRICE_ID_FILE", "/nonexistent/price"}})),
               InputError);
  std::filesystem::remove(price);
}

TEST(RuntimeConfigTest, PasswordFilesMustNotBeReadableByOthers) {
  auto open = WriteFile("pw-open", "secret\n", 0644);
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_DATABASE_PASSWORD_FILE", open.string()}})),
               InputError);
  auto closed = WriteFile("pw-closed", "secret\n", 0600);
  EXPECT_EQ(LoadConfig(std::nullopt, Env({{"CRM_DATABASE_PASSWORD_FILE", closed.string()}}))
                .database_password,
            "secret");
  std::filesystem::remove(open);
  std::filesystem::remove(closed);
}

TEST(RuntimeConfigTest, PricesAreCheckedAndTheCurrencyUpperCased) {
  auto config = LoadConfig(std::nullopt, Env({{"CRM_PRICE_MONTHLY_CENTS", "1900"},
                                              {"CRM_CURRENCY", "eur"},
                                              {"CRM_LAUNCH_DISCOUNT_PERCENT", "0"}}));
  EXPECT_EQ(config.price_monthly_cents, 1900);
  EXPECT_EQ(config.currency, "EUR");
  EXPECT_EQ(config.launch_discount_percent, 0);
  EXPECT_EQ(LoadConfig(std::nullopt, Env({})).price_monthly_cents, 900);
  for (auto [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"CRM_PRICE_MONTHLY_CENTS", "9.99"},
                                                        {"CRM_PRICE_MONTHLY_CENTS", "-1"},
                                                        {"CRM_CURRENCY", "dollars"},
                                                        {"CRM_CURRENCY", "U$D"},
                                                        {"CRM_LAUNCH_DISCOUNT_PERCENT", "150"}}) {
    try {
      LoadConfig(std::nullopt, Env({{key, value}}));
      ADD_FAILURE() << key << "=" << value << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

TEST(RuntimeConfigTest, MailSettingsAreCheckedAndThePasswordComesFromAFile) {
  auto defaults = LoadConfig(std::nullopt, Env({}));
  EXPECT_EQ(defaults.smtp_url, "") << "without a server, mail goes to .eml files";
  EXPECT_EQ(defaults.mail_from, "CRM <no-reply@localhost>");
  EXPECT_EQ(defaults.mail_max_attempts, 8);
  auto secret = WriteFile("smtp-password", "s3cret\n");
  auto c = LoadConfig(std::nullopt, Env({{"CRM_SMTP_URL", "smtps://mail.example.com:465"},
                                         {"CRM_SMTP_USER", "crm"},
                                         {"CRM_SMTP_PASSWORD_FILE", secret.string()},
                                         {"CRM_MAIL_FROM", "Acme CRM <crm@acme.example>"},
                                         {"CRM_MAIL_MAX_ATTEMPTS", "3"}}));
  EXPECT_EQ(c.smtp_url, "smtps://mail.example.com:465");
  EXPECT_EQ(c.smtp_user, "crm");
  EXPECT_EQ(c.smtp_password, "s3cret");
  EXPECT_EQ(c.mail_from, "Acme CRM <crm@acme.example>");
  EXPECT_EQ(c.mail_max_attempts, 3);
  std::filesystem::remove(secret);
  try {
    LoadConfig(std::nullopt, Env({{"CRM_SMTP_URL", "mail.example.com:25"}}));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("CRM_SMTP_URL: expected smtp://"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_MAIL_FROM", "CRM <nobody>"}})), InputError);
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_MAIL_MAX_ATTEMPTS", "0"}})), InputError);
}

}  // namespace
}  // namespace crm::config
