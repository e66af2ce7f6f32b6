// crmctl backup and restore --target ssh (docs/operations.md, "Backups (ssh target)"): a tier 1
// deployment applied over a real loopback sshd, its database a real PostgreSQL cluster archiving
// WAL into a real pgBackRest repository (posix, encrypted) in a temp dir, reached by crmctl only
// through ssh. The inventory overrides what systemd and the rendered paths would do here: crmd is
// a marker file, PostgreSQL is stopped and started with pg_ctl, pgbackrest reads the test's
// configuration; everything runs as the postgres user through runuser as the defaults do.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "crm/testing/crmd_process.hpp"
#include "crm/testing/pg_cluster.hpp"
#include "crm/testing/sshd.hpp"

namespace crm::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

class BackupSshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kSshdBinary))
        << "openssh-server is not installed: run scripts/bootstrap";
    ASSERT_EQ(::geteuid(), 0U) << "the cluster and pgBackRest run as postgres: run as root";
    char tmpl[] = "/tmp/crm-bssh-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ::chmod(root_.c_str(), 0755);  // the postgres user reaches the repository and configuration
    client_key_ = root_ / "client_key";
    Sshd::Keygen(client_key_);
    fs::copy_file(client_key_.string() + ".pub", root_ / "authorized_keys");
    sshd_ = std::make_unique<Sshd>(root_, "db", root_ / "authorized_keys");
    std::ofstream(root_ / "known_hosts") << sshd_->KnownHostsLine();

    cluster_ = PgCluster::Start();
    // A repository of the deployment's own, as install.sh sets it up from the rendering.
    const fs::path pgbr = root_ / "pgbackrest";
    for (const char* sub : {"repo", "log", "lock"}) {
      fs::create_directories(pgbr / sub);
    }
    conf_ = pgbr / "pgbackrest.conf";
    std::ofstream(conf_) << "[global]\nrepo1-path=" << (pgbr / "repo").string()
                         << "\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=drill-passphrase"
                         << "\nrepo1-retention-full=2\nlog-path=" << (pgbr / "log").string()
                         << "\nlock-path=" << (pgbr / "lock").string()
                         << "\nlog-level-console=warn\nstart-fast=y\n\n[crm]\npg1-path="
                         << Data().string() << "\npg1-socket-path=" << cluster_->dir().string()
                         << "\npg1-port=5432\npg1-user=postgres\n";
    Run({"/bin/chown", "-R", "postgres:postgres", pgbr.string()});
    Sql("ALTER SYSTEM SET archive_mode = 'on'");
    Sql("ALTER SYSTEM SET archive_command = 'pgbackrest --config=" + conf_.string() +
        " --stanza=crm archive-push %p'");
    cluster_->Restart();
    Run({"/usr/sbin/runuser", "-u", "postgres", "--", "/usr/bin/pgbackrest",
         "--config=" + conf_.string(), "--stanza=crm", "stanza-create"});
    WriteInventory();
    const auto [code, out] = Crmctl({"apply", "--target", "ssh", "--tier", "1", "--inventory",
                                     Inventory(), "--dir", State(), "--auto-approve"});
    ASSERT_EQ(code, 0) << out;
    ASSERT_TRUE(fs::exists(Host().string() + ".up")) << out;
  }

  void TearDown() override {
    sshd_.reset();
    cluster_.reset();  // stops the cluster and removes its directory, the moved-aside data too
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  fs::path Data() const { return cluster_->dir() / "data"; }
  fs::path Host() const { return root_ / "vps"; }
  std::string Inventory() const { return (root_ / "inventory.yaml").string(); }
  std::string State() const { return (root_ / "state").string(); }

  void WriteInventory() {
    const std::string pg_ctl = std::string(kPgBin) + "/pg_ctl -D " + Data().string();
    const std::string cl = cluster_->dir().string();
    std::ofstream(root_ / "inventory.yaml")
        << "health_timeout_s: 10\nhosts:\n  - name: vps\n    address: 127.0.0.1\n    port: "
        << sshd_->port() << "\n    user: " << CurrentUser()
        << "\n    key: client_key\n    known_hosts: known_hosts\n    dir: " << Host().string()
        << "\n    install: sh -n install.sh\n"
        << "    restart: echo start >> {dir}.log && touch {dir}.up\n"
        << "    health: test -e {dir}.up\n"
        << "    stop: echo stop >> {dir}.log && rm -f {dir}.up\n"
        << "    postgres_stop: echo pg-stop >> {dir}.log && runuser -u postgres -- " << pg_ctl
        << " -m fast -w -t 60 stop\n"
        << "    postgres_start: echo pg-start >> {dir}.log && runuser -u postgres -- " << pg_ctl
        << " -l " << cl << "/server.log -w -t 60 -o \"-k " << cl
        << " -p 5432 -c listen_addresses=\" start\n"
        << "    pgbackrest: runuser -u postgres -- pgbackrest --config=" << conf_.string() << "\n"
        << "    psql: runuser -u postgres -- " << kPgBin << "/psql -h " << cl
        << " -p 5432 -U postgres\n"
        << "    pg_data: " << Data().string() << "\n";
  }

  static void Run(const std::vector<std::string>& argv) {
    const auto [code, out] = RunCommand(argv, {}, "");
    ASSERT_EQ(code, 0) << argv.front() << ": " << out;
  }

  // One statement on the cluster, directly (not through ssh): what the test checks.
  std::string Sql(const std::string& sql) {
    const auto [code, out] =
        RunCommand({"/usr/sbin/runuser", "-u", "postgres", "--", std::string(kPgBin) + "/psql",
                    "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", cluster_->dir().string(), "-p",
                    "5432", "-U", "postgres", "-d", "postgres", "-c", sql},
                   {}, "");
    EXPECT_EQ(code, 0) << sql << ": " << out;
    return out;
  }

  static std::pair<int, std::string> Crmctl(std::vector<std::string> args,
                                            const std::string& input = "") {
    args.insert(args.begin(), CRM_CRMCTL_BINARY);
    return RunCommand(args, {{"NO_COLOR", "1"}}, input);
  }
  std::pair<int, std::string> Backup(std::vector<std::string> args) {
    std::vector<std::string> all = {"backup",    "--target", "ssh",  "--inventory",
                                    Inventory(), "--dir",    State()};
    all.insert(all.end(), args.begin(), args.end());
    return Crmctl(all);
  }
  std::pair<int, std::string> Restore(std::vector<std::string> args) {
    std::vector<std::string> all = {"restore",   "--target", "ssh",  "--inventory",
                                    Inventory(), "--dir",    State()};
    all.insert(all.end(), args.begin(), args.end());
    return Crmctl(all);
  }

  fs::path root_;
  fs::path client_key_;
  fs::path conf_;
  std::unique_ptr<Sshd> sshd_;
  std::unique_ptr<PgCluster> cluster_;
};

