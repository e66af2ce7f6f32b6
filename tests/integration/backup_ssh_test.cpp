// crmctl backup and restore --target ssh (docs/operations.md, "Backups (ssh target)"): a tier 1
// deployment applied over a real loopback sshd, its database a real PostgreSQL cluster archiving
// WAL into a real pgBackRest repository (posix, encrypted) in a temp dir, reached by crmctl only
// through ssh. The inventory overrides what systemd and the rendered paths would do here: crmd is
// a marker file, PostgreSQL is stopped and started with pg_ctl, pgbackrest reads the test's
// configuration; everything runs as the postgres user through runuser as the defaults do. The
// one-tenant restore adds a real crmd on the same cluster, whose admin API suspends the slice.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "crm/testing/sshd.hpp"
#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

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
    if (HasFailure() && crmd_) {
      std::cerr << "--- crmd log ---\n" << crmd_->Log() << "\n";
    }
    crmd_.reset();
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
  std::string Sql(const std::string& sql, const std::string& db = "postgres") {
    const auto [code, out] =
        RunCommand({"/usr/sbin/runuser", "-u", "postgres", "--", std::string(kPgBin) + "/psql",
                    "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", cluster_->dir().string(), "-p",
                    "5432", "-U", "postgres", "-d", db, "-c", sql},
                   {}, "");
    EXPECT_EQ(code, 0) << sql << ": " << out;
    return out;
  }

  static std::pair<int, std::string> Crmctl(std::vector<std::string> args,
                                            const std::string& input = "",
                                            std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), CRM_CRMCTL_BINARY);
    env["NO_COLOR"] = "1";
    return RunCommand(args, env, input);
  }
  std::pair<int, std::string> Backup(std::vector<std::string> args) {
    std::vector<std::string> all = {"backup",    "--target", "ssh",  "--inventory",
                                    Inventory(), "--dir",    State()};
    all.insert(all.end(), args.begin(), args.end());
    return Crmctl(all);
  }
  std::pair<int, std::string> Restore(std::vector<std::string> args,
                                      const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> all = {"restore",   "--target", "ssh",  "--inventory",
                                    Inventory(), "--dir",    State()};
    all.insert(all.end(), args.begin(), args.end());
    return Crmctl(all, "", env);
  }

  // crmd (gateway and slices) on the cluster's database crm, as the renderings create it.
  void StartCrmd() {
    Sql("CREATE DATABASE crm");
    const fs::path data = root_ / "crmd-data";
    fs::create_directories(data);
    crmd_env_ = {{"CRM_DATABASE_URL", cluster_->ConnectionString("crm")},
                 {"CRM_DATA_DIR", data.string()},
                 {"CRM_LISTEN", "127.0.0.1:0"},
                 {"CRM_TRUSTED_PROXIES", "127.0.0.1"}};
    if (const char* limit = std::getenv("CRM_SLICE_MEMORY_LIMIT")) {
      crmd_env_["CRM_SLICE_MEMORY_LIMIT"] = limit;
    }
    crmd_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, crmd_env_, root_ / "crmd.log");
  }

  // Signs up or in through the gateway (from its own forwarded address); the session token.
  std::string Session(const std::string& path, const std::string& email,
                      const std::string& password, int expected) {
    HttpResult r = Fetch("POST", crmd_->url() + path,
                         nlohmann::json{{"email", email}, {"password", password}}.dump(),
                         {kJson, "X-Forwarded-For: 198.51.100." + std::to_string(++ip_)});
    EXPECT_EQ(r.status, expected) << r.body;
    return CookieValue(r.headers["set-cookie"], "crm_session");
  }

  HttpResult Api(const std::string& cookie, const std::string& method, const std::string& path) {
    return SliceCall(crmd_->url(), cookie, method, path);
  }
  long long AddContact(const std::string& cookie, const std::string& name,
                       const std::string& phone) {
    return AddSliceContact(crmd_->url(), cookie, name, phone);
  }
  std::set<std::string> Contacts(const std::string& cookie) {
    return ContactNames(crmd_->url(), cookie);
  }

  std::string SliceState(const std::string& email) {
    return Sql(
        "SELECT s.state FROM gateway.slices s JOIN gateway.users u ON u.id = s.user_id "
        "WHERE u.email = '" +
            email + "'",
        "crm");
  }

  // Temporary clusters left beside the data directory.
  int Scratches() const {
    int n = 0;
    for (const auto& entry : fs::directory_iterator(cluster_->dir())) {
      n += entry.path().filename().string().starts_with("tenant-restore-") ? 1 : 0;
    }
    return n;
  }

  fs::path root_;
  fs::path client_key_;
  fs::path conf_;
  std::unique_ptr<Sshd> sshd_;
  std::unique_ptr<PgCluster> cluster_;
  std::map<std::string, std::string> crmd_env_;
  std::unique_ptr<CrmdProcess> crmd_;
  int ip_ = 0;
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
  EXPECT_EQ(Occurrences(ReadText(Host().string() + ".log"), "stop"), 0);

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
  const std::string log = ReadText(Host().string() + ".log");
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
  EXPECT_EQ(Occurrences(out, "incr"), 1) << out;
}

