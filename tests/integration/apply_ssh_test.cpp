// crmctl apply --target ssh against two real sshd instances (Debian's openssh-server) on loopback
// ports, with host and client keys generated here. The eleven hosts of tier 4 are spread over the
// two instances, each confined to its own directory tree; their install, restart and health
// commands (inventory overrides: apt-get and systemd cannot run in a test) leave a log per host.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "crm/testing/crmd_process.hpp"
#include "crm/testing/sshd.hpp"

namespace crm::testing {
namespace {

namespace fs = std::filesystem;

// Tier 4's hosts in the rendering's order (tiers/tier4.yaml: two queue stores, a PgBouncer host).
const std::vector<std::string> kHosts = {"lb",
                                         "app-1",
                                         "app-2",
                                         "slice-1",
                                         "slice-2",
                                         "postgres-primary",
                                         "postgres-replica",
                                         "queue-db-1",
                                         "queue-db-2",
                                         "pgbouncer",
                                         "monitoring"};

class ApplySshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kSshdBinary))
        << "openssh-server is not installed: run scripts/bootstrap";
    char tmpl[] = "/tmp/crm-ssh-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    client_key_ = root_ / "client_key";
    Sshd::Keygen(client_key_);
    fs::copy_file(client_key_.string() + ".pub", root_ / "authorized_keys");
    a_ = std::make_unique<Sshd>(root_, "a", root_ / "authorized_keys");
    b_ = std::make_unique<Sshd>(root_, "b", root_ / "authorized_keys");
    std::ofstream(root_ / "known_hosts") << a_->KnownHostsLine() << b_->KnownHostsLine();
    fs::create_directories(root_ / "tree-a");
    fs::create_directories(root_ / "tree-b");
    WriteInventory(60);
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    fs::remove_all(root_);
  }

  // Even hosts on sshd a (tree-a), odd ones on b (tree-b).
  std::string TreeOf(std::size_t i) const { return i % 2 == 0 ? "tree-a" : "tree-b"; }
  fs::path HostDir(const std::string& host) const {
    const auto i =
        static_cast<std::size_t>(std::find(kHosts.begin(), kHosts.end(), host) - kHosts.begin());
    return root_ / TreeOf(i) / host;
  }
  std::string Log(const std::string& host) const {
    return ReadText(HostDir(host).string() + ".log");
  }

  void WriteInventory(int health_timeout_s) {
    std::ofstream inv(root_ / "inventory.yaml");
    inv << "batch_size: 1\nhealth_timeout_s: " << health_timeout_s << "\nhosts:\n";
    for (std::size_t i = 0; i < kHosts.size(); ++i) {
      const int port = i % 2 == 0 ? a_->port() : b_->port();
      inv << "  - name: " << kHosts[i] << "\n    address: 127.0.0.1\n    port: " << port
          << "\n    user: " << User() << "\n    key: client_key\n    known_hosts: known_hosts\n"
          << "    dir: " << (root_ / TreeOf(i) / kHosts[i]).string()
          << "\n"
          // The real install.sh must at least parse; a .fail file next to the host makes it fail.
          << "    install: sh -n install.sh && echo install >> {dir}.log && test ! -e {dir}.fail\n"
          << "    restart: echo restart >> {dir}.log && touch {dir}.up\n"
          << "    health: test -e {dir}.up && test ! -e {dir}.sick\n";
    }
  }
  static std::string User() { return CurrentUser(); }

  std::pair<int, std::string> Apply(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {CRM_CRMCTL_BINARY, "apply",
                                     "--target",        "ssh",
                                     "--tier",          "4",
                                     "--inventory",     (root_ / "inventory.yaml").string(),
                                     "--dir",           (root_ / "state").string(),
                                     "--auto-approve"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCommand(args, {{"NO_COLOR", "1"}}, "");
  }

  fs::path root_;
  fs::path client_key_;
  std::unique_ptr<Sshd> a_;
  std::unique_ptr<Sshd> b_;
};

