// crmctl apply --target local end to end (docs/operations.md, "The local target"): the real crmctl
// creating a real PostgreSQL cluster and a real detached `crmd --role all`, checked over real HTTP;
// then status, a no-op re-apply, knob changes, recoveries from killed processes, the lock and
// destroy.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include "crm/ports.hpp"
#include "crm/testing/crmd_process.hpp"
#include "crm/testing/http_client.hpp"

namespace crm::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Result {
  int code = -1;
  std::string out;
};

class ApplyLocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/crm-apply-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    // The postgres user must reach the deployment below it.
    ::chmod(root_.c_str(), 0755);
    dir_ = root_ / "d";
  }

  void TearDown() override {
    if (fs::exists(dir_ / "state.json")) {
      Crmctl({"destroy", "--dir", dir_.string(), "--purge", "--auto-approve"});
    }
    fs::remove_all(root_);
  }

  static Result Crmctl(std::vector<std::string> args, const std::string& input = "",
                       std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), CRM_CRMCTL_BINARY);
    env["NO_COLOR"] = "1";
    auto [code, out] = RunCommand(args, env, input);
    return {code, out};
  }

  Result Apply(std::vector<std::string> extra = {}, std::map<std::string, std::string> env = {}) {
    std::vector<std::string> args = {"apply", "--target",    "local",
                                     "--dir", dir_.string(), "--auto-approve"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Crmctl(args, "", env);
  }

  json Status() {
    const Result r = Crmctl({"status", "--dir", dir_.string(), "-o", "json"});
    return json::parse(r.out, nullptr, false);
  }

  static std::string UrlIn(const std::string& out) {
    std::smatch m;
    EXPECT_TRUE(std::regex_search(out, m, std::regex(R"(Open (http://127\.0\.0\.1:\d+))"))) << out;
    return m.size() > 1 ? m[1].str() : "";
  }

  static pid_t PidOf(const fs::path& pidfile) {
    std::ifstream in(pidfile);
    pid_t pid = 0;
    in >> pid;
    return pid;
  }

  // Kills and waits until the process is gone (or only a zombie awaiting its reaper).
  static void KillHard(pid_t pid) {
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    for (int i = 0; i < 500; ++i) {
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string text((std::istreambuf_iterator<char>(stat)), {});
      const auto paren = text.rfind(')');
      if (text.empty() || (paren != std::string::npos && text[paren + 2] == 'Z')) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "pid " << pid << " survived SIGKILL";
  }

  fs::path root_;
  fs::path dir_;
};

TEST_F(ApplyLocalTest, ApplyStatusReapplyDestroy) {
  // No --crmd: crmctl finds crmd in its build tree. crmd's settings in the operator's shell do
  // not reach the deployment's crmd (it would listen on port 1 with a wrong password).
  Result r = Apply({"--port", "0"}, {{"CRM_LISTEN", "127.0.0.1:1"},
                                     {"CRM_DATABASE_PASSWORD", "not-the-password"},
                                     {"CRM_DATA_DIR", "/nonexistent"}});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("+ service postgres"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+ service crmd"), std::string::npos);
  EXPECT_NE(r.out.find("Plan: 8 to add, 0 to change, 0 to remove."), std::string::npos);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(initdb .* \.\.\. ok \(\d)"))) << r.out;
  EXPECT_NE(r.out.find("password in " + (dir_ / "secrets/admin-password").string()),
            std::string::npos);
  const std::string url = UrlIn(r.out);
  const HttpResult health = Fetch("GET", url + "/health");
  EXPECT_EQ(health.status, 200) << health.body;
  // The address apply prints opens the web app (the one built beside this crmd).
  const HttpResult page = Fetch("GET", url + "/login");
  EXPECT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.headers.at("content-type"), "text/html; charset=utf-8");
  // A browser on that address may sign in: no https public URL or proxy from the vps rendering.
  const HttpResult login =
      Fetch("POST", url + "/auth/login", R"({"email":"nobody@example.com","password":"x"})",
            {"Content-Type: application/json", "Origin: " + url});
  EXPECT_EQ(login.status, 401) << "the Origin check passes: " << login.body;
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "secrets/admin-password").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  ASSERT_EQ(::stat((dir_ / "config/crmd.env").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);

  // The admin account works: status signs in and lists the warm slice.
  json status = Status();
  ASSERT_TRUE(status.is_object());
  EXPECT_TRUE(status["healthy"].get<bool>()) << status.dump();
  EXPECT_TRUE(status["postgres"]["running"].get<bool>());
  EXPECT_EQ(status["postgres"]["version"], "15");
  EXPECT_EQ(status["crmd"]["health"], "ok");
  EXPECT_EQ(status["crmd"]["version"], "crmd 0.1.0");
  ASSERT_TRUE(status["slices"].is_object()) << status.dump();
  EXPECT_GE(status["slices"]["total"].get<int>(), 1);

  r = Crmctl({"apply", "--target", "local", "--dir", dir_.string(), "--auto-approve",
              "--detailed-exitcode"});
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("No changes."), std::string::npos) << r.out;

  r = Crmctl({"destroy", "--dir", dir_.string(), "--auto-approve"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("- service crmd"), std::string::npos) << r.out;
  EXPECT_EQ(Fetch("GET", url + "/health", {}, {}, 2000).status, 0);
  r = Crmctl({"status", "--dir", dir_.string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("crmd            NOT RUNNING"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir_ / "pg/data/PG_VERSION"));  // data kept

  // Apply brings the stopped deployment back on the same port, data intact.
  r = Apply();
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(UrlIn(r.out), url);
  EXPECT_EQ(r.out.find("initdb"), std::string::npos) << r.out;
  EXPECT_EQ(Fetch("GET", url + "/health").status, 200);

  r = Crmctl({"destroy", "--dir", dir_.string(), "--purge", "--auto-approve"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(fs::exists(dir_));
  EXPECT_EQ(Fetch("GET", url + "/health", {}, {}, 2000).status, 0);

  // The purge kept the backup repository: a new cluster in the same place would archive into the
  // old one's stanza, which refuses its WAL. Apply says so and changes nothing; with the
  // repository moved aside it deploys afresh.
  const fs::path repo = root_ / "d.backups";
  ASSERT_TRUE(fs::exists(repo));
  r = Apply({"--port", "0"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("the backup repository " + repo.string() +
                       " holds the backups of an earlier deployment"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("crmctl restore --dir " + dir_.string()), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_)) << "a refused apply created the directory";
  fs::rename(repo, root_ / "old.backups");
  r = Apply({"--port", "0"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("stanza-create"), std::string::npos) << r.out;
}

TEST_F(ApplyLocalTest, DryRunAndRefusalChangeNothing) {
  Result r = Crmctl({"apply", "--target", "local", "--dir", dir_.string(), "--dry-run",
                     "--detailed-exitcode", "--port", "0"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("Dry run: nothing was changed."), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_));
  // stdin is not a terminal (a file here): refused without --auto-approve.
  r = Crmctl({"apply", "--target", "local", "--dir", dir_.string(), "--port", "0"}, "yes\n");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("refusing to apply these changes without approval: stdin is not a "
                       "terminal"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(dir_));
  r = Crmctl(
      {"apply", "--target", "local", "--dir", dir_.string(), "--port", "0", "--detailed-exitcode"});
  EXPECT_EQ(r.code, 1) << r.out;  // an error under --detailed-exitcode, not "changes present"

  // On a terminal (script(1) gives it one) "yes" approves.
  auto [tty_code, tty_out] =
      RunCommand({"/usr/bin/script", "-qec",
                  std::string(CRM_CRMCTL_BINARY) + " apply --target local --port 0 --crmd " +
                      CRM_CRMD_BINARY + " --dir " + dir_.string(),
                  "/dev/null"},
                 {{"NO_COLOR", "1"}}, "yes\n");
  ASSERT_EQ(tty_code, 0) << tty_out;
  EXPECT_NE(tty_out.find("Do you want to apply these changes? Only 'yes' is accepted:"),
            std::string::npos)
      << tty_out;
  EXPECT_EQ(Fetch("GET", UrlIn(tty_out) + "/health").status, 200);
  const std::string env_before = [&] {
    std::ifstream in(dir_ / "config/crmd.env");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }();
  const pid_t crmd = PidOf(dir_ / "crmd.pid");
  const int port = FreeLoopbackPort();
  r = Crmctl({"apply", "--target", "local", "--dir", dir_.string(), "--port", std::to_string(port),
              "--dry-run", "--detailed-exitcode"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("+ CRM_LISTEN=127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.out;
  std::ifstream in(dir_ / "config/crmd.env");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), {}), env_before);
  EXPECT_EQ(PidOf(dir_ / "crmd.pid"), crmd);
  EXPECT_EQ(::kill(crmd, 0), 0);
  // destroy follows the same rule.
  r = Crmctl({"destroy", "--dir", dir_.string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("refusing to stop it without approval"), std::string::npos) << r.out;
  EXPECT_EQ(::kill(crmd, 0), 0);
}

TEST_F(ApplyLocalTest, AChangedKnobRestartsOnlyWhatReadsIt) {
  Result r = Apply({"--port", "0"});
  ASSERT_EQ(r.code, 0) << r.out;
  const pid_t postgres = PidOf(dir_ / "pg/data/postmaster.pid");
  const pid_t crmd = PidOf(dir_ / "crmd.pid");
  const int port = FreeLoopbackPort();
  r = Crmctl({"apply", "--target", "local", "--dir", dir_.string(), "--auto-approve", "--port",
              std::to_string(port), "--detailed-exitcode"});
  ASSERT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("~ config/crmd.env"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("~ service crmd                       restart: config/crmd.env changed"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("service postgres"), std::string::npos) << r.out;
  EXPECT_EQ(PidOf(dir_ / "pg/data/postmaster.pid"), postgres);
  EXPECT_NE(PidOf(dir_ / "crmd.pid"), crmd);
  EXPECT_EQ(Fetch("GET", "http://127.0.0.1:" + std::to_string(port) + "/health").status, 200);

  // A file edited by hand is put back; nothing restarts: the services run on the desired content.
  {
    std::ofstream hba(dir_ / "config/pg_hba.conf", std::ios::app);
    hba << "# edited by hand\n";
  }
  r = Apply();
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("edited on the host since the last apply: restored"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("service crmd"), std::string::npos) << r.out;

  // Another tier changes PostgreSQL's settings (PGTune for a bigger host) and crmd's knobs: both
  // restart. A plain re-apply keeps the plan applied last instead of falling back to tier 1.
  r = Apply({"--tier", "2"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("+ shared_buffers = 2GB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("~ service postgres                   restart: config/postgresql.conf "
                       "changed"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("~ service crmd                       restart: config/crmd.env changed"),
            std::string::npos)
      << r.out;
  EXPECT_NE(PidOf(dir_ / "pg/data/postmaster.pid"), postgres);
  r = Apply({"--detailed-exitcode"});
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("(tier 2 Grow"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No changes."), std::string::npos) << r.out;
}

TEST_F(ApplyLocalTest, RecoversAKilledCrmdAndAKilledPostgres) {
  Result r = Apply({"--port", "0", "--crmd", CRM_CRMD_BINARY});
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string url = UrlIn(r.out);
  KillHard(PidOf(dir_ / "crmd.pid"));
  r = Crmctl({"status", "--dir", dir_.string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("NOT RUNNING (pid"), std::string::npos) << r.out;
  r = Crmctl({"apply", "--target", "local", "--dir", dir_.string(), "--auto-approve",
              "--detailed-exitcode"});
  ASSERT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("~ service crmd                       start: not running"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(Fetch("GET", url + "/health").status, 200);

  KillHard(PidOf(dir_ / "pg/data/postmaster.pid"));
  r = Apply();
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("~ service postgres                   start: not running"),
            std::string::npos)
      << r.out;
  const HttpResult health = Fetch("GET", url + "/health");
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_TRUE(Status()["healthy"].get<bool>());
}

TEST_F(ApplyLocalTest, APortInUseIsNamedBeforeAnythingChanges) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  Result r = Apply({"--port", port});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("port " + port +
                       " on 127.0.0.1 is in use by another process, so crmd "
                       "cannot listen there"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(dir_));
  r = Apply({"--port", "0", "--pg-port", port});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("so PostgreSQL cannot listen there"), std::string::npos) << r.out;
  ::close(fd);
}

TEST_F(ApplyLocalTest, TheLockIsHonouredAndAStaleOneReported) {
  ASSERT_EQ(Apply({"--port", "0"}).code, 0);
  // A live holder: this test process.
  {
    std::ofstream lock(dir_ / ".crmctl.lock");
    lock << ::getpid() << "\n";
  }
  Result r = Apply();
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("is held by process " + std::to_string(::getpid())), std::string::npos)
      << r.out;
  // A dead holder: a child that has exited and been reaped.
  const pid_t child = ::fork();
  if (child == 0) {
    ::_exit(0);
  }
  ::waitpid(child, nullptr, 0);
  {
    std::ofstream lock(dir_ / ".crmctl.lock");
    lock << child << "\n";
  }
  r = Apply();
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(
      r.out.find("was left by process " + std::to_string(child) + ", which is no longer running"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("No changes."), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / ".crmctl.lock"));
}

}  // namespace
}  // namespace crm::testing
