#include "crm/channel/wa_web_protocol.hpp"

#include <gtest/gtest.h>

namespace crm::channel::wa_web {
namespace {

using nlohmann::json;

TEST(LineBufferTest, SplitsLinesAcrossReads) {
  LineBuffer lines;
  lines.Append("{\"a\":1}\n{\"b\"");
  EXPECT_EQ(lines.Next(), "{\"a\":1}");
  EXPECT_EQ(lines.Next(), std::nullopt);
  lines.Append(":2}\n\n");
  EXPECT_EQ(lines.Next(), "{\"b\":2}");
  EXPECT_EQ(lines.Next(), "");
  EXPECT_EQ(lines.Next(), std::nullopt);
  EXPECT_EQ(lines.pending(), 0u);
}

TEST(LineBufferTest, RefusesALineOverTheLimitBeforeItsNewline) {
  LineBuffer lines(16);
  lines.Append("0123456789");
  EXPECT_THROW(lines.Append("0123456789"), ProtocolError);
}

TEST(LineBufferTest, AcceptsALineOfExactlyTheLimitAndCountsOnlyTheUnfinishedTail) {
  LineBuffer lines(8);
  lines.Append("12345678\n1234");
  EXPECT_EQ(lines.Next(), "12345678");
  lines.Append("5678\n");
  EXPECT_EQ(lines.Next(), "12345678");
}

TEST(LineBufferTest, TheDefaultLimitIsOneMebibyte) {
  LineBuffer lines;
  std::string big(kMaxLine, 'x');
  lines.Append(big);
  EXPECT_THROW(lines.Append("y"), ProtocolError);
}

TEST(ParseLineTest, TellsResponsesFromEvents) {
  Incoming r = ParseLine(R"({"id":7,"ok":true,"message_id":"X"})");
  EXPECT_TRUE(r.is_response);
  EXPECT_EQ(r.id, 7);
  EXPECT_TRUE(r.ok);
  Incoming e = ParseLine(R"({"event":"qr","qr":"2@abc","extra":[1]})");
  EXPECT_FALSE(e.is_response);
  EXPECT_EQ(e.event, "qr");
}

TEST(ParseLineTest, RefusesMalformedLines) {
  EXPECT_THROW(ParseLine("not json"), ProtocolError);
  EXPECT_THROW(ParseLine("[1,2]"), ProtocolError);
  EXPECT_THROW(ParseLine(R"({"id":"7","ok":true})"), ProtocolError);
  EXPECT_THROW(ParseLine(R"({"id":7})"), ProtocolError);
  EXPECT_THROW(ParseLine(R"({"hello":1})"), ProtocolError);
  EXPECT_THROW(ParseLine(R"({"event":5})"), ProtocolError);
}

TEST(RequestLineTest, IsOneJsonLineWithIdAndOp) {
  std::string line = RequestLine(3, "send", {{"client_id", "1-2"}, {"to", "+4915112345678"}});
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  json j = json::parse(line);
  EXPECT_EQ(j["id"], 3);
  EXPECT_EQ(j["op"], "send");
  EXPECT_EQ(j["client_id"], "1-2");
}

TEST(RequestLineTest, TextWithNewlinesAndBadUtf8StaysOneLine) {
  std::string line = RequestLine(1, "send", {{"text", std::string("a\nb\xff")}});
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(MapSendResponseTest, OkIsSentWithTheMessageId) {
  SendResult r = MapSendResponse({{"id", 1}, {"ok", true}, {"message_id", "3EB0AB"}});
  EXPECT_EQ(r.outcome, Outcome::kSent);
  EXPECT_EQ(r.provider_id, "3EB0AB");
}

TEST(MapSendResponseTest, OkWithoutMessageIdFailsRatherThanRisksADuplicate) {
  EXPECT_EQ(MapSendResponse({{"id", 1}, {"ok", true}}).outcome, Outcome::kFailed);
}

TEST(MapSendResponseTest, RetryableErrorsRetryAndConnectionLimitsPauseTheNumber) {
  json e = {{"id", 1},
            {"ok", false},
            {"error", {{"code", "not_connected"}, {"message", "offline"}, {"retry", true}}}};
  SendResult r = MapSendResponse(e);
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.throttle, Throttle::kPhone);
  EXPECT_EQ(r.error, "wa-web: not_connected: offline");
  // The session is down: the task waits for it without using up an attempt.
  EXPECT_TRUE(r.held);
  e["error"]["code"] = "rate_limited";
  r = MapSendResponse(e);
  EXPECT_EQ(r.throttle, Throttle::kPhone);
  EXPECT_FALSE(r.held) << "a rate limit is an attempt like any other";
  e["error"]["code"] = "internal";
  r = MapSendResponse(e);
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.throttle, Throttle::kNone);
  EXPECT_FALSE(r.held);
}

TEST(MapSendResponseTest, ErrorsWithoutRetryFail) {
  json e = {{"id", 1},
            {"ok", false},
            {"error", {{"code", "invalid_number"}, {"message", "no WhatsApp"}, {"retry", false}}}};
  EXPECT_EQ(MapSendResponse(e).outcome, Outcome::kFailed);
  e["error"].erase("retry");
  EXPECT_EQ(MapSendResponse(e).outcome, Outcome::kFailed);
  EXPECT_EQ(MapSendResponse({{"id", 1}, {"ok", false}, {"error", "boom"}}).outcome,
            Outcome::kFailed);
}

TEST(MapLookupResponseTest, SentNeverSentAndCannotTell) {
  EXPECT_EQ(MapLookupResponse({{"ok", true}, {"message_id", "X"}}), "X");
  EXPECT_EQ(MapLookupResponse({{"ok", true}, {"message_id", ""}}), "");
  EXPECT_EQ(MapLookupResponse({{"ok", true}, {"message_id", nullptr}}), std::nullopt);
  EXPECT_EQ(MapLookupResponse({{"ok", true}}), std::nullopt);
  EXPECT_EQ(MapLookupResponse({{"ok", false}, {"error", {{"code", "internal"}}}}), std::nullopt);
}

TEST(ChannelStateOfTest, MapsTheSidecarsStates) {
  EXPECT_EQ(ChannelStateOf("connected"), "connected");
  EXPECT_EQ(ChannelStateOf("qr"), "unpaired");
  EXPECT_EQ(ChannelStateOf("connecting"), "disconnected");
  EXPECT_EQ(ChannelStateOf("logged_out"), "disconnected");
  EXPECT_EQ(ChannelStateOf("replaced"), "disconnected");
  EXPECT_EQ(ChannelStateOf("failed"), "failed");
  EXPECT_EQ(ChannelStateOf("banned"), "banned");
  EXPECT_EQ(ChannelStateOf("something new"), "disconnected");
}

TEST(MapEventTest, AckBecomesAStatusUpdate) {
  EventEffect e = MapEvent(ParseLine(
      R"({"event":"ack","message_id":"M1","status":"delivered","recipient":"+4915112345678","timestamp":1700000000})"));
  ASSERT_EQ(e.events.statuses.size(), 1u);
  EXPECT_EQ(e.events.statuses[0].provider_id, "M1");
  EXPECT_EQ(e.events.statuses[0].status, "delivered");
  EXPECT_EQ(e.events.statuses[0].recipient, "+4915112345678");
  EXPECT_EQ(e.events.statuses[0].timestamp, 1700000000);
}

TEST(MapEventTest, MessageBecomesAnInboundMessageInE164) {
  EventEffect e = MapEvent(ParseLine(
      R"({"event":"message","message_id":"IN1","from":"4915112345678","name":"Ana","text":"hi"})"));
  ASSERT_EQ(e.events.messages.size(), 1u);
  EXPECT_EQ(e.events.messages[0].from, "+4915112345678");
  EXPECT_EQ(e.events.messages[0].profile_name, "Ana");
  EXPECT_EQ(e.events.messages[0].text, "hi");
}

TEST(MapEventTest, ContactGivesANameOnly) {
  EventEffect e =
      MapEvent(ParseLine(R"({"event":"contact","phone":"+4915112345678","name":"Ana"})"));
  EXPECT_TRUE(e.events.empty());
  ASSERT_TRUE(e.contact);
  EXPECT_EQ(e.contact->second, "Ana");
}

TEST(MapEventTest, MalformedKnownEventsAreProtocolErrors) {
  EXPECT_THROW(MapEvent(ParseLine(R"({"event":"ack","message_id":42,"status":"read"})")),
               ProtocolError);
  EXPECT_THROW(MapEvent(ParseLine(R"({"event":"ack","message_id":"M","status":"eaten"})")),
               ProtocolError);
  EXPECT_THROW(
      MapEvent(ParseLine(R"({"event":"message","message_id":"I","from":"'; DROP","text":"x"})")),
      ProtocolError);
  EXPECT_THROW(MapEvent(ParseLine(R"({"event":"message","from":"+4915112345678"})")),
               ProtocolError);
}

TEST(MapEventTest, UnknownEventsGiveNothing) {
  EventEffect e = MapEvent(ParseLine(R"({"event":"presence","phone":"+4915112345678"})"));
  EXPECT_TRUE(e.events.empty());
  EXPECT_FALSE(e.contact);
}

}  // namespace
}  // namespace crm::channel::wa_web
