// The settings of slice processes: their uid range, their health probe, the password descriptor,
// the orchestrator's word that a start is its provisioning's.
#include "crm/config/config.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "crm/error.hpp"
#include "env_lookup.hpp"

namespace crm::config {
namespace {

TEST(SliceProcessKeysTest, UidRangeIsOffByDefaultAndParsedWhenGiven) {
  auto off = LoadConfig(std::nullopt, Env({}));
  EXPECT_EQ(off.slice_uid_first, 0U);
  auto on = LoadConfig(std::nullopt, Env({{"CRM_SLICE_UID_RANGE", "200000-265535"}}));
  EXPECT_EQ(on.slice_uid_first, 200000U);
  EXPECT_EQ(on.slice_uid_last, 265535U);
  for (const char* bad : {"0-100", "265535-200000", "200000", "-5", "200000-x"}) {
    EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_SLICE_UID_RANGE", bad}})), InputError) << bad;
  }
}

TEST(SliceProcessKeysTest, HealthIntervalIsAtLeastASecond) {
  EXPECT_EQ(LoadConfig(std::nullopt, Env({})).slice_health_interval, std::chrono::seconds(5));
  EXPECT_EQ(
      LoadConfig(std::nullopt, Env({{"CRM_SLICE_HEALTH_INTERVAL", "2s"}})).slice_health_interval,
      std::chrono::seconds(2));
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_SLICE_HEALTH_INTERVAL", "10ms"}})), InputError);
}

TEST(SliceProcessKeysTest, StorageIntervalIsAMinuteByDefaultAndAtLeastASecond) {
  EXPECT_EQ(LoadConfig(std::nullopt, Env({})).slice_storage_interval, std::chrono::minutes(1));
  EXPECT_EQ(
      LoadConfig(std::nullopt, Env({{"CRM_SLICE_STORAGE_INTERVAL", "5m"}})).slice_storage_interval,
      std::chrono::minutes(5));
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_SLICE_STORAGE_INTERVAL", "500ms"}})),
               InputError);
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_SLICE_STORAGE_INTERVAL", "soon"}})), InputError);
}

TEST(SliceProcessKeysTest, ThePasswordDescriptorIsReadOnceAndClosed) {
  int fd = ::memfd_create("test-password", 0);
  ASSERT_GE(fd, 3);
  ASSERT_EQ(::write(fd, "s3cret\n", 7), 7);
  auto config = LoadConfig(std::nullopt, Env({{"CRM_DATABASE_PASSWORD_FD", std::to_string(fd)}}));
  EXPECT_EQ(config.database_password, "s3cret");
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the descriptor was left open";
  // Not a descriptor crmd was given: refused, never read from something else.
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_DATABASE_PASSWORD_FD", "1"}})), InputError);
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_DATABASE_PASSWORD_FD", std::to_string(fd)}})),
               InputError);
}

TEST(SliceProcessKeysTest, FreshIsTheOrchestratorsWordPerStartNeverAConfigurationFilesSetting) {
  EXPECT_FALSE(LoadConfig(std::nullopt, Env({})).slice_fresh);
  EXPECT_TRUE(LoadConfig(std::nullopt, Env({{"CRM_SLICE_FRESH", "1"}})).slice_fresh);
  EXPECT_FALSE(LoadConfig(std::nullopt, Env({{"CRM_SLICE_FRESH", "0"}})).slice_fresh);
  EXPECT_THROW(LoadConfig(std::nullopt, Env({{"CRM_SLICE_FRESH", "maybe"}})), InputError);
  // In a file it would make every start skip the schema check: refused, naming the key.
  auto path = std::filesystem::temp_directory_path() / ("crmd-fresh-" + std::to_string(::getpid()));
  std::ofstream(path) << "slice_fresh: 1\n";
  try {
    LoadConfig(path, Env({}));
    ADD_FAILURE() << "slice_fresh was accepted from a configuration file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("slice_fresh"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace crm::config
