#include "crm/apply/ssh_backup.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::apply {
namespace {

// A host as apply records it: its files and the services it started.
HostState Recorded(bool pgbackrest, const std::string& service) {
  HostState h;
  h.files["etc/crmd/crmd.env"] = {};
  if (pgbackrest) {
    h.files["etc/pgbackrest/pgbackrest.conf"] = {};
  }
  h.services[service] = {};
  return h;
}

TEST(SshBackupHostsTest, TheDatabaseHostIsTheOneWithPgBackRestButNotTheReplica) {
  DeploymentState vps;
  vps.target = "ssh";
  vps.hosts["vps"] = Recorded(true, "crmd");
  SshBackupHosts one = FindBackupHosts(vps, "state.json");
  EXPECT_EQ(one.database, "vps");
  EXPECT_EQ(one.crmd, std::vector<std::string>{"vps"});
  EXPECT_TRUE(one.replicas.empty());

  // Tier 4: the replica gets the configuration too (to archive once promoted).
  DeploymentState ha;
  ha.target = "ssh";
  ha.hosts["app-1"] = Recorded(false, "crmd");
  ha.hosts["slice-1"] = Recorded(false, "crmd");
  ha.hosts["postgres-primary"] = Recorded(true, "postgres-primary");
  ha.hosts["postgres-replica"] = Recorded(true, "postgres-replica");
  ha.hosts["queue-db"] = Recorded(false, "queue-db");
  SshBackupHosts four = FindBackupHosts(ha, "state.json");
  EXPECT_EQ(four.database, "postgres-primary");
  EXPECT_EQ(four.crmd, (std::vector<std::string>{"app-1", "slice-1"}));
  EXPECT_EQ(four.replicas, std::vector<std::string>{"postgres-replica"});

  // Nothing rendered with backups: named, not guessed.
  ha.hosts.erase("postgres-primary");
  ha.hosts.erase("postgres-replica");
  try {
    FindBackupHosts(ha, "/srv/state/state.json");
    FAIL() << "no database host was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "/srv/state/state.json: 0 hosts with pgBackRest's configuration"),
              std::string::npos)
        << e.what();
  }
}

TEST(SshBackupHostsTest, ReadsTheStanzaAndDataDirectoryOfTheRenderedConfiguration) {
  const PgBackRestConf conf = ReadPgBackRestConf(
      "# crmctl 0.1.0: pgBackRest, stanza crm\n[global]\nrepo1-type=s3\n"
      "repo1-path=/crm/crm.example.com\n\n[global:archive-push]\nprocess-max=2\n\n[crm]\n"
      "pg1-path=/var/lib/postgresql/15/main\npg1-port=5432\n");
  EXPECT_EQ(conf.stanza, "crm");
  EXPECT_EQ(conf.pg1_path, "/var/lib/postgresql/15/main");
  EXPECT_EQ(ReadPgBackRestConf("[global]\npg1-path=/x\n").stanza, "");
}

}  // namespace
}  // namespace crm::apply
