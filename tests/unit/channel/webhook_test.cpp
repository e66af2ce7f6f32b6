#include "crm/channel/webhook.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::channel {
namespace {

using nlohmann::json;

TEST(WebhookSignature, MatchesAKnownHmacSha256Vector) {
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(SignatureOf("what do ya want for nothing?", "Jefe"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(WebhookSignature, AcceptsOnlyTheRightSecretAndBody) {
  std::string body = R"({"object":"whatsapp_business_account"})";
  std::string good = SignatureOf(body, "secret");
  EXPECT_TRUE(VerifySignature(body, good, "secret"));
  std::string upper = good;
  for (std::size_t i = 7; i < upper.size(); ++i) {
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  }
  EXPECT_TRUE(VerifySignature(body, upper, "secret"));
  EXPECT_FALSE(VerifySignature(body, good, "other"));
  EXPECT_FALSE(VerifySignature(body + " ", good, "secret"));
  EXPECT_FALSE(VerifySignature(body, good.substr(7), "secret")) << "without sha256=";
  EXPECT_FALSE(VerifySignature(body, "", "secret"));
  EXPECT_FALSE(VerifySignature(body, good, "")) << "no secret configured: nothing verifies";
}

json Payload(const json& value) {
  return {{"object", "whatsapp_business_account"},
          {"entry", {{{"id", "1"}, {"changes", {{{"field", "messages"}, {"value", value}}}}}}}};
}

TEST(WebhookPayload, SplitsChangesByPhoneNumberIdAndParsesMessagesAndStatuses) {
  json value = {{"messaging_product", "whatsapp"},
                {"metadata", {{"display_phone_number", "15550001111"}, {"phone_number_id", "123"}}},
                {"contacts", {{{"profile", {{"name", "Kerry"}}}, {"wa_id", "16315551181"}}}},
                {"messages",
                 {{{"from", "16315551181"},
                   {"id", "wamid.A"},
                   {"timestamp", "1669233778"},
                   {"type", "text"},
                   {"text", {{"body", "hi"}}}},
                  {{"from", "16315551181"},
                   {"id", "wamid.B"},
                   {"timestamp", 1669233779},
                   {"type", "image"}}}},
                {"statuses",
                 {{{"id", "wamid.C"},
                   {"status", "failed"},
                   {"timestamp", "1669233780"},
                   {"recipient_id", "16315551181"},
                   {"errors", {{{"code", 131026}, {"title", "Message undeliverable"}}}}},
                  {{"id", "wamid.D"}, {"status", "deleted"}, {"recipient_id", "16315551181"}}}}};
  auto changes = SplitWebhook(Payload(value));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].phone_number_id, "123");
  ChannelEvents events = ParseWebhookValue(changes[0].value);
  ASSERT_EQ(events.messages.size(), 2u);
  EXPECT_EQ(events.messages[0].from, "+16315551181");
  EXPECT_EQ(events.messages[0].profile_name, "Kerry");
  EXPECT_EQ(events.messages[0].text, "hi");
  EXPECT_EQ(events.messages[0].timestamp, 1669233778);
  EXPECT_EQ(events.messages[1].text, "[image]");
  ASSERT_EQ(events.statuses.size(), 1u) << "'deleted' changes nothing we keep";
  EXPECT_EQ(events.statuses[0].status, "failed");
  EXPECT_EQ(events.statuses[0].error, "131026: Message undeliverable");
}

TEST(WebhookPayload, TheSimulatorsEventsRoundTripThroughTheWebhookShape) {
  ChannelEvents events;
  events.messages.push_back({"wamid.X", "+447700900123", "Zoe", "Hello", 1700000000});
  events.statuses.push_back({"wamid.Y", "read", "+447700900124", 1700000001, ""});
  ChannelEvents back = ParseWebhookValue(WebhookValueOf(events, "42", "+15550000001"));
  ASSERT_EQ(back.messages.size(), 1u);
  EXPECT_EQ(back.messages[0].from, "+447700900123");
  EXPECT_EQ(back.messages[0].profile_name, "Zoe");
  ASSERT_EQ(back.statuses.size(), 1u);
  EXPECT_EQ(back.statuses[0].recipient, "+447700900124");
  EXPECT_EQ(SplitWebhook(Payload(WebhookValueOf(events, "42", "")))[0].phone_number_id, "42");
}

TEST(WebhookPayload, WrongShapesNameTheField) {
  auto error = [](const json& payload) -> std::string {
    try {
      for (const auto& c : SplitWebhook(payload)) {
        ParseWebhookValue(c.value);
      }
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error(json::array()), "payload: expected an object, got array");
  EXPECT_EQ(error({{"object", "page"}}),
            "object: expected \"whatsapp_business_account\", got \"page\"");
  EXPECT_EQ(error(Payload({{"metadata", {{"phone_number_id", 5}}}})),
            "entry[0].changes[0].value.metadata.phone_number_id: expected a string, got number");
  EXPECT_EQ(error(Payload({{"metadata", {{"phone_number_id", "1"}}},
                           {"messages", {{{"id", "w"}, {"from", "not a number"}}}}})),
            "value.messages[0].from: expected a phone number in international format, got \"not a "
            "number\"");
  EXPECT_EQ(
      error(Payload(
          {{"metadata", {{"phone_number_id", "1"}}},
           {"statuses",
            {{{"id", "w"}, {"status", "read"}, {"recipient_id", "1"}, {"timestamp", "soon"}}}}})),
      "value.statuses[0].timestamp: expected Unix seconds, got \"soon\"");
  // Other fields (account updates) are not routed.
  json other = {{"object", "whatsapp_business_account"},
                {"entry", {{{"changes", {{{"field", "account_update"}, {"value", 1}}}}}}}};
  EXPECT_TRUE(SplitWebhook(other).empty());
}

}  // namespace
}  // namespace crm::channel
