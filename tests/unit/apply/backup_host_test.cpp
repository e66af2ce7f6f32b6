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

// psql's answer to FindSlice comes with the same stderr; a CI run once took the profile's
// "pyenv: cannot rehash" line for the slice and failed on it with "internal error: stoll".
TEST(FindSliceTest, TheAnswerIsFoundAmongWhatTheHostsShellWroteAndNoiseIsNoAccount) {
  const std::string noise =
      "rm: cannot remove '/root/.pyenv/shims/tmp.x': No such file or directory\n"
      "pyenv: cannot rehash: /root/.pyenv/shims isn't writable\n";
  std::string asked;
  const auto answering = [&asked](std::string output) {
    return [&asked, output](const std::string& sql) {
      asked = sql;
      return output;
    };
  };
  const TenantSlice found = FindSlice(answering(noise + "slice 42 assigned\n"), "ana@example.com");
  EXPECT_EQ(found.id, 42);
  EXPECT_EQ(found.state, "assigned");
  EXPECT_EQ(found.Role(), "slice_42");
  EXPECT_NE(asked.find("lower('ana@example.com')"), std::string::npos) << asked;

  // Nothing but noise, an empty answer or lines that only look like one: no such account, said
  // as bad input naming the field, never an internal error.
  for (const std::string& output :
       {noise, std::string(), std::string("\n\n"), std::string("slice x assigned\n"),
        std::string("slice 7\n"), std::string("slice -3 assigned\n"),
        std::string("slice 99999999999999999999999 assigned\n"),
        std::string("slice 7 ASSIGNED; DROP\n"), std::string("42 assigned\n")}) {
    try {
      FindSlice(answering(output), "x'); DROP SCHEMA gateway; --@example.com");
      ADD_FAILURE() << "found a slice in: " << output;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--tenant: no account x'); DROP SCHEMA"),
                std::string::npos)
          << e.what();
    }
  }
  // The address reaches SQL only as a quoted literal.
  EXPECT_NE(asked.find("lower('x''); DROP SCHEMA gateway; --@example.com')"), std::string::npos)
      << asked;
}

}  // namespace
}  // namespace crm::apply::backup
