// A host restored from the database alone (docs/operations.md, "Backups (rendered targets)": the
// renderings back up no slice directory): crmd on an empty data directory brings every tenant
// back with its contacts, channel state and sessions.
#include <gtest/gtest.h>

#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

class RestoredHostTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SIMULATOR_AUTOPAIR"] = "1";
  }
};

TEST_F(RestoredHostTest, TenantsComeBackFromTheDatabaseWithAnEmptyDataDirectory) {
  Tenant ana = Register("ana@example.com");
  ASSERT_GT(ana.slice, 0);
  CreateContact(ana, "Ana Lima", "+351910000001");
  ASSERT_TRUE(Eventually([&] {
    return Fetch("GET", Url("/api/status"), {}, ana.Auth()).Json()["channel"]["state"] ==
           "connected";
  }));
  const json before = Fetch("GET", Url("/api/status"), {}, ana.Auth()).Json()["channel"];
  ASSERT_TRUE(fs::exists(data_ / "slices" / std::to_string(ana.slice)));

  // The host's disk is lost; the database (restored from the bucket) is all there is.
  ASSERT_EQ(crmd_->Stop(), 0) << crmd_->Log();
  fs::remove_all(data_);
  crmd_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, env_, pg_->dir() / "crmd2.log");

  HttpResult contacts;
  ASSERT_TRUE(Eventually([&] {
    contacts = Fetch("GET", Url("/api/contacts"), {}, ana.Auth());
    return contacts.status == 200;
  })) << contacts.status
      << " " << contacts.body << "\n"
      << crmd_->Log();
  ASSERT_EQ(contacts.Json()["items"].size(), 1U) << contacts.body;
  EXPECT_EQ(contacts.Json()["items"][0]["name"], "Ana Lima");
  EXPECT_EQ(Fetch("GET", Url("/api/status"), {}, ana.Auth()).Json()["channel"], before);
  EXPECT_TRUE(fs::exists(data_ / "slices" / std::to_string(ana.slice) / "files"));
  // And it keeps writing.
  CreateContact(ana, "Rui Costa", "+351910000002");
}

}  // namespace
}  // namespace crm::testing
