#include "crm/monitor/backup_catalog.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "crm/error.hpp"

namespace crm::monitor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// pgBackRest 2.45's `--output=json info` of one stanza with a full and an incremental backup,
// trimmed to what is read.
const char* kTwoBackups = R"([{"name":"crm","cipher":"aes-256-cbc",
  "backup":[
    {"label":"20261130-084512F","type":"full","timestamp":{"start":1764492312,"stop":1764492315}},
    {"label":"20261130-084512F_20261130-090000I","type":"incr",
     "timestamp":{"start":1764493200,"stop":1764493204}}],
  "repo":[{"cipher":"aes-256-cbc","key":1,"status":{"code":0,"message":"ok"}}],
  "status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}])";

TEST(NewestBackupInTest, IsTheLatestStopTimeOfTheStanza) {
  const auto newest = NewestBackupIn(kTwoBackups, "crm");
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->time_since_epoch(), std::chrono::seconds(1764493204));
}

TEST(NewestBackupInTest, IsNothingWhenTheStanzaHasNoBackupYet) {
  const char* none = R"([{"name":"crm","backup":[],
    "status":{"code":2,"message":"no valid backups"}}])";
  EXPECT_FALSE(NewestBackupIn(none, "crm"));
}

TEST(NewestBackupInTest, ThrowsWithPgBackRestsReasonWhenTheRepositoryCannotBeRead) {
  const char* other = R"([{"name":"crm","backup":[],
    "repo":[{"key":1,"status":{"code":99,"message":"[CryptoError] cipher header invalid"}}],
    "status":{"code":99,"message":"other"}}])";
  try {
    NewestBackupIn(other, "crm");
    FAIL() << "no exception";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("status 99 (other; repo1: [CryptoError] cipher"),
              std::string::npos)
        << e.what();
  }
  const char* missing = R"([{"name":"crm","status":{"code":1,"message":"missing stanza path"}}])";
  EXPECT_THROW(NewestBackupIn(missing, "crm"), RuntimeError);
}

TEST(NewestBackupInTest, ThrowsOnAnotherStanzaOrOnText) {
  EXPECT_THROW(NewestBackupIn(kTwoBackups, "other"), RuntimeError);
  EXPECT_THROW(NewestBackupIn("ERROR: [055]: unable to load info file", "crm"), RuntimeError);
  EXPECT_THROW(NewestBackupIn("{}", "crm"), RuntimeError);
}

// A stand-in pgbackrest on PATH, so the process handling (time limit, exit code, arguments) is
// tested without a repository.
class PgBackRestCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/crm-pgbackrest-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const char* path = ::getenv("PATH");
    old_path_ = path != nullptr ? path : "";
    ::setenv("PATH", (dir_.string() + ":" + old_path_).c_str(), 1);
  }
  void TearDown() override {
    ::setenv("PATH", old_path_.c_str(), 1);
    fs::remove_all(dir_);
  }
  void FakePgBackRest(const std::string& body) {
    const fs::path script = dir_ / "pgbackrest";
    std::ofstream(script) << "#!/bin/sh\n" << body << "\n";
    ::chmod(script.c_str(), 0755);
  }

  fs::path dir_;
  std::string old_path_;
};

TEST_F(PgBackRestCatalogTest, PassesTheStanzaAndConfigAndReadsTheJson) {
  FakePgBackRest("echo \"$@\" > " + (dir_ / "args").string() + "\ncat <<'EOF'\n" + kTwoBackups +
                 "\nEOF");
  PgBackRestCatalog catalog("crm", "/srv/repo/pgbackrest.conf", 10s);
  const auto newest = catalog.NewestBackup();
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->time_since_epoch(), std::chrono::seconds(1764493204));
  std::ifstream in(dir_ / "args");
  std::string args((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(args.find("--config=/srv/repo/pgbackrest.conf --stanza=crm --output=json"),
            std::string::npos)
      << args;
  EXPECT_NE(args.find(" info"), std::string::npos) << args;
}

TEST_F(PgBackRestCatalogTest, AFailureQuotesItsOutput) {
  FakePgBackRest("echo 'ERROR: [041]: unable to open file' >&2\nexit 41");
  PgBackRestCatalog catalog("crm", "", 10s);
  try {
    catalog.NewestBackup();
    FAIL() << "no exception";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("exited 41: ERROR: [041]: unable to open file"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(PgBackRestCatalogTest, AHungRepositoryIsGivenUpAfterTheTimeLimit) {
  FakePgBackRest("exec sleep 30");
  PgBackRestCatalog catalog("crm", "", 1s);
  const auto started = std::chrono::steady_clock::now();
  try {
    catalog.NewestBackup();
    FAIL() << "no exception";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("did not answer within 1 s"), std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

}  // namespace
}  // namespace crm::monitor
