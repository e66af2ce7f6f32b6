// crmctl backup and restore end to end (docs/operations.md, "Backups"): a real local deployment
// archiving WAL into a real pgBackRest repository, backups taken by the built crmctl, and the
// restore drill: the whole deployment to a point in time (in place, and after destroy --purge,
// with a broadcast running across the point), and one tenant's deletion undone while another
// tenant keeps writing; the monitor's backup_stale read from the same repository.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Result {
  int code = -1;
  std::string out;
};

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// KEY=VALUE lines of an env file (crmd.env), comments and blank lines skipped.
std::map<std::string, std::string> EnvFile(const fs::path& path) {
  std::map<std::string, std::string> env;
  std::istringstream in(ReadAll(path));
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) {
      continue;
    }
    env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

// Whether `pid` is gone (or a zombie nobody has reaped yet).
bool Gone(pid_t pid) {
  if (::kill(pid, 0) != 0) {
    return true;
  }
  const std::string stat = ReadAll(fs::path("/proc") / std::to_string(pid) / "stat");
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || stat.substr(paren + 2, 1) == "Z";
}

// The deployment's database as crmd reaches it, a libpq connection URI.
std::string Conninfo(const std::map<std::string, std::string>& crmd_env) {
  std::string password = ReadAll(crmd_env.at("CRM_DATABASE_PASSWORD_FILE"));
  while (!password.empty() && password.back() == '\n') {
    password.pop_back();
  }
  std::string encoded;
  for (const unsigned char c : password) {
    char hex[4];
    std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned>(c));
    encoded += std::isalnum(c) != 0 ? std::string(1, static_cast<char>(c)) : std::string(hex);
  }
  return crmd_env.at("CRM_DATABASE_URL") + "?password=" + encoded;
}

