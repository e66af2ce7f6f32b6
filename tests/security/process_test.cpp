// A bad day for crmd's processes: a gateway killed and restarted at once while its slices drain, a
// slice that stops answering, a SIGHUP, and one slice trying to reach another's files and memory
// (docs/security.md).
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "../integration/runtime_fixture.hpp"
#include "crm/http/probe.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

// Polls `done` until it holds or `timeout` passes (the only waiting these tests do).
// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
bool Exited(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) {
    return true;
  }
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

std::string Health(const std::string& conninfo, long long slice) {
  return Sql(conninfo, "SELECT health FROM gateway.slices WHERE id = " + std::to_string(slice));
}

class SliceProcessTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SLICE_HEALTH_INTERVAL"] = "1s";
  }

  bool Serves(const Tenant& t) {
    return Fetch("GET", Url("/api/contacts"), {}, t.Auth()).status == 200;
  }
};

// The gateway dies (kill -9) and comes back at once on the same data and database while the old
// slice process is still draining (held stopped here, so it exits only after the new one
// serves). The old process's exit must not take the new process's socket with it.
TEST_F(SliceProcessTest, AGatewayKilledAndRestartedAtOnceKeepsTheTenantServed) {
  Tenant ana = Register("ana@example.com");
  ASSERT_TRUE(Serves(ana));
  auto old_slice = static_cast<pid_t>(std::stoi(SlicePid(ana.slice)));
  ASSERT_EQ(::kill(old_slice, SIGSTOP), 0);
  ::kill(crmd_->pid(), SIGKILL);
  crmd_->Stop(5s);  // reaps it
  crmd_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, env_, pg_->dir() / "crmd2.log");
  ASSERT_TRUE(Eventually([&] { return Serves(ana); }, 10s)) << "the new slice never served";
  ASSERT_TRUE(Eventually([&] { return SlicePid(ana.slice) != std::to_string(old_slice); }, 10s));

  // The old slice now gets its SIGTERM (sent when its gateway died), drains and exits.
  ASSERT_EQ(::kill(old_slice, SIGCONT), 0);
  ASSERT_TRUE(Eventually([&] { return Exited(old_slice); }, 15s)) << "the old slice never exited";

  // The gateway keeps pooled connections to a slice: a fresh one shows what new ones would get.
  std::string endpoint =
      Sql(pg_->ConnectionString(),
          "SELECT endpoint FROM gateway.slices WHERE id = " + std::to_string(ana.slice));
  EXPECT_TRUE(
      Eventually([&] { return http::Probe(http::ParseEndpoint(endpoint), "/health", 1s); }, 10s))
      << "nothing answers on " << endpoint << " after the old slice exited";
  EXPECT_TRUE(Eventually([&] { return Serves(ana); }, 10s))
      << "the tenant is refused after the old slice exited";
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(Serves(ana)) << "request " << i;
  }
  EXPECT_EQ(Health(pg_->ConnectionString(), ana.slice), "healthy");
}

// A slice that stops answering (stopped, deadlocked, swapped out) is found by the periodic probe
// and restarted; the admin API does not keep saying healthy.
TEST_F(SliceProcessTest, ASliceThatStopsAnsweringIsRestarted) {
  Tenant ana = Register("ana@example.com");
  ASSERT_TRUE(Serves(ana));
  std::string before = SlicePid(ana.slice);
  auto hung = static_cast<pid_t>(std::stoi(before));
  ASSERT_EQ(::kill(hung, SIGSTOP), 0);

  EXPECT_TRUE(Eventually(
      [&] {
        return SlicePid(ana.slice) != before &&
               Health(pg_->ConnectionString(), ana.slice) == "healthy";
      },
      20s))
      << "pid " << SlicePid(ana.slice) << ", health " << Health(pg_->ConnectionString(), ana.slice);
  EXPECT_TRUE(Eventually([&] { return Serves(ana); }, 10s));
  EXPECT_TRUE(Eventually([&] { return Exited(hung); }, 5s)) << "the hung process was left running";
  EXPECT_NE(Sql(pg_->ConnectionString(),
                "SELECT last_error FROM gateway.slices WHERE id = " + std::to_string(ana.slice))
                .find("GET /health"),
            std::string::npos);
  // The kill was recorded (health unhealthy, with the reason) before the restart.
  EXPECT_EQ(crmd_->Log().find("cannot record health"), std::string::npos) << crmd_->Log();
  ::kill(hung, SIGCONT);
}

