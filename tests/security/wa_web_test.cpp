// The wa-web sidecar (docs/wa-web.md) as an attacker or a victim: it runs third-party JavaScript
// (a WhatsApp Web client) beside the slice, so it gets none of the slice's secrets or
// descriptors, its socket and auth state are the slice's alone, and nothing it writes on the
// socket crashes the slice or reaches the database unchecked.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "../integration/runtime_fixture.hpp"

namespace crm::testing {
namespace {

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The socket inodes among a process's descriptors ("socket:[123]").
std::set<std::string> Sockets(const std::string& pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator("/proc/" + pid + "/fd", ec)) {
    std::string target = fs::read_symlink(fd.path(), ec).string();
    if (target.rfind("socket:", 0) == 0) {
      out.insert(target);
    }
  }
  return out;
}

class WaWebSecurityTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_CHANNEL"] = "wa-web";
    env["CRM_WA_WEB_SIDECAR"] = CRM_FAKE_WA_SIDECAR;
  }

  fs::path Dir(const Tenant& t) const { return data_ / "slices" / std::to_string(t.slice); }

  json Channel(const Tenant& t) {
    auto r = Fetch("GET", Url("/api/channel"), {}, t.Auth());
    json body = r.Json();
    return r.status == 200 && body.is_object() ? body : json{{"http_status", r.status}};
  }

  void Control(const Tenant& t, const json& command) {
    fs::path dir = Dir(t) / "wa-web-auth" / "control";
    Channel(t);  // the connect page asks for the session: the sidecar starts (on demand)
    ASSERT_TRUE(Eventually([&] { return fs::exists(dir); }));
    fs::path name = dir / (std::to_string(++commands_ + 100000) + ".json");
    std::ofstream(dir / "tmp") << command.dump();
    fs::rename(dir / "tmp", name);
    ASSERT_TRUE(Eventually([&] { return !fs::exists(name); }));
  }

  int commands_ = 0;
};

TEST_F(WaWebSecurityTest, TheSidecarGetsNoSecretNoDescriptorOfTheSliceAndPrivateFiles) {
  Tenant t = Register("sidecar-env@example.com");
  ASSERT_TRUE(Eventually([&] { return Channel(t).value("state", "") == "unpaired"; }));
  // The tenant's view of the channel names no process of the host's; the pid file does.
  EXPECT_FALSE(Channel(t).contains("pid")) << Channel(t);
  long long sidecar_pid = 0;
  std::ifstream(Dir(t) / "wa-web.pid") >> sidecar_pid;
  ASSERT_GT(sidecar_pid, 0);
  std::string sidecar = std::to_string(sidecar_pid);
  std::string slice = SlicePid(t.slice);
  ASSERT_FALSE(slice.empty());

  // Its environment: PATH, HOME, NODE_ENV; nothing of crmd's configuration or the database's.
  std::string environ = ReadAll("/proc/" + sidecar + "/environ");
  ASSERT_FALSE(environ.empty());
  EXPECT_EQ(environ.find("CRM_"), std::string::npos) << environ;
  EXPECT_EQ(environ.find("PASSWORD"), std::string::npos);
  // No socket of the slice's (its database connections, its HTTP listener) crossed the spawn.
  std::set<std::string> slice_sockets = Sockets(slice);
  std::set<std::string> sidecar_sockets = Sockets(sidecar);
  ASSERT_FALSE(slice_sockets.empty());
  for (const auto& s : sidecar_sockets) {
    EXPECT_EQ(slice_sockets.count(s), 0u) << s << " is the slice's";
  }
  // The session's keys and the socket that can send as the tenant: the slice's uid alone.
  struct stat st {};
  ASSERT_EQ(::stat((Dir(t) / "wa-web-auth").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((Dir(t) / "wa-web.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST_F(WaWebSecurityTest, HostileSidecarLinesNeitherCrashTheSliceNorReachTheInbox) {
  Tenant t = Register("sidecar-lines@example.com");
  ASSERT_TRUE(Eventually([&] { return Channel(t).value("state", "") == "unpaired"; }));
  Control(t, {{"cmd", "scan"}, {"phone", "+4915100000001"}});
  ASSERT_TRUE(Eventually([&] { return Channel(t).value("state", "") == "connected"; }));
  std::string slice = SlicePid(t.slice);

  // A number that is not one, as an inbound sender: dropped, not stored, not an SQL string.
  Control(
      t,
      {{"cmd", "inbound"}, {"from", "'); DROP TABLE contacts; --"}, {"name", "x"}, {"text", "hi"}});
  // Malformed JSON, a line past 1 MiB, an event of the wrong shape: the connection is dropped
  // and made again; the slice process lives on.
  Control(t, {{"cmd", "bad_event"}});
  Control(t, {{"cmd", "garbage"}});
  ASSERT_TRUE(Eventually([&] { return Channel(t).value("state", "") == "connected"; }));
  Control(t, {{"cmd", "oversized"}});
  ASSERT_TRUE(Eventually([&] { return Channel(t).value("state", "") == "connected"; }));
  // A well-formed message after all that still lands: the channel works.
  Control(t, {{"cmd", "inbound"}, {"from", "+4915199999999"}, {"name", "Ana"}, {"text", "ok"}});
  ASSERT_TRUE(Eventually([&] {
    return ContactNames(crmd_->url(), "Cookie: crm_session=" + t.token).count("Ana") == 1;
  }));
  EXPECT_EQ(SlicePid(t.slice), slice) << "the slice process restarted";
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT count(*) FROM slice_" + std::to_string(t.slice) + ".contacts"),
            "1");
}

}  // namespace
}  // namespace crm::testing