// Now, as PostgreSQL's recovery_target_time reads it, to the microsecond.
std::string NowUtc() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lld+00", buf, static_cast<long long>(micros));
  return out;
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/crm-backup-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ::chmod(root_.c_str(), 0755);
    dir_ = root_ / "d";
    repo_ = root_ / "d.backups";
  }

  void TearDown() override {
    if (fs::exists(dir_ / "state.json")) {
      Crmctl({"destroy", "--dir", dir_.string(), "--purge", "--auto-approve"});
    }
    fs::remove_all(root_);
  }

  static Result Crmctl(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), CRM_CRMCTL_BINARY);
    auto [code, out] = RunCommand(args, {{"NO_COLOR", "1"}}, input);
    return {code, out};
  }

  void Apply() {
    const Result r = Crmctl({"apply", "--target", "local", "--dir", dir_.string(), "--auto-approve",
                             "--port", "0", "--crmd", CRM_CRMD_BINARY});
    ASSERT_EQ(r.code, 0) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(Open (http://127\.0\.0\.1:\d+))")))
        << r.out;
    url_ = m[1].str();
    apply_out_ = r.out;
  }

  json Backups() {
    const Result r = Crmctl({"-o", "json", "backup", "--dir", dir_.string(), "list"});
    EXPECT_EQ(r.code, 0) << r.out;
    return json::parse(r.out, nullptr, false);
  }

  // Signs a new tenant up; returns its session cookie header.
  std::string Register(const std::string& email) {
    const HttpResult r = Fetch("POST", url_ + "/auth/register",
                               json{{"email", email}, {"password", kPassword}}.dump(), {kJson});
    EXPECT_EQ(r.status, 201) << r.body;
    return "Cookie: crm_session=" + CookieValue(r.headers.at("set-cookie"), "crm_session");
  }

  HttpResult Api(const std::string& cookie, const std::string& method, const std::string& path,
                 const std::string& body = {}) {
    return SliceCall(url_, cookie, method, path, body);
  }
  long long AddContact(const std::string& cookie, const std::string& name,
                       const std::string& phone) {
    return AddSliceContact(url_, cookie, name, phone);
  }
  std::set<std::string> Contacts(const std::string& cookie) { return ContactNames(url_, cookie); }

  fs::path root_;
  fs::path dir_;
  fs::path repo_;
  std::string url_;
  std::string apply_out_;
};

TEST_F(BackupTest, ApplyArchivesWalIntoAnEncryptedRepositoryThatOutlivesPurge) {
  Apply();
  EXPECT_NE(apply_out_.find("+ " + repo_.string() + "/"), std::string::npos) << apply_out_;
  EXPECT_NE(apply_out_.find("pgbackrest stanza-create (stanza crm) ... ok"), std::string::npos)
      << apply_out_;
  EXPECT_NE(apply_out_.find("pgbackrest check (a WAL segment reaches the repository) ... ok"),
            std::string::npos);
  const std::string conf = ReadAll(dir_ / "config/postgresql.conf");
  EXPECT_NE(conf.find("archive_mode = on"), std::string::npos) << conf;
  EXPECT_NE(conf.find("--stanza=crm archive-push %p'"), std::string::npos) << conf;
  const std::string repo_conf = ReadAll(repo_ / "pgbackrest.conf");
  EXPECT_NE(repo_conf.find("repo1-cipher-type=aes-256-cbc"), std::string::npos);
  EXPECT_NE(repo_conf.find("repo1-retention-full=2"), std::string::npos);
  EXPECT_NE(repo_conf.find("compress-type=zst"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((repo_ / "pgbackrest.conf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  ASSERT_EQ(::stat((dir_ / "secrets/backup-passphrase").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  std::string pass = ReadAll(dir_ / "secrets/backup-passphrase");
  pass.pop_back();
  EXPECT_GE(pass.size(), 64U);
  EXPECT_NE(repo_conf.find("repo1-cipher-pass=" + pass + "\n"), std::string::npos);
  // Encrypted: what the repository holds is OpenSSL's salted ciphertext, not pgBackRest's text.
  EXPECT_EQ(ReadAll(repo_ / "pgbackrest/backup/crm/backup.info").substr(0, 8), "Salted__");

  Result r = Crmctl({"backup", "--dir", dir_.string()});
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("No backups yet"), std::string::npos) << r.out;
  r = Crmctl({"backup", "--dir", dir_.string(), "now"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(pgbackrest backup --type=full \.\.\. ok)")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(Backup \d{8}-\d{6}F \(full, database )")))
      << r.out;
  r = Crmctl({"backup", "--dir", dir_.string(), "now", "--type", "incr"});
  ASSERT_EQ(r.code, 0) << r.out;
  r = Crmctl({"backup", "--dir", dir_.string(), "now", "--type", "weekly"});
  EXPECT_EQ(r.code, 2) << r.out;

  json list = Backups();
  ASSERT_TRUE(list.is_object()) << list;
  ASSERT_EQ(list["backups"].size(), 2U) << list;
  EXPECT_EQ(list["backups"][0]["type"], "full");
  EXPECT_EQ(list["backups"][1]["type"], "incr");
  for (const auto& b : list["backups"]) {
    EXPECT_GT(b["size_bytes"].get<long long>(), 1'000'000) << b;
    EXPECT_TRUE(fs::exists(b["files_archive"].get<std::string>())) << b;
    EXPECT_GE(b["age_seconds"].get<long long>(), 0);
  }
  r = Crmctl({"backup", "--dir", dir_.string(), "list"});
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(LABEL +TYPE +DATABASE +ADDED +FILES)")))
      << r.out;

  // status: the newest backup's age and the archiver's state.
  r = Crmctl({"status", "--dir", dir_.string(), "-o", "json"});
  const json status = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(status.is_object()) << r.out;
  EXPECT_EQ(status["backups"]["last_backup"], list["backups"][1]["label"]) << status.dump();
  EXPECT_LT(status["backups"]["last_backup_age_seconds"].get<long long>(), 600);
  EXPECT_FALSE(status["backups"]["archive"]["failing"].get<bool>()) << status.dump();
  EXPECT_FALSE(status["backups"]["archive"]["last_archived_age_seconds"].is_null());
  r = Crmctl({"status", "--dir", dir_.string()});
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex(R"(backups +last \d{8}-\d{6}F_\d{8}-\d{6}I \d+ s ago; WAL archive )")))
      << r.out;

  // destroy --purge removes the deployment, never its backups.
  r = Crmctl({"destroy", "--dir", dir_.string(), "--purge", "--auto-approve"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(fs::exists(dir_));
  list = Backups();
  ASSERT_TRUE(list.is_object());
  EXPECT_EQ(list["backups"].size(), 2U) << list;
}

TEST_F(BackupTest, TheMonitorOpensBackupStaleFromTheRepositorysNewestBackup) {
  Apply();
  const std::map<std::string, std::string> env = EnvFile(dir_ / "config/crmd.env");
  ASSERT_EQ(env.count("CRM_BACKUP_STANZA"), 1U);
  EXPECT_EQ(env.at("CRM_BACKUP_STANZA"), "crm");
  EXPECT_EQ(env.at("CRM_PGBACKREST_CONFIG"), (repo_ / "pgbackrest.conf").string());
  EXPECT_EQ(env.at("CRM_BACKUP_MAX_AGE"), "26h");

  // The deployment's crmd gives way to one with the same environment, its backup check every
  // second and its clock in a file (only one gateway per database monitors).
  const pid_t deployed = std::stoi(ReadAll(dir_ / "crmd.pid"));
  ASSERT_EQ(::kill(deployed, SIGTERM), 0);
  ASSERT_TRUE(Eventually([&] { return Gone(deployed); }));
  std::map<std::string, std::string> ours = env;
  ours["CRM_MONITOR_BACKUP_INTERVAL"] = "1s";
  const fs::path clock = root_ / "monitor-clock";
  ours["CRM_MONITOR_CLOCK_FILE"] = clock.string();
  auto crmd = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, ours, root_ / "crmd.log",
                                 std::chrono::seconds(60));
  const std::string db = Conninfo(env);
  const auto open_message = [&] {
    return Sql(db,
               "SELECT message FROM gateway.alerts WHERE subject = 'server' AND kind = "
               "'backup_stale' AND resolved_at IS NULL");
  };

  // A repository without a backup is no backup.
  ASSERT_TRUE(Eventually([&] { return !open_message().empty(); })) << crmd->Log();
  EXPECT_NE(open_message().find("the backup repository holds no backup"), std::string::npos)
      << open_message();
  ASSERT_EQ(Crmctl({"backup", "--dir", dir_.string(), "now"}).code, 0);
  // The next check after the backup resolves it; on a loaded machine `pgbackrest info` can take
  // many seconds (a clean CI run once needed more than 30).
  ASSERT_TRUE(Eventually([&] { return open_message().empty(); }, std::chrono::seconds(90)))
      << open_message() << crmd->Log();

  // A day and three hours later without another backup: older than the schedule allows.
  const std::time_t later = std::time(nullptr) + 27 * 3600;
  std::tm tm{};
  ::gmtime_r(&later, &tm);
  char iso[32];
  std::strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::ofstream(clock) << iso << "\n";
  ASSERT_TRUE(Eventually([&] { return !open_message().empty(); })) << crmd->Log();
  EXPECT_TRUE(std::regex_search(open_message(),
                                std::regex(R"(the newest backup is 27\.\d h old \(at most 26 h)")))
      << open_message();
  EXPECT_EQ(crmd->Log().find("CRM_BACKUP_STANZA is unset"), std::string::npos);
  crmd->Stop();
}

TEST_F(BackupTest, RestoreToAPointInTimeKeepsEveryRowBeforeItAndNoneAfter) {
  Apply();
  const std::string ana = Register("ana@example.com");
  AddContact(ana, "before backup", "+351910000001");
  ASSERT_EQ(Crmctl({"backup", "--dir", dir_.string(), "now"}).code, 0);
  AddContact(ana, "after backup", "+351910000002");
  const std::string t1 = NowUtc();
  AddContact(ana, "after t1", "+351910000003");

  // Refused without approval, like apply: nothing changes.
  Result r = Crmctl({"restore", "--dir", dir_.string(), "--time", t1});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("refusing to restore the deployment without approval"), std::string::npos)
      << r.out;
  EXPECT_EQ(Contacts(ana).size(), 3U);
  r = Crmctl({"restore", "--dir", dir_.string(), "--time", "yesterday"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--time: 'yesterday' is not a point in time"), std::string::npos) << r.out;

  r = Crmctl({"restore", "--dir", dir_.string(), "--time", t1, "--auto-approve"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("pgbackrest restore --set="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Restore complete"), std::string::npos) << r.out;
  EXPECT_EQ(Contacts(ana), (std::set<std::string>{"before backup", "after backup"}));

  // The restored deployment archives on its new timeline: a second point in time, after a
  // purge, comes back from the repository alone.
  AddContact(ana, "after restore", "+351910000004");
  const std::string t2 = NowUtc();
  AddContact(ana, "after t2", "+351910000005");
  r = Crmctl({"destroy", "--dir", dir_.string(), "--purge", "--auto-approve"});
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_FALSE(fs::exists(dir_));
  r = Crmctl({"restore", "--dir", dir_.string(), "--time", t2, "--auto-approve"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("rebuild " + dir_.string()), std::string::npos) << r.out;
  EXPECT_EQ(Contacts(ana),
            (std::set<std::string>{"before backup", "after backup", "after restore"}));
}

TEST_F(BackupTest, ABroadcastRunningAtTheRestorePointResumesAndReachesEachRecipientOnce) {
  Apply();
  const std::string ana = Register("ana@example.com");
  const json channel = Api(ana, "GET", "/api/channel").Json();
  ASSERT_TRUE(channel.is_object() && channel["qr"].is_string()) << channel.dump();
  ASSERT_EQ(
      Api(ana, "POST", "/api/channel/simulator/pair", json{{"qr", channel["qr"]}}.dump()).status,
      200);
  ASSERT_EQ(Api(ana, "PATCH", "/api/channel/simulator/settings",
                json{{"latency_ms", 10}, {"read_rate", 0.0}, {"reply_rate", 0.0}}.dump())
                .status,
            200);
  // 5,000 recipients at the deployment's pace (phone_rps 250): about 20 s of sending.
  constexpr long long kTotal = 5000;
  json recipients = json::array();
  for (long long i = 0; i < kTotal; ++i) {
    const std::string digits = std::to_string(i);
    recipients.push_back("+49151" + std::string(7 - digits.size(), '0') + digits);
  }
  const HttpResult created =
      Api(ana, "POST", "/api/broadcasts",
          json{{"name", "Launch"}, {"text", "Hello"}, {"recipients", recipients}}.dump());
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string progress =
      "/api/broadcasts/" + std::to_string(created.Json()["id"].get<long long>());
  const auto sent = [&] { return Api(ana, "GET", progress).Json().value("sent", 0LL); };
  ASSERT_TRUE(Eventually([&] { return sent() >= 250; }));

  // The backup is taken while it sends, and the point of restore is mid-way too.
  const Result backup = Crmctl({"backup", "--dir", dir_.string(), "now"});
  ASSERT_EQ(backup.code, 0) << backup.out;
  const std::string t = NowUtc();
  const long long sent_at_t = sent();
  ASSERT_LT(sent_at_t, kTotal) << "the broadcast finished before the restore point";
  AddContact(ana, "after t", "+351910000009");
  ASSERT_TRUE(Eventually([&] { return sent() == kTotal; }, std::chrono::seconds(60)));

  const Result r = Crmctl({"restore", "--dir", dir_.string(), "--time", t, "--auto-approve"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contacts(ana).empty()) << "the restore went back to before the last write";

  // The broadcast picks up where the restore point left it and finishes; the simulator (whose
  // record was restored with it) received each message once.
  json p;
  ASSERT_TRUE(Eventually(
      [&] {
        p = Api(ana, "GET", progress).Json();
        return p.value("status", "") == "completed";
      },
      std::chrono::seconds(60)))
      << p.dump();
  EXPECT_EQ(p["sent"], kTotal) << p.dump();
  EXPECT_EQ(p["failed"], 0) << p.dump();
  EXPECT_EQ(p["queued"], 0) << p.dump();
  const json stats = Api(ana, "GET", "/api/channel/stats").Json();
  EXPECT_EQ(stats["sent_unique"], kTotal) << stats.dump();
  EXPECT_EQ(stats["duplicates"], 0) << stats.dump();
}

TEST_F(BackupTest, OneTenantsDeletionIsUndoneWhileAnotherKeepsWriting) {
  Apply();
  const std::string ana = Register("ana@example.com");
  const std::string bob = Register("bob@example.com");
  const long long a1 = AddContact(ana, "ana one", "+351910000011");
  const long long a2 = AddContact(ana, "ana two", "+351910000012");
  AddContact(bob, "bob one", "+351910000021");
  ASSERT_EQ(Crmctl({"backup", "--dir", dir_.string(), "now"}).code, 0);
  const std::string t = NowUtc();
  EXPECT_EQ(Api(ana, "DELETE", "/api/contacts/" + std::to_string(a1)).status, 204);
  EXPECT_EQ(Api(ana, "DELETE", "/api/contacts/" + std::to_string(a2)).status, 204);
  AddContact(bob, "bob two", "+351910000022");
  ASSERT_TRUE(Contacts(ana).empty());

  Result r = Crmctl({"restore", "--dir", dir_.string(), "--time", t, "--tenant",
                     "nobody@example.com", "--auto-approve"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--tenant: no account nobody@example.com"), std::string::npos) << r.out;

  r = Crmctl({"restore", "--dir", dir_.string(), "--time", t, "--tenant", "ana@example.com",
              "--auto-approve"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("suspend slice"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("resume slice"), std::string::npos) << r.out;
  EXPECT_EQ(Contacts(ana), (std::set<std::string>{"ana one", "ana two"}));
  EXPECT_EQ(Contacts(bob), (std::set<std::string>{"bob one", "bob two"}));
  // Both keep working: ana's slice runs again on its restored schema.
  AddContact(ana, "ana three", "+351910000013");
  AddContact(bob, "bob three", "+351910000023");
  EXPECT_EQ(Contacts(ana).size(), 3U);
  EXPECT_EQ(Contacts(bob).size(), 3U);
  // No temporary cluster is left behind.
  for (const auto& entry : fs::directory_iterator(repo_)) {
    EXPECT_EQ(entry.path().filename().string().find("tenant-restore-"), std::string::npos);
  }
}

}  // namespace
}  // namespace crm::testing