// systemctl reload sends SIGHUP: crmd re-reads its environment file, applies the log level, says
// what needs a restart, and keeps serving.
TEST_F(SliceProcessTest, SighupReloadsTheLogLevelAndKeepsServing) {
  Tenant ana = Register("ana@example.com");
  crmd_->Stop();
  fs::path env_file = pg_->dir() / "crmd.env";
  std::ofstream(env_file) << "CRM_LOG_LEVEL=info\nCRM_WARM_SLICES=1\n";
  fs::path log = pg_->dir() / "crmd-hup.log";
  crmd_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all", "--env-file", env_file.string()},
                             env_, log);
  ASSERT_TRUE(Eventually([&] { return Serves(ana); }, 10s));

  std::ofstream(env_file) << "# edited\nCRM_LOG_LEVEL=debug\nCRM_WARM_SLICES=2\n";
  ASSERT_EQ(::kill(crmd_->pid(), SIGHUP), 0);
  EXPECT_TRUE(Eventually(
      [&] {
        std::string text = crmd_->Log();
        return text.find("SIGHUP: reloaded log_level: info -> debug") != std::string::npos &&
               text.find("warm_slices: 1 -> 2 (systemctl restart crmd)") != std::string::npos;
      },
      10s))
      << crmd_->Log();
  EXPECT_TRUE(crmd_->Running());
  EXPECT_TRUE(Serves(ana));
  EXPECT_EQ(Fetch("GET", Url("/health")).status, 200);

  // A broken file changes nothing, and still does not stop crmd.
  std::ofstream(env_file) << "CRM_LOG_LEVEL=loud\n";
  ASSERT_EQ(::kill(crmd_->pid(), SIGHUP), 0);
  EXPECT_TRUE(Eventually(
      [&] { return crmd_->Log().find("SIGHUP: reload refused") != std::string::npos; }, 10s));
  EXPECT_TRUE(crmd_->Running());
  EXPECT_TRUE(Serves(ana));
  // SIGTERM still drains and stops it as before.
  EXPECT_EQ(crmd_->Stop(), 0);
}

// Real uid and gid of `pid`, from /proc/<pid>/status ("Uid:\treal\teffective…").
std::pair<long, long> Ids(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  long uid = -1;
  long gid = -1;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    long real = -1;
    fields >> key >> real;
    if (key == "Uid:") {
      uid = real;
    } else if (key == "Gid:") {
      gid = real;
    }
  }
  return {uid, gid};
}

// Opens `path` as uid/gid `id` (a forked child that drops to it); returns the child's errno, 0
// when the open worked.
int OpenAs(long id, const std::string& path, int flags) {
  pid_t child = ::fork();
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(static_cast<gid_t>(id)) != 0 ||
        ::setuid(static_cast<uid_t>(id)) != 0) {
      ::_exit(250);
    }
    int fd = ::open(path.c_str(), flags);
    ::_exit(fd >= 0 ? 0 : (errno & 0xff));
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

class SliceIsolationTest : public RuntimeTest {
 protected:
  static constexpr long kFirstUid = 200000;
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SLICE_UID_RANGE"] = std::to_string(kFirstUid) + "-265535";
    // The slices reach their directories and PostgreSQL's socket through the cluster's
    // directory (0700 postgres): let other uids pass through, not list.
    fs::permissions(pg_->dir(), fs::perms::others_exec | fs::perms::group_exec,
                    fs::perm_options::add);
  }
};

