// The attacks that held when the runtime was last attacked on loopback, kept as regressions:
// a session dies with its logout, path tricks stay inside the web root, forged or another
// tenant's ids get 404. Each hardening fix adds its reproduction beside these (docs/security.md).
#include "../integration/runtime_fixture.hpp"

namespace crm::testing {
namespace {

using HeldTest = RuntimeTest;

TEST_F(HeldTest, ALoggedOutOrForgedSessionIsRefusedEverywhere) {
  Tenant ana = Register("ana@example.com");
  ASSERT_EQ(Fetch("GET", Url("/api/contacts"), {}, ana.Auth()).status, 200);
  ASSERT_EQ(Fetch("POST", Url("/auth/logout"), {}, ana.Auth()).status, 204);
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, ana.Auth()).status, 401);
  EXPECT_EQ(Fetch("GET", Url("/auth/me"), {}, ana.Auth()).status, 401);
  // A token of the right shape that was never issued.
  std::string forged(ana.token.size(), 'a');
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, {"Cookie: crm_session=" + forged}).status, 401);
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, {"Cookie: crm_session="}).status, 401);
}

TEST_F(HeldTest, PathTricksNeverLeaveTheWebRootOrReachAnotherTenant) {
  Tenant ana = Register("ana@example.com");
  Tenant eve = Register("eve@example.com");
  long long id = CreateContact(ana, "Ana's client", "+14155550101");
  for (const std::string path :
       {"/app/../../../../etc/passwd", "/assets/..%2f..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/etc/passwd", "/app/%00", "/assets/%2e%2e%5c%2e%2e%5cetc%5cpasswd"}) {
    auto r = Fetch("GET", Url(path), {}, eve.Auth());
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << path;
    EXPECT_TRUE(r.status == 200 || r.status == 400 || r.status == 404) << path << " " << r.status;
  }
  // Another tenant's contact id, plain or smuggled through a dot segment: not found.
  std::string own = "/api/contacts/" + std::to_string(id);
  EXPECT_EQ(Fetch("GET", Url(own), {}, eve.Auth()).status, 404);
  long smuggled =
      Fetch("GET", Url("/api/contacts/0/../" + std::to_string(id)), {}, eve.Auth()).status;
  EXPECT_TRUE(smuggled == 400 || smuggled == 404) << smuggled;
  EXPECT_EQ(Fetch("GET", Url(own), {}, ana.Auth()).status, 200);
}

}  // namespace
}  // namespace crm::testing
