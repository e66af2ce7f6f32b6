#include "crm/billing/stripe_client.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"

namespace crm::billing {
namespace {

HttpResponse Answer(long status, std::string body = {}, std::string should_retry = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  if (!should_retry.empty()) {
    r.headers["stripe-should-retry"] = should_retry;
  }
  return r;
}

TEST(StripeErrorTest, NamesTypeCodeParamAndMessage) {
  EXPECT_EQ(
      StripeErrorText(400, R"({"error":{"type":"invalid_request_error","code":"resource_missing",)"
                           R"("param":"line_items[0][price]","message":"No such price: 'x'"}})"),
      "invalid_request_error (resource_missing, param line_items[0][price]): No such "
      "price: 'x'");
  EXPECT_EQ(StripeErrorText(402, R"({"error":{"type":"card_error","message":"declined"}})"),
            "card_error: declined");
  EXPECT_EQ(StripeErrorText(502, "<html>"), "HTTP 502 without a Stripe error object");
  EXPECT_EQ(StripeErrorText(200, "{}"), "");
}

TEST(StripeErrorTest, RetriesOnlyWhereStripeSaysItIsSafe) {
  EXPECT_TRUE(StripeMayRetry(Answer(0)));
  EXPECT_TRUE(StripeMayRetry(Answer(409)));
  EXPECT_TRUE(StripeMayRetry(Answer(429)));
  EXPECT_TRUE(StripeMayRetry(Answer(500)));
  EXPECT_FALSE(StripeMayRetry(Answer(500, {}, "false")));
  EXPECT_TRUE(StripeMayRetry(Answer(400, {}, "true")));
  EXPECT_FALSE(StripeMayRetry(Answer(400)));
  EXPECT_FALSE(StripeMayRetry(Answer(401)));
}

TEST(StripeErrorTest, NoAnswerAndBusyAreUnavailableRefusalsAreBadGateway) {
  HttpResponse none = Answer(0);
  none.error = "Couldn't connect to server";
  try {
    ThrowStripeFailure(none, "create a checkout session");
  } catch (const Unavailable& e) {
    EXPECT_EQ(std::string(e.what()),
              "billing is unavailable: Stripe did not answer; nothing was charged, try again in "
              "a minute");
  }
  EXPECT_THROW(ThrowStripeFailure(Answer(429, R"({"error":{"type":"rate_limit_error"}})"), "x"),
               Unavailable);
  try {
    ThrowStripeFailure(Answer(401, R"({"error":{"type":"invalid_request_error",)"
                                   R"("message":"Invalid API Key provided"}})"),
                       "create a customer");
    FAIL();
  } catch (const http::ServiceError& e) {
    EXPECT_NE(std::string(e.what()).find("CRM_STRIPE_SECRET_KEY"), std::string::npos);
  }
}

TEST(StripeClientTest, AnUnreachableApiIsUnavailableAfterItsTries) {
  StripeOptions options;
  options.secret_key = "sk_test_x";
  options.api_url = "http://127.0.0.1:1";
  options.backoff = std::chrono::milliseconds(1);
  StripeClient client(options);
  EXPECT_THROW(client.CreateCustomer(1, "a@x.test", "customer-1"), Unavailable);
}

}  // namespace
}  // namespace crm::billing