TEST_F(SliceIsolationTest, SlicesRunUnderUidsOfTheirOwnAndCannotReachEachOther) {
  ASSERT_EQ(::geteuid(), 0U) << "this test exercises setuid: run it as root, as CI does";
  Tenant ana = Register("ana@example.com");
  Tenant bob = Register("bob@example.com");
  ASSERT_TRUE(Eventually(
      [&] { return Fetch("GET", Url("/api/contacts"), {}, bob.Auth()).status == 200; }, 10s));
  std::string ana_pid = SlicePid(ana.slice);
  std::string bob_pid = SlicePid(bob.slice);
  long ana_uid = kFirstUid + ana.slice;
  long bob_uid = kFirstUid + bob.slice;
  EXPECT_EQ(Ids(ana_pid), std::make_pair(ana_uid, ana_uid));
  EXPECT_EQ(Ids(bob_pid), std::make_pair(bob_uid, bob_uid));
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, ana.Auth()).status, 200);

  // Each slice's directory is its own; nobody else's uid gets in, and no password is on disk.
  fs::path ana_dir = data_ / "slices" / std::to_string(ana.slice);
  fs::path bob_dir = data_ / "slices" / std::to_string(bob.slice);
  struct stat st {};
  ASSERT_EQ(::stat(bob_dir.c_str(), &st), 0);
  EXPECT_EQ(static_cast<long>(st.st_uid), bob_uid);
  EXPECT_EQ(st.st_mode & 0007, 0U) << std::oct << st.st_mode;
  EXPECT_EQ(OpenAs(ana_uid, bob_dir.string(), O_RDONLY | O_DIRECTORY), EACCES);
  EXPECT_EQ(OpenAs(ana_uid, (bob_dir / "slice.log").string(), O_RDONLY), EACCES);
  EXPECT_EQ(OpenAs(bob_uid, bob_dir.string(), O_RDONLY | O_DIRECTORY), 0);
  for (const auto& dir : {ana_dir, bob_dir}) {
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      EXPECT_EQ(entry.path().filename().string().find("password"), std::string::npos)
          << entry.path();
    }
  }
  // Not dumpable: not even a process of its own uid reads its environment or memory.
  EXPECT_EQ(OpenAs(ana_uid, "/proc/" + bob_pid + "/environ", O_RDONLY), EACCES);
  EXPECT_EQ(OpenAs(bob_uid, "/proc/" + bob_pid + "/environ", O_RDONLY), EACCES);
  EXPECT_EQ(OpenAs(bob_uid, "/proc/" + bob_pid + "/mem", O_RDONLY), EACCES);

  // The admin API, and crmctl slices list behind it, report what each slice actually has.
  std::string admin = Admin();
  auto [code, table] = RunCommand({CRM_CRMCTL_BINARY, "slices", "--url", crmd_->url(), "list"},
                                  {{"CRM_ADMIN_TOKEN", admin}, {"NO_COLOR", "1"}}, "");
  EXPECT_EQ(code, 0) << table;
  EXPECT_NE(table.find("uid " + std::to_string(bob_uid) + ", not dumpable, secret via fd"),
            std::string::npos)
      << table;
  auto slices = Fetch("GET", Url("/admin/slices"), {}, {"Cookie: crm_session=" + admin});
  ASSERT_EQ(slices.status, 200) << slices.body;
  int seen = 0;
  json doc = slices.Json();
  for (const auto& s : doc["items"]) {
    if (s["id"] == bob.slice) {
      ++seen;
      EXPECT_EQ(s["isolation"]["uid"], bob_uid) << s.dump();
      EXPECT_EQ(s["isolation"]["own_uid"], true);
      EXPECT_EQ(s["isolation"]["dumpable"], false);
      EXPECT_EQ(s["isolation"]["secret_via_fd"], true);
    }
  }
  EXPECT_EQ(seen, 1) << slices.body;
}

TEST_F(SliceProcessTest, WithoutAUidRangeSlicesShareCrmdsUidAndSaySo) {
  Tenant ana = Register("ana@example.com");
  EXPECT_EQ(Ids(SlicePid(ana.slice)).first, static_cast<long>(::getuid()));
  EXPECT_NE(crmd_->Log().find("slices run as crmd's own uid"), std::string::npos);
  auto slices = Fetch("GET", Url("/admin/slices"), {}, {"Cookie: crm_session=" + Admin()});
  ASSERT_EQ(slices.status, 200) << slices.body;
  int seen = 0;
  json doc = slices.Json();
  for (const auto& s : doc["items"]) {
    if (s["id"] == ana.slice) {
      ++seen;
      EXPECT_EQ(s["isolation"]["own_uid"], false) << s.dump();
      EXPECT_EQ(s["isolation"]["secret_via_fd"], true) << s.dump();
    }
  }
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace crm::testing
