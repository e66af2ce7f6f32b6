#include "crm/config/reload.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <fstream>

#include "crm/error.hpp"

namespace crm::config {
namespace {

namespace fs = std::filesystem;

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("crm-reload-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    env_file_ = dir_ / "crmd.env";
  }
  void TearDown() override {
    fs::remove_all(dir_);
    spdlog::set_level(spdlog::level::info);
  }
  void Write(const std::string& text) { std::ofstream(env_file_) << text; }

  fs::path dir_;
  fs::path env_file_;
};

TEST_F(ReloadTest, ReadsSystemdEnvironmentFileSyntax) {
  Write("# comment\n; another\n\nCRM_LOG_LEVEL=debug\nexport CRM_LISTEN = \"unix:/x y\"\nA='1'\n");
  auto vars = ReadEnvFile(env_file_);
  EXPECT_EQ(vars.at("CRM_LOG_LEVEL"), "debug");
  EXPECT_EQ(vars.at("CRM_LISTEN"), "unix:/x y");
  EXPECT_EQ(vars.at("A"), "1");
  Write("CRM_LOG_LEVEL=debug\nnot a setting\n");
  try {
    ReadEnvFile(env_file_);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("crmd.env:2: expected KEY=VALUE"), std::string::npos)
        << e.what();
  }
}

TEST_F(ReloadTest, AppliesTheLogLevelAndNamesWhatNeedsARestart) {
  Write("CRM_LOG_LEVEL=info\nCRM_WARM_SLICES=1\nCRM_DATABASE_PASSWORD=old\n");
  Reloader reloader(std::nullopt, env_file_);
  Write("CRM_LOG_LEVEL=debug\nCRM_WARM_SLICES=3\nCRM_DATABASE_PASSWORD=new\n");
  auto outcome = reloader.Reload();
  ASSERT_EQ(outcome.applied.size(), 1U);
  EXPECT_EQ(outcome.applied[0], "log_level: info -> debug");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  ASSERT_EQ(outcome.need_restart.size(), 2U);
  EXPECT_EQ(outcome.need_restart[0], "database_password (changed)");  // never its value
  EXPECT_EQ(outcome.need_restart[1], "warm_slices: 1 -> 3");
  // Still not running with it: named again; the log level is current now.
  auto again = reloader.Reload();
  EXPECT_TRUE(again.applied.empty());
  EXPECT_EQ(again.need_restart.size(), 2U);
}

TEST_F(ReloadTest, AnInvalidFileChangesNothing) {
  Write("CRM_LOG_LEVEL=warn\n");
  Reloader reloader(std::nullopt, env_file_);
  spdlog::set_level(spdlog::level::warn);
  Write("CRM_LOG_LEVEL=loud\n");
  EXPECT_THROW(reloader.Reload(), InputError);
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
}

}  // namespace
}  // namespace crm::config
