#include "crm/apply/diff.hpp"

#include <gtest/gtest.h>

#include "crm/render/render.hpp"

namespace crm::apply {
namespace {

DesiredHost Host(const std::string& env) {
  DesiredHost host;
  host.name = "local";
  host.files = {{"config/crmd.env", env, 0600}, {"config/postgresql.conf", "port = 5432\n", 0644}};
  DesiredService crmd;
  crmd.name = "crmd";
  crmd.inputs = {{"config/crmd.env", render::Sha256Hex(env)}, {"binary", "b1"}};
  DesiredService pg;
  pg.name = "postgres";
  pg.inputs = {{"config/postgresql.conf", render::Sha256Hex("port = 5432\n")}};
  host.services = {pg, crmd};
  return host;
}

// The state an apply of `host` records.
DeploymentState Recorded(const DesiredHost& host) {
  DeploymentState state;
  state.target = "local";
  HostState& h = state.hosts[host.name];
  for (const DesiredFile& f : host.files) {
    h.files[f.path] = {render::Sha256Hex(f.content), f.mode, "0.1.0"};
  }
  for (const DesiredService& s : host.services) {
    h.services[s.name] = {s.inputs, "0.1.0"};
  }
  return state;
}

TEST(DiffTest, EverythingIsAddedOnAFreshDeployment) {
  const PlanDiff diff = Diff({Host("A=1\n")}, {}, {});
  EXPECT_EQ(diff.Count(ChangeKind::kAdd), 4);
  EXPECT_EQ(diff.Count(ChangeKind::kChange), 0);
  const Change* crmd = diff.Find("local", true, "crmd");
  ASSERT_NE(crmd, nullptr);
  EXPECT_EQ(crmd->action, ServiceAction::kStart);
  EXPECT_EQ(diff.Find("local", false, "config/crmd.env")->summary, "(1 lines, mode 0600)");
}

TEST(DiffTest, SameDesiredAndRecordedStateHasNoChanges) {
  const DesiredHost host = Host("A=1\n");
  std::map<std::string, ObservedHost> observed;
  observed["local"].files["config/crmd.env"] = "A=1\n";
  observed["local"].running = {{"crmd", true}, {"postgres", true}};
  EXPECT_TRUE(Diff({host}, Recorded(host), observed).Empty());
}

TEST(DiffTest, AChangedFileRestartsOnlyTheServiceThatReadsIt) {
  const DesiredHost before = Host("A=1\nB=2\n");
  const DesiredHost after = Host("A=1\nB=3\n");
  std::map<std::string, ObservedHost> observed;
  observed["local"].files["config/crmd.env"] = "A=1\nB=2\n";
  const PlanDiff diff = Diff({after}, Recorded(before), observed);
  ASSERT_EQ(diff.changes.size(), 2U);
  const Change* file = diff.Find("local", false, "config/crmd.env");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->kind, ChangeKind::kChange);
  EXPECT_EQ(file->summary, "(+1 -1 lines)");
  EXPECT_EQ(file->details, (std::vector<std::string>{"- B=2", "+ B=3"}));
  const Change* crmd = diff.Find("local", true, "crmd");
  ASSERT_NE(crmd, nullptr);
  EXPECT_EQ(crmd->action, ServiceAction::kRestart);
  EXPECT_EQ(crmd->summary, "restart: config/crmd.env changed");
  EXPECT_EQ(diff.Find("local", true, "postgres"), nullptr);
}

TEST(DiffTest, AReloadInputOnlyReloads) {
  DesiredHost before = Host("A=1\n");
  before.files.push_back({"config/pg_hba.conf", "local all all peer\n", 0644});
  before.services[0].inputs["config/pg_hba.conf"] = render::Sha256Hex("local all all peer\n");
  before.services[0].reload_inputs = {"config/pg_hba.conf"};
  DesiredHost after = before;
  after.files.back().content = "local all all trust\n";
  after.services[0].inputs["config/pg_hba.conf"] = render::Sha256Hex("local all all trust\n");
  const PlanDiff diff = Diff({after}, Recorded(before), {});
  const Change* pg = diff.Find("local", true, "postgres");
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(pg->action, ServiceAction::kReload);
}

TEST(DiffTest, AStoppedServiceIsStartedWithTheReason) {
  const DesiredHost host = Host("A=1\n");
  std::map<std::string, ObservedHost> observed;
  observed["local"].running = {{"crmd", false}};
  observed["local"].why_not_running = {{"crmd", "pid 42 is gone"}};
  const PlanDiff diff = Diff({host}, Recorded(host), observed);
  ASSERT_EQ(diff.changes.size(), 1U);
  EXPECT_EQ(diff.changes[0].action, ServiceAction::kStart);
  EXPECT_EQ(diff.changes[0].summary, "start: not running (pid 42 is gone)");
}

TEST(DiffTest, AFileEditedOnTheHostIsRestored) {
  const DesiredHost host = Host("A=1\n");
  std::map<std::string, ObservedHost> observed;
  observed["local"].files["config/crmd.env"] = "A=9\n";
  const PlanDiff diff = Diff({host}, Recorded(host), observed);
  ASSERT_EQ(diff.changes.size(), 1U);
  EXPECT_NE(diff.changes[0].summary.find("edited on the host"), std::string::npos);
  // The service was started with the desired content: no restart.
  EXPECT_EQ(diff.Find("local", true, "crmd"), nullptr);
}

TEST(DiffTest, AMissingFileIsAddedAgain) {
  const DesiredHost host = Host("A=1\n");
  std::map<std::string, ObservedHost> observed;
  observed["local"].files["config/crmd.env"] = std::nullopt;
  const PlanDiff diff = Diff({host}, Recorded(host), observed);
  ASSERT_EQ(diff.changes.size(), 1U);
  EXPECT_EQ(diff.changes[0].kind, ChangeKind::kAdd);
}

TEST(DiffTest, FilesAndServicesNoLongerDesiredAreRemoved) {
  DesiredHost host = Host("A=1\n");
  DeploymentState recorded = Recorded(host);
  recorded.hosts["local"].files["old.conf"] = {"abc", 0644, "0.1.0"};
  recorded.hosts["gone"].services["crmd"] = {};
  const PlanDiff diff = Diff({host}, recorded, {});
  EXPECT_EQ(diff.Count(ChangeKind::kRemove), 2);
  EXPECT_EQ(diff.Find("gone", true, "crmd")->action, ServiceAction::kStop);
  const std::string text = FormatDiff(diff, false);
  EXPECT_NE(text.find("host gone:"), std::string::npos);
  EXPECT_NE(text.find("- old.conf"), std::string::npos);
  EXPECT_NE(text.find("Plan: 0 to add, 0 to change, 2 to remove."), std::string::npos);
}

TEST(DiffTest, ALongFileDiffIsCut) {
  const DesiredHost before = Host("A=1\n");
  std::string many;
  for (int i = 0; i < 30; ++i) {
    many += "K" + std::to_string(i) + "=1\n";
  }
  const DesiredHost after = Host(many);
  std::map<std::string, ObservedHost> observed;
  observed["local"].files["config/crmd.env"] = "A=1\n";
  const std::string text = FormatDiff(Diff({after}, Recorded(before), observed), false, 5);
  EXPECT_NE(text.find("... 26 more line(s)"), std::string::npos);
}

TEST(DiffLinesTest, KeepsOrderAndCommonLines) {
  const LineChanges c = DiffLines("a\nb\nc\nd\n", "a\nx\nc\nd\ny\n");
  EXPECT_EQ(c.removed, (std::vector<std::string>{"b"}));
  EXPECT_EQ(c.added, (std::vector<std::string>{"x", "y"}));
}

TEST(RedactLineTest, HidesSecretValuesButNotSecretFilePaths) {
  EXPECT_EQ(RedactLine("CRM_DATABASE_PASSWORD=hunter2"), "CRM_DATABASE_PASSWORD=(redacted)");
  EXPECT_EQ(RedactLine("stripe_secret = sk_live"), "stripe_secret =(redacted)");
  EXPECT_EQ(RedactLine("CRM_STRIPE_SECRET_KEY_FILE=/etc/x"), "CRM_STRIPE_SECRET_KEY_FILE=/etc/x");
  EXPECT_EQ(RedactLine("DB_MAX_OPEN_CONNS=25"), "DB_MAX_OPEN_CONNS=25");
}

}  // namespace
}  // namespace crm::apply