TEST_F(BackupSshTest, OneTenantsDeletionIsUndoneOverSshWhileAnotherKeepsWriting) {
  StartCrmd();
  const std::string ana =
      "Cookie: crm_session=" + Session("/auth/register", "ana@example.com", kPassword, 201);
  const std::string bob =
      "Cookie: crm_session=" + Session("/auth/register", "bob@example.com", kPassword, 201);
  const long long a1 = AddContact(ana, "ana one", "+351910000011");
  const long long a2 = AddContact(ana, "ana two", "+351910000012");
  AddContact(bob, "bob one", "+351910000021");
  auto [code, out] = RunCommand({CRM_CRMD_BINARY, "admin", "create", "--email", "root@example.com"},
                                crmd_env_, "an admin password\n");
  ASSERT_EQ(code, 0) << out;
  const std::string token = Session("/auth/login", "root@example.com", "an admin password", 200);
  const std::map<std::string, std::string> admin = {{"CRM_URL", crmd_->url()},
                                                    {"CRM_ADMIN_TOKEN", token}};

  std::tie(code, out) = Backup({"now"});
  ASSERT_EQ(code, 0) << out;
  const std::string point =
      Sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
          .substr(0, 26) +
      "+00";
  // After the point: ana's contacts deleted by accident while bob keeps writing.
  EXPECT_EQ(Api(ana, "DELETE", "/api/contacts/" + std::to_string(a1)).status, 204);
  EXPECT_EQ(Api(ana, "DELETE", "/api/contacts/" + std::to_string(a2)).status, 204);
  AddContact(bob, "bob two", "+351910000022");
  ASSERT_TRUE(Contacts(ana).empty());
  const std::vector<std::string> args = {"--tenant", "ana@example.com", "--time", point};

  // Without the admin API's URL and credential: refused before anything is read or changed.
  std::tie(code, out) = Restore({"--tenant", "ana@example.com", "--time", point, "--auto-approve"},
                                {{"CRM_ADMIN_TOKEN", token}});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--admin-url (or CRM_URL)"), std::string::npos) << out;
  std::tie(code, out) = Restore({"--tenant", "ana@example.com", "--time", point, "--auto-approve",
                                 "--admin-url", crmd_->url()});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("CRM_ADMIN_TOKEN (or CRM_ADMIN_EMAIL with CRM_ADMIN_PASSWORD_FILE)"),
            std::string::npos)
      << out;
  // A wrong credential is refused by the gateway before the plan, nothing changed.
  std::tie(code, out) = Restore({"--tenant", "ana@example.com", "--time", point, "--auto-approve"},
                                {{"CRM_URL", crmd_->url()}, {"CRM_ADMIN_TOKEN", "not-a-session"}});
  EXPECT_EQ(code, 2) << out;
  EXPECT_EQ(out.find("Restoring:"), std::string::npos) << out;

  // The address reaches SQL and the host's shell only quoted: no account, nothing run.
  const fs::path pwned = root_ / "pwned";
  std::tie(code, out) =
      Restore({"--tenant",
               "x'); DROP SCHEMA gateway CASCADE; --$(touch " + pwned.string() + ")@example.com",
               "--time", point, "--auto-approve"},
              admin);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--tenant: no account x'); DROP SCHEMA"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(pwned));
  EXPECT_EQ(SliceState("bob@example.com"), "assigned\n");

  // Without approval (stdin is no terminal): the plan, and nothing changes.
  std::tie(code, out) = Restore(args, admin);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("Restore tenant ana@example.com (slice "), std::string::npos) << out;
  EXPECT_NE(out.find("files: nothing to restore"), std::string::npos) << out;
  EXPECT_NE(out.find("refusing to restore this tenant without approval"), std::string::npos) << out;
  EXPECT_TRUE(Contacts(ana).empty());
  EXPECT_EQ(SliceState("ana@example.com"), "assigned\n");
  EXPECT_EQ(Scratches(), 0);

  std::vector<std::string> approved = args;
  approved.push_back("--auto-approve");
  // The temporary cluster does not start (no PostgreSQL in pg_bin): its directory is removed and
  // the slice was never suspended.
  std::ofstream(Inventory(), std::ios::app)
      << "    pg_bin: " << (root_ / "no-postgres").string() << "\n";
  std::tie(code, out) = Restore(approved, admin);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("host vps: the temporary cluster did not start"), std::string::npos) << out;
  EXPECT_EQ(out.find("suspend slice"), std::string::npos) << out;
  EXPECT_EQ(Scratches(), 0);
  EXPECT_EQ(SliceState("ana@example.com"), "assigned\n");
  EXPECT_TRUE(Contacts(ana).empty());
  WriteInventory();

  std::tie(code, out) = Restore(approved, admin);
  ASSERT_EQ(code, 0) << out;
  for (const std::string& step : std::vector<std::string>{
           "pgbackrest check", "vps: make a temporary directory beside " + Data().string(),
           "pgbackrest restore --set=", "and recover to " + point, "suspend slice",
           "vps: replace schema slice_", "resume slice",
           "vps: stop and remove the temporary cluster", "other tenants untouched"}) {
    EXPECT_NE(out.find(step), std::string::npos) << step << "\n" << out;
  }
  // ana's contacts are back, bob's later write is kept, and both keep working.
  EXPECT_EQ(Contacts(ana), (std::set<std::string>{"ana one", "ana two"}));
  EXPECT_EQ(Contacts(bob), (std::set<std::string>{"bob one", "bob two"}));
  EXPECT_EQ(SliceState("ana@example.com"), "assigned\n");
  AddContact(ana, "ana three", "+351910000013");
  AddContact(bob, "bob three", "+351910000023");
  EXPECT_EQ(Contacts(ana).size(), 3U);
  EXPECT_EQ(Contacts(bob).size(), 3U);
  // The live cluster was never stopped or recovered; the temporary one is gone.
  EXPECT_EQ(Sql("SELECT pg_is_in_recovery()"), "f\n");
  EXPECT_EQ(Occurrences(ReadText(Host().string() + ".log"), "stop"), 0);
  EXPECT_EQ(Scratches(), 0);
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
  const std::string other = ReadText(root_ / "other_key.pub");
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

  // One tenant needs the gateway's admin API: refused without it, before ssh is tried.
  std::tie(code, out) =
      Restore({"--tenant", "a@example.com", "--time", "2026-11-30 08:00:00+00", "--auto-approve"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--tenant: over ssh the tenant's slice is suspended and resumed through the "
                     "gateway's admin API"),
            std::string::npos)
      << out;
  EXPECT_EQ(Sql("SELECT pg_is_in_recovery()"), "f\n");
  EXPECT_EQ(Occurrences(ReadText(Host().string() + ".log"), "stop"), 0);
}

}  // namespace
}  // namespace crm::testing
