#include "crm/apply/state.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "crm/apply/approval.hpp"
#include "crm/apply/config_text.hpp"
#include "crm/apply/lock.hpp"
#include "crm/error.hpp"

namespace crm::apply {
namespace {

namespace fs = std::filesystem;

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/crm-apply-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  fs::path dir_;
};

using StateTest = TempDir;
using LockTest = TempDir;

TEST_F(StateTest, RoundTripsThroughTheFileWithMode0600) {
  DeploymentState state;
  state.target = "local";
  state.settings["http_port"] = "8080";
  state.hosts["local"].files["config/crmd.env"] = {"ab12", 0600, "0.1.0"};
  state.hosts["local"].services["crmd"] = {{{"binary", "ff"}}, "0.1.0"};
  const fs::path path = dir_ / "state.json";
  SaveState(path, state);
  EXPECT_EQ(LoadState(path), state);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
}

TEST_F(StateTest, AMissingFileIsAnEmptyState) {
  EXPECT_EQ(LoadState(dir_ / "nope.json"), DeploymentState{});
}

TEST_F(StateTest, ACorruptFileIsAnInputErrorNamingIt) {
  Write(dir_ / "state.json", "{\"format\": 1, \"target\": ");
  try {
    LoadState(dir_ / "state.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("state.json: not valid JSON"), std::string::npos);
  }
  Write(
      dir_ / "state.json",
      R"({"format": 1, "target": "local", "hosts": {"h": {"files": {"a": {"sha256": "x", "mode": "9z", "version": "1"}}}}})");
  EXPECT_THROW(LoadState(dir_ / "state.json"), InputError);
  Write(dir_ / "state.json", R"({"format": 7, "target": "local"})");
  EXPECT_THROW(LoadState(dir_ / "state.json"), InputError);
}

TEST_F(LockTest, ASecondLockIsRefusedWhileTheFirstIsHeld) {
  ApplyLock first = ApplyLock::Acquire(dir_ / "lock");
  EXPECT_FALSE(first.stale_pid());
  try {
    ApplyLock::Acquire(dir_ / "lock");
    FAIL() << "second lock granted";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(::getpid())), std::string::npos);
  }
  first.Release();
  EXPECT_FALSE(fs::exists(dir_ / "lock"));
  ApplyLock again = ApplyLock::Acquire(dir_ / "lock");
}

TEST_F(LockTest, TheLockOfADeadProcessIsTakenOverAndReported) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);  // reaped: the pid names no process now
  Write(dir_ / "lock", std::to_string(child) + "\n");
  ApplyLock lock = ApplyLock::Acquire(dir_ / "lock");
  ASSERT_TRUE(lock.stale_pid());
  EXPECT_EQ(*lock.stale_pid(), child);
  std::ifstream in(dir_ / "lock");
  pid_t owner = 0;
  in >> owner;
  EXPECT_EQ(owner, ::getpid());
}

TEST(ApprovalTest, FollowsTheRules) {
  EXPECT_EQ(DecideApproval(false, false, false, false), Approval::kNothingToDo);
  EXPECT_EQ(DecideApproval(true, true, true, true), Approval::kDryRun);
  EXPECT_EQ(DecideApproval(true, false, true, false), Approval::kApproved);
  EXPECT_EQ(DecideApproval(true, false, false, true), Approval::kAsk);
  EXPECT_EQ(DecideApproval(true, false, false, false), Approval::kRefuse);
  EXPECT_TRUE(IsApproval("yes\n"));
  EXPECT_FALSE(IsApproval("y\n"));
  EXPECT_FALSE(IsApproval(nullptr));
}

TEST(ConfigTextTest, EditsEnvFilesAndPostgresqlConf) {
  const std::string env = "# c\nA=1\nB=two words\n";
  EXPECT_EQ(ParseEnvFile(env, "crmd.env"),
            (std::vector<std::pair<std::string, std::string>>{{"A", "1"}, {"B", "two words"}}));
  EXPECT_EQ(SetEnvValue(env, "A", "5"), "# c\nA=5\nB=two words\n");
  EXPECT_EQ(SetEnvValue(env, "C", "3"), "# c\nA=1\nB=two words\nC=3\n");
  EXPECT_EQ(RemoveEnvValue(env, "A"), "# c\nB=two words\n");
  try {
    ParseEnvFile("A=1\nnot a line\n", "crmd.env");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("crmd.env:2:"), std::string::npos);
  }
  EXPECT_THROW(ParseEnvFile("1A=2\n", "x"), InputError);
  const std::string conf = "port = 5432\nport_other = 1\n";
  EXPECT_EQ(SetConfValue(conf, "port", "6000"), "port = 6000\nport_other = 1\n");
  EXPECT_EQ(SetConfValue(conf, "hba_file", "'/x'"), conf + "hba_file = '/x'\n");
}

}  // namespace
}  // namespace crm::apply