TEST_F(BackupSshTest, BacksUpListsAndRestoresToAPointInTimeOverSsh) {
  auto [code, out] = Backup({"list"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("No backups yet"), std::string::npos) << out;

  Sql("CREATE TABLE drill (v text)");
  Sql("INSERT INTO drill VALUES ('before')");
  std::tie(code, out) = Backup({"now"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("Backup of the ssh deployment"), std::string::npos) << out;
  EXPECT_NE(out.find("on host vps (" + CurrentUser() +
                     "@127.0.0.1:" + std::to_string(sshd_->port()) + "), stanza crm"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("vps: pgbackrest backup --type=full ... ok"), std::string::npos) << out;

  std::tie(code, out) = Crmctl({"-o", "json", "backup", "--target", "ssh", "--inventory",
                                Inventory(), "--dir", State(), "list"});
  ASSERT_EQ(code, 0) << out;
  const auto doc = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << out;
  ASSERT_EQ(doc["backups"].size(), 1U) << out;
  const std::string label = doc["backups"][0]["label"];
  EXPECT_EQ(doc["backups"][0]["type"], "full");
  EXPECT_GT(doc["backups"][0]["size_bytes"].get<long long>(), 1000000) << out;
  std::tie(code, out) = Backup({"list"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find(label + " "), std::string::npos) << out;
  EXPECT_NE(out.find("full"), std::string::npos) << out;

  // Written after the backup: 'kept' before the point, 'gone' after it.
  Sql("INSERT INTO drill VALUES ('kept')");
  const std::string point =
      Sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
          .substr(0, 26) +
      "+00";
  Sql("INSERT INTO drill VALUES ('gone')");

  // Without approval (stdin is no terminal): the plan is printed, nothing changes.
  std::tie(code, out) = Restore({"--time", point});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("- stop PostgreSQL on vps"), std::string::npos) << out;
  EXPECT_NE(out.find("refusing to restore the deployment without approval"), std::string::npos)
      << out;
  EXPECT_EQ(Sql("SELECT string_agg(v, ',' ORDER BY v) FROM drill"), "before,gone,kept\n");
  EXPECT_TRUE(fs::exists(Host().string() + ".up"));
  EXPECT_EQ(Count(Read(Host().string() + ".log"), "stop"), 0);

  std::tie(code, out) = Restore({"--time", point, "--auto-approve"});
  ASSERT_EQ(code, 0) << out;
  for (const std::string& step : std::vector<std::string>{
           "vps: stop crmd", "vps: stop PostgreSQL", "vps: move " + Data().string() + " aside",
           "vps: pgbackrest restore --set=" + label,
           "vps: start PostgreSQL and recover to " + point, "pgbackrest check",
           "vps: start crmd and check its health"}) {
    EXPECT_NE(out.find(step), std::string::npos) << step << "\n" << out;
  }
  // Every row written before the point is there, none after it.
  EXPECT_EQ(Sql("SELECT string_agg(v, ',' ORDER BY v) FROM drill"), "before,kept\n");
  EXPECT_EQ(Sql("SELECT pg_is_in_recovery()"), "f\n");
  // crmd stopped before PostgreSQL and started after it; the old data kept aside.
  const std::string log = Read(Host().string() + ".log");
  EXPECT_LT(log.find("stop"), log.find("pg-stop")) << log;
  EXPECT_LT(log.find("pg-start"), log.rfind("\nstart\n")) << log;
  EXPECT_TRUE(fs::exists(Host().string() + ".up"));
  int aside = 0;
  for (const auto& entry : fs::directory_iterator(cluster_->dir())) {
    aside += entry.path().filename().string().starts_with("data.before-restore-") ? 1 : 0;
  }
  EXPECT_EQ(aside, 1);

  // The restored cluster archives on its new timeline: a new backup is taken and listed.
  std::tie(code, out) = Backup({"now", "--type", "incr"});
  ASSERT_EQ(code, 0) << out;
  std::tie(code, out) = Backup({"list"});
  EXPECT_EQ(Count(out, "incr"), 1) << out;
}

TEST_F(BackupSshTest, UnreachableHostsAndTenantsAreNamedAndNothingChanges) {
  // A label is checked against pgbackrest's list before it goes near a shell on the host.
  const fs::path pwned = root_ / "pwned";
  auto [code, out] =
      Restore({"--backup", "x'; touch " + pwned.string() + "; echo '", "--auto-approve"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("there are no backups yet"), std::string::npos) << out;
  std::tie(code, out) = Backup({"now"});
  ASSERT_EQ(code, 0) << out;
  const auto at = out.find("\nBackup ") + 8;
  const std::string label = out.substr(at, out.find(' ', at) - at);
  // --dry-run: the plan, and nothing stopped.
  std::tie(code, out) = Restore({"--backup", label, "--dry-run"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("from backup " + label + " (full"), std::string::npos) << out;
  EXPECT_NE(out.find("Dry run: nothing was changed."), std::string::npos) << out;
  std::tie(code, out) = Restore({"--backup", "$(touch " + pwned.string() + ")", "--auto-approve"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--backup: no backup $(touch"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(pwned));

  // The recorded host key does not match: ssh refuses, and the host is named.
  Sshd::Keygen(root_ / "other_key");
  const std::string other = Read(root_ / "other_key.pub");
  std::ofstream(root_ / "known_hosts")
      << "[127.0.0.1]:" << sshd_->port() << " " << other.substr(0, other.rfind(' ')) << "\n";
  const std::string named = "host vps (" + CurrentUser() +
                            "@127.0.0.1:" + std::to_string(sshd_->port()) +
                            ") is unreachable over ssh";
  std::tie(code, out) = Backup({"list"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find(named), std::string::npos) << out;
  EXPECT_NE(out.find("Host key verification failed"), std::string::npos) << out;
  std::tie(code, out) = Restore({"--backup", "20261130-000000F", "--auto-approve"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find(named), std::string::npos) << out;

  // sshd down: refused connections name the host too.
  std::ofstream(root_ / "known_hosts") << sshd_->KnownHostsLine();
  sshd_->Stop();
  std::tie(code, out) = Backup({"now"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find(named), std::string::npos) << out;

  // One tenant is a local-target restore: refused over ssh with what to do instead.
  std::tie(code, out) =
      Restore({"--tenant", "a@example.com", "--time", "2026-11-30 08:00:00+00", "--auto-approve"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--tenant: one tenant is restored on the local target only"),
            std::string::npos)
      << out;
  EXPECT_EQ(Sql("SELECT pg_is_in_recovery()"), "f\n");
  EXPECT_EQ(Count(Read(Host().string() + ".log"), "stop"), 0);
}

}  // namespace
}  // namespace crm::testing
