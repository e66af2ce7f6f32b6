#include "crm/billing/signature.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::billing {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

const std::string kSecret = "whsec_test_secret";
const std::string kBody = R"({"id":"evt_1","object":"event"})";
// printf '%s' '1700000000.{"id":"evt_1","object":"event"}' | openssl dgst -sha256 -hmac
// whsec_test_secret
const std::string kVector = "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";
const system_clock::time_point kAt{seconds(1700000000)};

std::string Message(const std::string& header, const std::vector<std::string>& secrets,
                    system_clock::time_point now = kAt) {
  try {
    VerifyStripeSignature(header, kBody, secrets, now);
  } catch (const InputError& e) {
    return e.what();
  }
  return "ok";
}

TEST(StripeSignatureTest, MatchesOpensslsHmac) {
  EXPECT_EQ(StripeSignatureOf(1700000000, kBody, kSecret), kVector);
  EXPECT_EQ(StripeSignatureHeader(1700000000, kBody, kSecret), "t=1700000000,v1=" + kVector);
}

TEST(StripeSignatureTest, AcceptsTheFixedVectorWithinTheTolerance) {
  EXPECT_EQ(Message("t=1700000000,v1=" + kVector, {kSecret}), "ok");
  EXPECT_EQ(Message("t=1700000000,v1=" + kVector, {kSecret}, kAt + seconds(299)), "ok");
  EXPECT_EQ(Message("t=1700000000,v1=" + kVector, {kSecret}, kAt - seconds(299)), "ok");
}

TEST(StripeSignatureTest, RefusesAnotherSecretAndAnAlteredBody) {
  EXPECT_NE(Message("t=1700000000,v1=" + kVector, {"whsec_other"}).find("no v1 signature"),
            std::string::npos);
  EXPECT_THROW(VerifyStripeSignature("t=1700000000,v1=" + kVector, kBody + " ", {kSecret}, kAt),
               InputError);
}

TEST(StripeSignatureTest, AnyOfSeveralV1MayMatch) {
  EXPECT_EQ(
      Message("t=1700000000,v1=" + std::string(64, '0') + ",v1=" + kVector + ",v0=abc", {kSecret}),
      "ok");
}

TEST(StripeSignatureTest, ThePreviousSecretStillWorksWhileRotating) {
  EXPECT_EQ(Message("t=1700000000,v1=" + kVector, {"whsec_new", kSecret}), "ok");
  EXPECT_EQ(Message("t=1700000000,v1=" + kVector, {"", kSecret}), "ok");
}

TEST(StripeSignatureTest, RefusesAnOldOrFutureTimestamp) {
  EXPECT_NE(Message("t=1700000000,v1=" + kVector, {kSecret}, kAt + seconds(360)).find("360 s"),
            std::string::npos);
  EXPECT_NE(Message("t=1700000000,v1=" + kVector, {kSecret}, kAt - seconds(301)).find("allowed"),
            std::string::npos);
}

TEST(StripeSignatureTest, NamesTheMissingParts) {
  EXPECT_NE(Message("v1=" + kVector, {kSecret}).find("missing t="), std::string::npos);
  EXPECT_NE(Message("t=1700000000", {kSecret}).find("missing v1="), std::string::npos);
  EXPECT_NE(Message("", {kSecret}).find("missing"), std::string::npos);
  EXPECT_NE(Message("t=soon,v1=" + kVector, {kSecret}).find("Unix time"), std::string::npos);
}

}  // namespace
}  // namespace crm::billing
