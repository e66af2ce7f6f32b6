// Reading `pgbackrest info` as a host answers it (deploy/apply/src/backup_host.cpp): over ssh the
// output comes with what the host's shell profile wrote to stderr before it.
#include "../../../deploy/apply/src/backup_host.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::apply::backup {
namespace {

// A host whose pgbackrest answers `output` (exit 0).
class AnsweringHost : public DatabaseHost {
 public:
  explicit AnsweringHost(std::string output) : output_(std::move(output)) {}
  tools::ToolResult PgBackRest(const std::vector<std::string>&, std::chrono::seconds) override {
    return {0, false, output_};
  }
  std::string LogHint() const override { return "the test"; }

 private:
  std::string output_;
};

const std::string kInfo =
    R"([{"backup":[{"label":"20261201-010101F","type":"full","timestamp":{"start":1,"stop":2},)"
    R"("info":{"size":10,"repository":{"delta":5}}}],"name":"crm"}])";

TEST(ReadBackupsTest, TheJsonIsFoundAfterWhatAShellProfileWroteBeforeIt) {
  AnsweringHost clean(kInfo + "\n");
  ASSERT_EQ(ReadBackups(clean).size(), 1u);
  AnsweringHost noisy(
      "rm: cannot remove '/root/.pyenv/shims/tmp.x': No such file or directory\n"
      "pyenv: cannot rehash: /root/.pyenv/shims isn't writable\n" +
      kInfo + "\n");
  auto backups = ReadBackups(noisy);
  ASSERT_EQ(backups.size(), 1u);
  EXPECT_EQ(backups[0].label, "20261201-010101F");
  EXPECT_EQ(backups[0].repo_bytes, 5u);
  AnsweringHost garbage("pyenv: cannot rehash\nnot json either\n");
  EXPECT_THROW(ReadBackups(garbage), RuntimeError);
}

}  // namespace
}  // namespace crm::apply::backup
