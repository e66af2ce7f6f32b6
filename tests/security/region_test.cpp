// The regions' lookup (POST /region/lookup) answers only a fresh call signed with the shared
// secret for this region: a forged, stale, re-targeted or unsigned one is refused before the
// database is asked; and a token naming another region is never looked up here.
#include "crm/gateway/region.hpp"
#include "../integration/runtime_fixture.hpp"

namespace crm::testing {
namespace {

const std::string kRegionSecret = "the regions' shared secret, 32+ characters";

class RegionLookupTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_REGION"] = "us";
    // The other region is never called in these tests: nothing listens on port 9.
    env["CRM_REGIONS"] = "us=http://127.0.0.1:9,eu=http://127.0.0.1:9";
    env["CRM_REGION_SECRET"] = kRegionSecret;
    env["CRM_REGION_PEER_TIMEOUT"] = "500ms";
  }

  // A lookup of `email` signed with `secret` for `region` at `ts` (unix seconds).
  HttpResult Lookup(const std::string& email, long long ts, const std::string& region = "us",
                    const std::string& secret = kRegionSecret) {
    std::string hash = gateway::EmailSha256(email);
    return Fetch("POST", Url("/region/lookup"), json{{"email_sha256", hash}, {"ts", ts}}.dump(),
                 {kJson, "X-Crm-Region-From: eu",
                  "X-Crm-Region-Signature: " + gateway::PeerSignature(secret, ts, region, hash)});
  }

  static long long Now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

TEST_F(RegionLookupTest, OnlyAFreshCallSignedForThisRegionIsAnswered) {
  Register("ana@example.com");
  HttpResult valid = Lookup("ana@example.com", Now());
  ASSERT_EQ(valid.status, 200) << valid.body;
  EXPECT_EQ(valid.Json(), (json{{"region", "us"}, {"holds", true}}));
  EXPECT_EQ(Lookup("bob@example.com", Now()).Json().value("holds", true), false);

  EXPECT_EQ(Lookup("ana@example.com", Now(), "us", "a guessed secret of 32+ characters!").status,
            401)
      << "forged with another secret";
  EXPECT_EQ(Lookup("ana@example.com", Now() - 120).status, 401) << "stale (replayed later)";
  EXPECT_EQ(Lookup("ana@example.com", Now() + 120).status, 401) << "from the future";
  EXPECT_EQ(Lookup("ana@example.com", Now(), "eu").status, 401) << "signed for another region";

  std::string hash = gateway::EmailSha256("ana@example.com");
  HttpResult unsigned_call = Fetch("POST", Url("/region/lookup"),
                                   json{{"email_sha256", hash}, {"ts", Now()}}.dump(), {kJson});
  EXPECT_EQ(unsigned_call.status, 401) << unsigned_call.body;
  // A signature of one hash does not answer for another.
  long long ts = Now();
  HttpResult swapped = Fetch(
      "POST", Url("/region/lookup"),
      json{{"email_sha256", gateway::EmailSha256("bob@example.com")}, {"ts", ts}}.dump(),
      {kJson, "X-Crm-Region-Signature: " + gateway::PeerSignature(kRegionSecret, ts, "us", hash)});
  EXPECT_EQ(swapped.status, 401) << swapped.body;
  // Plain addresses never cross: anything but a SHA-256 is refused.
  HttpResult plain =
      Fetch("POST", Url("/region/lookup"),
            json{{"email_sha256", "ana@example.com"}, {"ts", Now()}}.dump(), {kJson});
  EXPECT_EQ(plain.status, 400) << plain.body;
  EXPECT_NE(crmd_->Log().find("region lookup from"), std::string::npos) << "refusals are logged";
}

TEST_F(RegionLookupTest, GuessingTheSignatureIsThrottledAndSignedCallsStillPass) {
  Register("ana@example.com");
  int refused = 0;
  int throttled = 0;
  for (int i = 0; i < 30; ++i) {
    long status = Lookup("ana@example.com", Now(), "us",
                         "guess " + std::to_string(i) + " of a 32+ character secret")
                      .status;
    refused += status == 401 ? 1 : 0;
    throttled += status == 429 ? 1 : 0;
  }
  // The account budget (20 a minute per address) is shared with sign-ups: Register took one.
  EXPECT_EQ(refused, 19);
  EXPECT_EQ(throttled, 11);
  EXPECT_EQ(Lookup("ana@example.com", Now()).status, 200) << "a signed call is never throttled";
}

TEST_F(RegionLookupTest, AnotherRegionsTokenIsRedirectedNotLookedUp) {
  Tenant ana = Register("ana@example.com");
  ASSERT_EQ(ana.token.rfind("us.", 0), 0u) << ana.token;
  // The same random part under another region's name is not this session: it is sent away,
  // and a region nobody configured is no session at all.
  std::string random = ana.token.substr(3);
  HttpResult eu = Fetch("GET", Url("/api/contacts"), "", {"Cookie: crm_session=eu." + random});
  EXPECT_EQ(eu.status, 307) << eu.body;
  EXPECT_EQ(eu.headers["location"], "http://127.0.0.1:9/api/contacts");
  HttpResult unknown = Fetch("GET", Url("/api/contacts"), "", {"Cookie: crm_session=ap." + random});
  EXPECT_EQ(unknown.status, 401) << unknown.body;
  HttpResult bare = Fetch("GET", Url("/api/contacts"), "", {"Cookie: crm_session=" + random});
  EXPECT_EQ(bare.status, 401) << bare.body;
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), "", ana.Auth()).status, 200);
}

}  // namespace
}  // namespace crm::testing
