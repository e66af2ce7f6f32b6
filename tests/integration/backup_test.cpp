// crmctl backup and restore end to end (docs/operations.md, "Backups"): a real local deployment
// archiving WAL into a real pgBackRest repository, backups taken by the built crmctl, and the
// restore drill: the whole deployment to a point in time (in place, and after destroy --purge),
// and one tenant's deletion undone while another tenant keeps writing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "crm/testing/crmd_process.hpp"
#include "crm/testing/http_client.hpp"

namespace crm::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kJson = "Content-Type: application/json";
const std::string kPassword = "correct horse battery";

struct Result {
  int code = -1;
  std::string out;
};

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
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

  // A call through the gateway to the tenant's slice, retried while the slice (re)starts.
  HttpResult Api(const std::string& cookie, const std::string& method, const std::string& path,
                 const std::string& body = {}) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    HttpResult r;
    while (std::chrono::steady_clock::now() < deadline) {
      r = Fetch(method, url_ + path, body, {cookie, kJson});
      if (r.status != 0 && r.status != 502 && r.status != 503) {
        return r;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return r;
  }

  long long AddContact(const std::string& cookie, const std::string& name,
                       const std::string& phone) {
    const HttpResult r =
        Api(cookie, "POST", "/api/contacts", json{{"name", name}, {"phone", phone}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    const json body = r.Json();
    return body.is_object() && body.contains("id") ? body["id"].get<long long>() : 0;
  }

  std::set<std::string> Contacts(const std::string& cookie) {
    const HttpResult r = Api(cookie, "GET", "/api/contacts?limit=100");
    EXPECT_EQ(r.status, 200) << r.body;
    std::set<std::string> names;
    const json body = r.Json();
    if (body.is_object()) {
      for (const auto& c : body["items"]) {
        names.insert(c["name"].get<std::string>());
      }
    }
    return names;
  }

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
