#include "crm/gateway/region.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include "crm/error.hpp"

namespace crm::gateway {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

const std::string kSecret = "a shared secret of at least 32 characters";
const std::string kHash = EmailSha256("ana@example.com");

system_clock::time_point At(long long unix_seconds) {
  return system_clock::time_point(seconds(unix_seconds));
}

RegionOptions TwoRegions() {
  return {"eu", {{"eu", "https://eu.crm.example"}, {"us", "https://us.crm.example"}}, kSecret};
}

class RegionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(RegionTest, TokensOfPinnedRegionsNameTheirRegion) {
  std::string token = NewSessionToken(TwoRegions());
  ASSERT_EQ(token.rfind("eu.", 0), 0u) << token;
  EXPECT_EQ(token.size(), 3u + 43u);
  EXPECT_EQ(TokenRegion(token), "eu");
  EXPECT_NE(NewSessionToken(TwoRegions()), token);
}

TEST_F(RegionTest, OneRegionKeepsThePlainToken) {
  RegionOptions single{"eu", {{"eu", "https://crm.example"}}, ""};
  EXPECT_FALSE(single.pinned());
  std::string token = NewSessionToken(single);
  EXPECT_EQ(token.size(), 43u);
  EXPECT_EQ(TokenRegion(token), "");
  EXPECT_FALSE(RegionOptions{}.pinned());
}

TEST_F(RegionTest, PinnedRegionsNeedALongSecret) {
  EXPECT_NO_THROW(CheckRegionOptions(TwoRegions()));
  EXPECT_NO_THROW(CheckRegionOptions(RegionOptions{"eu", {{"eu", "https://crm.example"}}, ""}));
  RegionOptions weak = TwoRegions();
  weak.secret = "short";
  try {
    CheckRegionOptions(weak);
    FAIL() << "a short secret was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("CRM_REGION_SECRET"), std::string::npos) << e.what();
  }
  weak.secret.clear();
  EXPECT_THROW(CheckRegionOptions(weak), InputError);
}

TEST_F(RegionTest, EmailHashIsSha256Hex) {
  // As `printf %s ana@example.com | sha256sum` prints it.
  EXPECT_EQ(kHash, "8e43ca37701228e74983efdbd0cff5c16b3b1e5d4e29a7c05626d4d25a018e11");
}

TEST_F(RegionTest, SignatureIsTheHmacOfTimeRegionAndHash) {
  std::string sig = PeerSignature(kSecret, 1'700'000'000, "us", kHash);
  EXPECT_EQ(sig.size(), 64u);
  EXPECT_TRUE(PeerSignatureValid(kSecret, sig, 1'700'000'000, "us", kHash, At(1'700'000'000)));
}

TEST_F(RegionTest, SignatureHoldsSixtySecondsEitherSide) {
  std::string sig = PeerSignature(kSecret, 1'700'000'000, "us", kHash);
  EXPECT_TRUE(PeerSignatureValid(kSecret, sig, 1'700'000'000, "us", kHash, At(1'700'000'060)));
  EXPECT_TRUE(PeerSignatureValid(kSecret, sig, 1'700'000'000, "us", kHash, At(1'699'999'940)));
  EXPECT_FALSE(PeerSignatureValid(kSecret, sig, 1'700'000'000, "us", kHash, At(1'700'000'061)));
  EXPECT_FALSE(PeerSignatureValid(kSecret, sig, 1'700'000'000, "us", kHash, At(1'699'999'939)));
}

TEST_F(RegionTest, SignatureRefusesAnyOtherPartOrSecret) {
  long long t = 1'700'000'000;
  std::string sig = PeerSignature(kSecret, t, "us", kHash);
  EXPECT_FALSE(PeerSignatureValid(kSecret, sig, t + 1, "us", kHash, At(t)));
  EXPECT_FALSE(PeerSignatureValid(kSecret, sig, t, "eu", kHash, At(t)));  // replayed elsewhere
  EXPECT_FALSE(PeerSignatureValid(kSecret, sig, t, "us", EmailSha256("bob@example.com"), At(t)));
  EXPECT_FALSE(PeerSignatureValid(kSecret + "x", sig, t, "us", kHash, At(t)));
  EXPECT_FALSE(PeerSignatureValid(kSecret, sig.substr(0, 63), t, "us", kHash, At(t)));
  EXPECT_FALSE(PeerSignatureValid(kSecret, "", t, "us", kHash, At(t)));
  std::string flipped = sig;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  EXPECT_FALSE(PeerSignatureValid(kSecret, flipped, t, "us", kHash, At(t)));
  // No secret configured: nothing is valid, not even a signature made with the empty key.
  EXPECT_FALSE(PeerSignatureValid("", PeerSignature("", t, "us", kHash), t, "us", kHash, At(t)));
}

TEST_F(RegionTest, PeersAreNotAskedWithoutPinnedRegions) {
  RegionPeers peers(RegionOptions{});
  EXPECT_EQ(peers.HomeOf("ana@example.com"), std::nullopt);
  EXPECT_TRUE(peers.Status().empty());
}

TEST_F(RegionTest, AnUnreachablePeerIsSkippedWithinTheBound) {
  RegionOptions options = TwoRegions();
  // A port nothing listens on refuses at once; the bound is what a silent peer would cost.
  options.urls["us"] = "http://127.0.0.1:9";
  options.peer_timeout = std::chrono::milliseconds(500);
  RegionPeers peers(options);
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(peers.HomeOf("ana@example.com"), std::nullopt);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  auto status = peers.Status();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].region, "us");
  EXPECT_EQ(status[0].status, "unreachable");
}

}  // namespace
}  // namespace crm::gateway
