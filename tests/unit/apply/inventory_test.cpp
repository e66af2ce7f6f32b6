#include "crm/apply/inventory.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::apply {
namespace {

std::string ErrorOf(const std::string& text) {
  try {
    ParseInventory(text, "/etc/crm/inventory.yaml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(InventoryTest, ReadsHostsWithDefaultsAndResolvesKeysToTheInventory) {
  const Inventory inv = ParseInventory(R"(batch_size: 2
hosts:
  - name: app-1
    address: 10.0.0.5
    key: keys/id_ed25519
  - name: slice-1
    address: 10.0.0.6
    port: 2222
    user: deploy
    key: /root/.ssh/id
    known_hosts: known
    dir: /srv/crm
    install: ./setup {host}
    restart: ~
    health: test -f {dir}/ok
)",
                                       "/etc/crm/inventory.yaml");
  ASSERT_EQ(inv.hosts.size(), 2U);
  EXPECT_EQ(inv.batch_size, 2);
  const InventoryHost& a = inv.hosts[0];
  EXPECT_EQ(a.port, 22);
  EXPECT_EQ(a.user, "root");
  EXPECT_EQ(a.key, "/etc/crm/keys/id_ed25519");
  EXPECT_EQ(a.dir, "/var/lib/crmctl/bundle");
  EXPECT_EQ(a.install, "sh ./install.sh");
  EXPECT_FALSE(a.restart.has_value());
  EXPECT_EQ(a.line, 3);
  const InventoryHost& s = *inv.Find("slice-1");
  EXPECT_EQ(s.port, 2222);
  EXPECT_EQ(s.known_hosts, "/etc/crm/known");
  EXPECT_EQ(s.restart, "");
  EXPECT_EQ(ExpandCommand(*s.health, s), "test -f /srv/crm/ok");
  EXPECT_EQ(ExpandCommand(s.install, s), "./setup slice-1");
  EXPECT_EQ(DefaultInstall("deploy"), "sudo -n sh ./install.sh");
  EXPECT_EQ(DefaultRestart("slice", "root"), "systemctl restart crmd.service");
  EXPECT_EQ(DefaultRestart("postgres-primary", "root"), "");
  EXPECT_EQ(DefaultHealth("all"), "systemctl is-active --quiet crmd.service");
}

TEST(InventoryTest, BackupCommandsDefaultToWhatTheRenderingsInstall) {
  const Inventory inv = ParseInventory(R"(hosts:
  - {name: vps, address: 10.0.0.5, key: k}
  - {name: postgres, address: 10.0.0.6, key: k, user: deploy}
  - name: postgres-primary
    address: 10.0.0.7
    key: k
    stop: kill crmd
    postgres_stop: pg_ctl stop
    postgres_start: pg_ctl start
    pgbackrest: pgbackrest --config=/tmp/b.conf
    psql: psql -h /tmp
    pg_data: /tmp/pg
    pg_bin: /opt/pg 15/bin
)",
                                       "/etc/crm/inventory.yaml");
  const InventoryHost& root = inv.hosts[0];
  EXPECT_EQ(BackupStop(root), "systemctl stop crmd.service");
  EXPECT_EQ(PostgresStop(root), "systemctl stop postgresql.service");
  EXPECT_EQ(PostgresStart(root), "systemctl start postgresql.service");
  EXPECT_EQ(PgBackRestCommand(root), "runuser -u postgres -- pgbackrest");
  EXPECT_EQ(PsqlCommand(root), "runuser -u postgres -- psql");
  EXPECT_EQ(root.pg_data, "");
  EXPECT_EQ(PgToolCommand(root, "pg_ctl"),
            "runuser -u postgres -- '/usr/lib/postgresql/15/bin/pg_ctl'");
  const InventoryHost& deploy = inv.hosts[1];
  EXPECT_EQ(PostgresStop(deploy), "sudo -n systemctl stop postgresql.service");
  EXPECT_EQ(PgBackRestCommand(deploy), "sudo -n -u postgres pgbackrest");
  EXPECT_EQ(PgToolCommand(deploy, "pg_dump"),
            "sudo -n -u postgres '/usr/lib/postgresql/15/bin/pg_dump'");
  const InventoryHost& given = inv.hosts[2];
  EXPECT_EQ(BackupStop(given), "kill crmd");
  EXPECT_EQ(PostgresStop(given), "pg_ctl stop");
  EXPECT_EQ(PostgresStart(given), "pg_ctl start");
  EXPECT_EQ(PgBackRestCommand(given), "pgbackrest --config=/tmp/b.conf");
  EXPECT_EQ(PsqlCommand(given), "psql -h /tmp");
  EXPECT_EQ(given.pg_data, "/tmp/pg");
  EXPECT_EQ(PgToolCommand(given, "psql"), "runuser -u postgres -- '/opt/pg 15/bin/psql'");
  EXPECT_NE(ErrorOf("hosts:\n  - {name: a, address: x, key: k, pg_bin: bin}\n")
                .find("inventory.yaml:2:43: pg_bin: expected an absolute path"),
            std::string::npos)
      << ErrorOf("hosts:\n  - {name: a, address: x, key: k, pg_bin: bin}\n");
  EXPECT_NE(ErrorOf("hosts:\n  - {name: a, address: x, key: k, pg_data: rel}\n")
                .find("inventory.yaml:2:44: pg_data: expected an absolute path"),
            std::string::npos)
      << ErrorOf("hosts:\n  - {name: a, address: x, key: k, pg_data: rel}\n");
}

TEST(InventoryTest, BadInputNamesTheLine) {
  EXPECT_NE(ErrorOf("hosts:\n  - name: a\n    address: x\n    key: k\n    prot: 22\n")
                .find("inventory.yaml:5:5: host: unknown key 'prot'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("hosts:\n  - name: a\n    address: x\n    key: k\n    port: 70000\n")
                .find("inventory.yaml:5:11: port: 70000 is not a TCP port"),
            std::string::npos);
  EXPECT_NE(ErrorOf("hosts:\n  - name: a\n    address: x\n").find("missing field 'key'"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf("hosts:\n  - {name: a, address: x, key: k}\n  - {name: a, address: y, key: k}\n")
          .find("'a' is listed twice"),
      std::string::npos);
  EXPECT_NE(ErrorOf("hosts: []\n").find("non-empty list"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("empty inventory"), std::string::npos);
  EXPECT_NE(ErrorOf("hosts:\n  - {name: a, address: x, key: k, dir: rel}\n").find("absolute path"),
            std::string::npos);
  EXPECT_NE(ErrorOf("batch_size: 0\nhosts:\n  - {name: a, address: x, key: k}\n")
                .find("batch_size: expected 1 to 1000"),
            std::string::npos);
}

TEST(InventoryTest, RolloutGoesDatabasesFirstThenOneHostAtATimeThenSliceBatches) {
  // Tier 4's hosts in the rendering's order.
  const std::vector<std::string> roles = {"lb",
                                          "app",
                                          "app",
                                          "slice",
                                          "slice",
                                          "slice",
                                          "postgres-primary",
                                          "postgres-replica",
                                          "queue-db",
                                          "monitoring"};
  using Batches = std::vector<std::vector<std::size_t>>;
  EXPECT_EQ(RolloutBatches(roles, 2), (Batches{{6}, {7}, {8}, {0}, {1}, {2}, {9}, {3, 4}, {5}}));
  EXPECT_EQ(RolloutBatches(roles, 1).back(), (std::vector<std::size_t>{5}));
  EXPECT_EQ(RolloutBatches(roles, 10).back(), (std::vector<std::size_t>{3, 4, 5}));
  EXPECT_EQ(RolloutBatches({"all"}, 1), (Batches{{0}}));
}

TEST(InventoryTest, QuotesForTheShell) {
  EXPECT_EQ(ShellQuote("/srv/it's here"), "'/srv/it'\\''s here'");
}

}  // namespace
}  // namespace crm::apply
