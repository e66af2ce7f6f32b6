#include "crm/files.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "crm/error.hpp"
#include "crm/ports.hpp"
#include "crm/process.hpp"

namespace crm {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("crm-files-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FilesTest, WriteFileAtomicCreatesParentsAndSetsTheMode) {
  const fs::path path = dir_ / "a" / "b" / "secret";
  WriteFileAtomic(path, "s3cret\n", 0600);
  EXPECT_EQ(ReadFile(path), "s3cret\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
  WriteFileAtomic(path, "new", 0600);
  EXPECT_EQ(ReadFile(path), "new");
}

TEST_F(FilesTest, ReadFileNamesAMissingFile) {
  try {
    ReadFile(dir_ / "missing");
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(ReadFileIfExists(dir_ / "missing").has_value());
}

TEST_F(FilesTest, ReadSecretFileRefusesAFileOthersCanRead) {
  WriteFileAtomic(dir_ / "open", "pw\n", 0644);
  try {
    ReadSecretFile(dir_ / "open", "database password");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("mode 0644"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("want 0600"), std::string::npos) << e.what();
  }
  WriteFileAtomic(dir_ / "closed", "pw\r\n", 0600);
  EXPECT_EQ(ReadSecretFile(dir_ / "closed", "database password"), "pw");
  EXPECT_THROW(ReadSecretFile(dir_ / "none", "database password"), InputError);
}

TEST_F(FilesTest, ReadPidFileTakesTheFirstLineOnly) {
  WriteFileAtomic(dir_ / "pg.pid", "4242\n/var/lib/pg\n");
  EXPECT_EQ(ReadPidFile(dir_ / "pg.pid"), 4242);
  WriteFileAtomic(dir_ / "empty.pid", "");
  EXPECT_FALSE(ReadPidFile(dir_ / "empty.pid").has_value());
  WriteFileAtomic(dir_ / "bad.pid", "-3\n");
  EXPECT_FALSE(ReadPidFile(dir_ / "bad.pid").has_value());
  EXPECT_FALSE(ReadPidFile(dir_ / "none.pid").has_value());
}

TEST(ProcessTest, OurOwnProcessExistsAndIsNoZombie) {
  EXPECT_TRUE(ProcessExists(::getpid()));
  EXPECT_FALSE(IsZombie(::getpid()));
  EXPECT_FALSE(ProcessExists(0));
  EXPECT_FALSE(ProcessExists(-1));
}

TEST(PortsTest, AFreePortIsFreeUntilSomeoneBindsIt) {
  const int port = FreeLoopbackPort();
  EXPECT_GT(port, 0);
  EXPECT_TRUE(LoopbackPortFree(port));
}

}  // namespace
}  // namespace crm