TEST_F(ApplySshTest, CopiesInstallsAndRestartsSliceHostsInBatches) {
  auto [code, out] = Apply();
  ASSERT_EQ(code, 0) << out;
  // Every host got exactly its rendered bundle, in its own tree only.
  auto [rcode, rout] = RunCommand({CRM_CRMCTL_BINARY, "render", "--tier", "4", "--target", "multi",
                                   "--out", (root_ / "rendered").string()},
                                  {}, "");
  ASSERT_EQ(rcode, 0) << rout;
  for (const std::string& host : kHosts) {
    for (const auto& entry : fs::recursive_directory_iterator(root_ / "rendered" / host)) {
      if (!entry.is_regular_file()) {
        continue;
      }
      const fs::path rel = fs::relative(entry.path(), root_ / "rendered" / host);
      const fs::path copied = HostDir(host) / rel;
      ASSERT_TRUE(fs::exists(copied)) << copied;
      EXPECT_EQ(ReadText(copied), ReadText(entry.path())) << copied;
      EXPECT_EQ(fs::status(copied).permissions(), fs::status(entry.path()).permissions()) << copied;
    }
    EXPECT_EQ(Occurrences(Log(host), "install"), 1) << host;
    EXPECT_EQ(Occurrences(Log(host), "restart"), 1) << host;
  }
  for (const auto& entry : fs::directory_iterator(root_ / "tree-a")) {
    const std::string name = entry.path().filename().string();
    const std::string host = name.substr(0, name.find('.'));
    const auto i = std::find(kHosts.begin(), kHosts.end(), host) - kHosts.begin();
    EXPECT_EQ(i % 2, 0) << name << " landed in host a's tree";
  }
  // Databases first; slice hosts one batch at a time, each checked before the next starts.
  const auto at = [&](const std::string& s) { return out.find(s); };
  EXPECT_LT(at("postgres-primary: install"), at("app-1: install")) << out;
  EXPECT_NE(at("slice batch 1/2 health (slice-1) ... ok"), std::string::npos) << out;
  EXPECT_LT(at("slice batch 1/2 health (slice-1)"), at("slice-2: install")) << out;
  EXPECT_NE(at("slice batch 2/2 health (slice-2) ... ok"), std::string::npos) << out;

  // Idempotent: nothing runs again.
  auto [code2, out2] = Apply({"--detailed-exitcode"});
  EXPECT_EQ(code2, 0) << out2;
  EXPECT_NE(out2.find("No changes."), std::string::npos) << out2;
  EXPECT_EQ(Occurrences(Log("slice-1"), "install"), 1);

  // A host whose service is down is restarted; the others are left alone.
  fs::remove(HostDir("app-2").string() + ".up");
  auto [code3, out3] = Apply({"--detailed-exitcode"});
  EXPECT_EQ(code3, 2) << out3;
  EXPECT_NE(out3.find("~ service crmd                       start: not running (health check "
                      "failed, exit 1)"),
            std::string::npos)
      << out3;
  EXPECT_EQ(Occurrences(Log("app-2"), "restart"), 2);
  EXPECT_EQ(Occurrences(Log("app-1"), "restart"), 1);

  // An unreachable host is named.
  b_->Stop();
  auto [code4, out4] = Apply();
  EXPECT_EQ(code4, 1) << out4;
  EXPECT_NE(out4.find("host app-1 (" + User() + "@127.0.0.1:" + std::to_string(b_->port()) +
                      ") is unreachable over ssh"),
            std::string::npos)
      << out4;
}

TEST_F(ApplySshTest, AHostThatFailsMidwayStopsTheApplyAndTheNextOneResumes) {
  std::ofstream(HostDir("app-2").string() + ".fail") << "";
  auto [code, out] = Apply();
  ASSERT_EQ(code, 1) << out;
  EXPECT_NE(out.find("host app-2: install failed (exit 1)"), std::string::npos) << out;
  EXPECT_NE(out.find("run apply again: it resumes with what is left"), std::string::npos) << out;
  // What ran before the failure is recorded; nothing after it ran.
  EXPECT_EQ(Occurrences(Log("app-1"), "install"), 1);
  EXPECT_FALSE(fs::exists(HostDir("slice-1"))) << "a host after the failed one was touched";
  const std::string state = ReadText(root_ / "state" / "state.json");
  EXPECT_NE(state.find("\"app-1\""), std::string::npos);

  fs::remove(HostDir("app-2").string() + ".fail");
  auto [code2, out2] = Apply();
  ASSERT_EQ(code2, 0) << out2;
  EXPECT_EQ(out2.find("app-1"), std::string::npos) << "app-1 was done already:\n" << out2;
  EXPECT_EQ(out2.find("app-2: copy"), std::string::npos) << "app-2's files were copied:\n" << out2;
  EXPECT_NE(out2.find("app-2: install"), std::string::npos) << out2;
  EXPECT_EQ(Occurrences(Log("app-1"), "install"), 1);
  EXPECT_EQ(Occurrences(Log("app-2"), "restart"), 1);
  EXPECT_EQ(Occurrences(Log("slice-2"), "restart"), 1);
}

TEST_F(ApplySshTest, AnUnhealthySliceBatchStopsTheRollingRestart) {
  WriteInventory(2);
  std::ofstream(HostDir("slice-1").string() + ".sick") << "";
  auto [code, out] = Apply();
  ASSERT_EQ(code, 1) << out;
  EXPECT_NE(out.find("host slice-1: the health check `test -e {dir}.up && test ! -e {dir}.sick` "
                     "still fails after 2 s"),
            std::string::npos)
      << out;
  EXPECT_EQ(Occurrences(Log("slice-1"), "restart"), 1);
  EXPECT_FALSE(fs::exists(HostDir("slice-2").string() + ".log")) << "slice-2 was restarted";
}

TEST_F(ApplySshTest, BadInventoriesAreNamed) {
  std::ofstream(root_ / "inventory.yaml") << "hosts:\n  - name: vps\n    address: 127.0.0.1\n";
  auto [code, out] = Apply();
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("inventory.yaml:2:5: host: missing field 'key'"), std::string::npos) << out;
  std::ofstream(root_ / "inventory.yaml")
      << "hosts:\n  - {name: vps, address: 127.0.0.1, key: client_key}\n";
  std::tie(code, out) = Apply();
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("no host named 'lb'"), std::string::npos) << out;
}

}  // namespace
}  // namespace crm::testing
