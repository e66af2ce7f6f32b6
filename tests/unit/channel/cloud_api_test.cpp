#include "crm/channel/cloud_api.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "crm/error.hpp"
#include "crm/http/response.hpp"
#include "crm/http/server.hpp"

namespace crm::channel {
namespace {

using nlohmann::json;
namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr const char* kToken = "EAAG-secret-token-0123456789";
constexpr const char* kPhoneId = "106540352242922";

struct RecordedRequest {
  std::string method;
  std::string target;
  std::string authorization;
  std::string content_type;
  std::string body;
  unsigned short client_port = 0;
};

struct GraphAnswer {
  GraphAnswer(int s, std::string b, std::string ra = {})
      : status(s), body(std::move(b)), retry_after(std::move(ra)) {}
  int status;
  std::string body;
  std::string retry_after;  ///< Retry-After header, when not empty
};

std::string GraphError(int code, const std::string& message, const std::string& details = "") {
  json error = {
      {"message", message}, {"type", "OAuthException"}, {"code", code}, {"fbtrace_id", "AbCdEf"}};
  if (!details.empty()) {
    error["error_data"] = {{"messaging_product", "whatsapp"}, {"details", details}};
  }
  return json{{"error", error}}.dump();
}

/// Answers like the Graph API with a wamid derived from the request's text ("wamid.<text>").
GraphAnswer EchoWamid(const RecordedRequest& r) {
  json body = json::parse(r.body);
  std::string text = body.contains("text") ? body["text"]["body"].get<std::string>() : "tmpl";
  return {200, json{{"messaging_product", "whatsapp"},
                    {"contacts", json::array({{{"input", body["to"]}, {"wa_id", body["to"]}}})},
                    {"messages", json::array({{{"id", "wamid." + text}}})}}
                   .dump()};
}

/// A local Graph API: our HTTP server on 127.0.0.1:0, run on a background thread, answering
/// every request with `answer` and recording what it received.
class GraphServer {
 public:
  using Answer = std::function<GraphAnswer(const RecordedRequest&)>;

  /// With `wait_for_peers`, a request is answered only once a second one is in flight (or once
  /// a 10 s ceiling from the server's start has passed), so sequential sending shows as
  /// max_in_flight() == 1 instead of hanging.
  explicit GraphServer(Answer answer, bool wait_for_peers = false)
      : answer_(std::move(answer)),
        wait_for_peers_(wait_for_peers),
        server_(io_, http::ServerLimits{},
                [this](http::Exchange& ex) -> http::Reply { return Handle(ex); }) {
    endpoint_ = server_.Listen(http::ParseEndpoint("127.0.0.1:0"));
    server_.Start();
    io_.Start();
  }

  ~GraphServer() {
    server_.Shutdown(2s);
    io_.Stop();
  }

  std::string BaseUrl() const {
    return "http://127.0.0.1:" + std::to_string(endpoint_.port) + "/v21.0";
  }

  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  int max_in_flight() const {
    std::lock_guard lock(mutex_);
    return max_in_flight_;
  }

 private:
  http::Reply Handle(http::Exchange& ex) {
    auto& req = ex.request();
    RecordedRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.authorization = std::string(req[http::bhttp::field::authorization]);
    r.content_type = std::string(req[http::bhttp::field::content_type]);
    r.body = req.body();
    auto remote = ex.stream().socket().remote_endpoint();
    if (remote.data()->sa_family == AF_INET) {
      r.client_port = ntohs(reinterpret_cast<const sockaddr_in*>(remote.data())->sin_port);
    }
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(r);
      max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
    }
    if (wait_for_peers_) {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      while (max_in_flight() < 2 && std::chrono::steady_clock::now() < wait_deadline_) {
        timer.expires_after(2ms);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
    }
    GraphAnswer a = answer_(r);
    {
      std::lock_guard lock(mutex_);
      --in_flight_;
    }
    http::Response res{static_cast<http::Status>(a.status), 11};
    res.set(http::bhttp::field::content_type, "application/json");
    if (!a.retry_after.empty()) {
      res.set(http::bhttp::field::retry_after, a.retry_after);
    }
    res.body() = a.body;
    co_return res;
  }

  Answer answer_;
  bool wait_for_peers_;
  std::chrono::steady_clock::time_point wait_deadline_ = std::chrono::steady_clock::now() + 10s;
  http::IoPool io_{1};
  http::Server server_;
  http::Endpoint endpoint_;
  mutable std::mutex mutex_;
  std::vector<RecordedRequest> requests_;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
};

CloudApiOptions OptionsFor(const std::string& base_url) {
  CloudApiOptions o;
  o.base_url = base_url;
  o.phone_number_id = kPhoneId;
  o.access_token = kToken;
  o.display_phone = "+15550001234";
  o.timeout = 10s;
  return o;
}

OutboundMessage Text(std::string to, std::string text) {
  OutboundMessage m;
  m.idempotency_key = "s1-" + text;
  m.to = std::move(to);
  m.text = std::move(text);
  return m;
}

/// Sends one message to a server that always gives `answer`.
SendResult SendAgainst(GraphAnswer answer) {
  GraphServer server([answer](const RecordedRequest&) { return answer; });
  CloudApiChannel channel(OptionsFor(server.BaseUrl()));
  auto results = channel.Send({Text("+4915112345678", "hello")});
  EXPECT_EQ(results.size(), 1u);
  return results.at(0);
}

TEST(CloudApiChannelTest, SendsTextAsGraphMessage) {
  GraphServer server(EchoWamid);
  CloudApiChannel channel(OptionsFor(server.BaseUrl()));

  auto results = channel.Send({Text("+4915112345678", "Hallo \"Welt\" ✓")});

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, Outcome::kSent);
  EXPECT_EQ(results[0].provider_id, "wamid.Hallo \"Welt\" ✓");
  EXPECT_EQ(results[0].error, "");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, std::string("/v21.0/") + kPhoneId + "/messages");
  EXPECT_EQ(requests[0].authorization, std::string("Bearer ") + kToken);
  EXPECT_EQ(requests[0].content_type, "application/json");
  EXPECT_EQ(json::parse(requests[0].body), json::parse(R"({
    "messaging_product": "whatsapp", "recipient_type": "individual", "to": "4915112345678",
    "type": "text", "text": {"preview_url": false, "body": "Hallo \"Welt\" ✓"}})"));
}

TEST(CloudApiChannelTest, SendsTemplateWithBodyParameters) {
  GraphServer server(EchoWamid);
  CloudApiChannel channel(OptionsFor(server.BaseUrl() + "/"));  // a trailing slash is dropped
  OutboundMessage with_params;
  with_params.to = "+4915112345678";
  with_params.tmpl = Template{"order_update", "de", {"Anna", "#1042"}};
  OutboundMessage without_params;
  without_params.to = "+15550009999";
  without_params.tmpl = Template{"hello_world", "en_US", {}};

  auto results = channel.Send({with_params, without_params});

  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outcome, Outcome::kSent);
  EXPECT_EQ(results[0].provider_id, "wamid.tmpl");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  std::map<std::string, json> by_to;
  for (const auto& r : requests) {
    EXPECT_EQ(r.target, std::string("/v21.0/") + kPhoneId + "/messages");
    json body = json::parse(r.body);
    by_to[body["to"].get<std::string>()] = body;
  }
  EXPECT_EQ(by_to["4915112345678"], json::parse(R"({
    "messaging_product": "whatsapp", "to": "4915112345678", "type": "template",
    "template": {"name": "order_update", "language": {"code": "de"},
      "components": [{"type": "body", "parameters": [
        {"type": "text", "text": "Anna"}, {"type": "text", "text": "#1042"}]}]}})"));
  EXPECT_EQ(by_to["15550009999"], json::parse(R"({
    "messaging_product": "whatsapp", "to": "15550009999", "type": "template",
    "template": {"name": "hello_world", "language": {"code": "en_US"}}})"));
}

TEST(CloudApiChannelTest, SendsBatchConcurrentlyWithResultsInOrder) {
  GraphServer server(EchoWamid, /*wait_for_peers=*/true);
  CloudApiOptions options = OptionsFor(server.BaseUrl());
  options.concurrency = 8;
  CloudApiChannel channel(options);
  std::vector<OutboundMessage> batch;
  for (int i = 0; i < 200; ++i) {
    batch.push_back(Text("+49151" + std::to_string(1000000 + i), "m" + std::to_string(i)));
  }

  auto results = channel.Send(batch);

  ASSERT_EQ(results.size(), 200u);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(results[static_cast<std::size_t>(i)].outcome, Outcome::kSent) << i;
    EXPECT_EQ(results[static_cast<std::size_t>(i)].provider_id, "wamid.m" + std::to_string(i));
  }
  EXPECT_EQ(server.requests().size(), 200u);
  EXPECT_GE(server.max_in_flight(), 2);
  EXPECT_LE(server.max_in_flight(), 8);
}

TEST(CloudApiChannelTest, ReusesConnectionAcrossSends) {
  GraphServer server(EchoWamid);
  CloudApiOptions options = OptionsFor(server.BaseUrl());
  options.concurrency = 1;
  CloudApiChannel channel(options);

  auto first = channel.Send({Text("+4915112345678", "a")});
  auto second = channel.Send({Text("+4915112345678", "b")});

  EXPECT_EQ(first.at(0).provider_id, "wamid.a");
  EXPECT_EQ(second.at(0).provider_id, "wamid.b");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[0].client_port, 0);
  EXPECT_EQ(requests[0].client_port, requests[1].client_port);
}

TEST(CloudApiChannelTest, Http429WithRetryAfterThrottlesPhone) {
  SendResult r = SendAgainst({429, GraphError(130429, "Rate limit hit"), "7"});
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.throttle, Throttle::kPhone);
  ASSERT_TRUE(r.retry_after.has_value());
  EXPECT_EQ(*r.retry_after, 7s);
  EXPECT_EQ(r.code, 130429);
}

TEST(CloudApiChannelTest, Http429WithoutBodyThrottlesPhone) {
  SendResult r = SendAgainst({429, "", "7"});
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.throttle, Throttle::kPhone);
  EXPECT_EQ(r.retry_after, std::optional<std::chrono::milliseconds>(7s));
  EXPECT_EQ(r.code, 429);
}

TEST(CloudApiChannelTest, ThroughputCode130429ThrottlesPhone) {
  SendResult r = SendAgainst({400, GraphError(130429, "Rate limit hit", "Cloud API throughput")});
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.throttle, Throttle::kPhone);
  EXPECT_EQ(r.code, 130429);
  EXPECT_FALSE(r.retry_after.has_value());
}

TEST(CloudApiChannelTest, PairRateLimitThrottlesPair) {
  SendResult r = SendAgainst({400, GraphError(131056,
                                              "(Business Account, Consumer Account) pair "
                                              "rate limit hit")});
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.throttle, Throttle::kPair);
  EXPECT_EQ(r.code, 131056);
}

TEST(CloudApiChannelTest, SpamAndAccountRateLimitsThrottlePhone) {
  SendResult spam = SendAgainst({400, GraphError(131048, "Spam rate limit hit")});
  EXPECT_EQ(spam.outcome, Outcome::kRetry);
  EXPECT_EQ(spam.throttle, Throttle::kPhone);
  EXPECT_EQ(spam.code, 131048);
  SendResult account = SendAgainst({400, GraphError(80007, "Rate limit issues")});
  EXPECT_EQ(account.outcome, Outcome::kRetry);
  EXPECT_EQ(account.throttle, Throttle::kPhone);
  EXPECT_EQ(account.code, 80007);
}

TEST(CloudApiChannelTest, UndeliverableFailsWithMessage) {
  SendResult r = SendAgainst(
      {400, GraphError(131026, "Message undeliverable", "Receiver is incapable of receiving")});
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_EQ(r.code, 131026);
  EXPECT_EQ(r.error, "131026: Message undeliverable (Receiver is incapable of receiving)");
  EXPECT_EQ(r.throttle, Throttle::kNone);
}

TEST(CloudApiChannelTest, ServerErrorRetries) {
  SendResult r = SendAgainst({500, "<html>Internal Server Error</html>"});
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.throttle, Throttle::kNone);
  EXPECT_EQ(r.code, 500);
  EXPECT_NE(r.error.find("<html>Internal Server Error</html>"), std::string::npos) << r.error;
}

TEST(CloudApiChannelTest, ConnectionRefusedRetriesWithTransportError) {
  unsigned short port = 0;
  {
    // A port that was just free: nothing listens on it once the acceptor closes.
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = acceptor.local_endpoint().port();
  }
  CloudApiChannel channel(OptionsFor("http://127.0.0.1:" + std::to_string(port) + "/v21.0"));

  auto results = channel.Send({Text("+4915112345678", "a"), Text("+4915112345679", "b")});

  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, Outcome::kRetry);
    EXPECT_EQ(r.throttle, Throttle::kNone);
    EXPECT_EQ(r.code, 0);
    EXPECT_TRUE(r.error.starts_with("transport: ")) << r.error;
    EXPECT_NE(r.error.find("onnect"), std::string::npos) << r.error;
  }
}

TEST(CloudApiChannelTest, MalformedSuccessBodyIsNotSent) {
  SendResult r = SendAgainst({200, "{\"messages\": [ oops"});
  EXPECT_NE(r.outcome, Outcome::kSent);
  EXPECT_EQ(r.provider_id, "");
  EXPECT_NE(r.error.find("{\"messages\": [ oops"), std::string::npos) << r.error;
}

TEST(CloudApiChannelTest, TokenNeverAppearsInErrors) {
  // A server that echoes the Authorization header back in every kind of answer.
  for (int status : {200, 400, 401, 500}) {
    GraphServer server([status](const RecordedRequest& r) -> GraphAnswer {
      if (status == 200) {
        return {200, "not json: " + r.authorization};
      }
      return {status, GraphError(190, "Invalid OAuth access token " + r.authorization,
                                 "token " + r.authorization)};
    });
    CloudApiChannel channel(OptionsFor(server.BaseUrl()));
    auto results = channel.Send({Text("+4915112345678", "a")});
    ASSERT_EQ(results.size(), 1u);
    EXPECT_NE(results[0].outcome, Outcome::kSent);
    EXPECT_EQ(results[0].error.find(kToken), std::string::npos) << results[0].error;
    EXPECT_NE(results[0].error.find("[redacted]"), std::string::npos) << results[0].error;
  }
  // Nor in a transport error.
  CloudApiChannel refused(OptionsFor("http://127.0.0.1:1/v21.0"));
  auto r = refused.Send({Text("+4915112345678", "a")});
  EXPECT_EQ(r.at(0).error.find(kToken), std::string::npos) << r.at(0).error;
}

TEST(CloudApiChannelTest, ExpiredTokenFails) {
  SendResult r =
      SendAgainst({401, GraphError(190, "Error validating access token: Session has expired")});
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_EQ(r.code, 190);
  EXPECT_EQ(r.error, "190: Error validating access token: Session has expired");
}

TEST(CloudApiChannelTest, EmptyBatchSendsNothing) {
  GraphServer server(EchoWamid);
  CloudApiChannel channel(OptionsFor(server.BaseUrl()));
  EXPECT_TRUE(channel.Send({}).empty());
  EXPECT_TRUE(server.requests().empty());
}

TEST(CloudApiChannelTest, RejectsInvalidOptions) {
  CloudApiOptions no_url = OptionsFor("");
  try {
    CloudApiChannel channel(no_url);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("base_url"), std::string::npos) << e.what();
  }
  CloudApiOptions zero = OptionsFor("http://127.0.0.1:1/v21.0");
  zero.concurrency = 0;
  try {
    CloudApiChannel channel(zero);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("concurrency"), std::string::npos) << e.what();
  }
  CloudApiOptions no_timeout = OptionsFor("http://127.0.0.1:1/v21.0");
  no_timeout.timeout = 0ms;
  EXPECT_THROW(CloudApiChannel{no_timeout}, InputError);
}

TEST(CloudApiChannelTest, StateReportsConfiguration) {
  CloudApiChannel configured(OptionsFor("http://127.0.0.1:1/v21.0"));
  ChannelState s = configured.State();
  EXPECT_EQ(s.kind, "cloud-api");
  EXPECT_EQ(s.state, "connected");
  EXPECT_EQ(s.phone, "+15550001234");

  CloudApiOptions no_token = OptionsFor("http://127.0.0.1:1/v21.0");
  no_token.access_token.clear();
  CloudApiChannel unconfigured(no_token);
  s = unconfigured.State();
  EXPECT_EQ(s.state, "unconfigured");
  EXPECT_EQ(s.detail, "CRM_WHATSAPP_TOKEN is not set");
  auto results = unconfigured.Send({Text("+4915112345678", "a")});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, Outcome::kFailed);
  EXPECT_NE(results[0].error.find("CRM_WHATSAPP_TOKEN"), std::string::npos);

  CloudApiOptions nothing;
  EXPECT_EQ(CloudApiChannel(nothing).State().detail,
            "CRM_WHATSAPP_PHONE_NUMBER_ID and CRM_WHATSAPP_TOKEN are not set");
}

TEST(CloudApiChannelTest, LookupCannotTell) {
  CloudApiChannel channel(OptionsFor("http://127.0.0.1:1/v21.0"));
  EXPECT_EQ(channel.Lookup("s1-42"), std::nullopt);
}

TEST(CloudApiMapGraphResponseTest, SuccessCarriesWamid) {
  SendResult r = MapGraphResponse(
      200, R"({"messaging_product":"whatsapp","messages":[{"id":"wamid.HBgM"}]})", std::nullopt);
  EXPECT_EQ(r.outcome, Outcome::kSent);
  EXPECT_EQ(r.provider_id, "wamid.HBgM");
  EXPECT_EQ(r.code, 0);
}

TEST(CloudApiMapGraphResponseTest, SuccessWithoutIdFails) {
  SendResult r = MapGraphResponse(200, R"({"messages":[]})", std::nullopt);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.error, R"(HTTP 200: answer without messages[0].id: "{"messages":[]}")");
}

TEST(CloudApiMapGraphResponseTest, ThrottleCodes) {
  const std::pair<int, Throttle> cases[] = {
      {130429, Throttle::kPhone}, {131056, Throttle::kPair}, {131048, Throttle::kPhone},
      {80007, Throttle::kPhone},  {4, Throttle::kPhone},     {80004, Throttle::kPhone},
  };
  for (auto [code, throttle] : cases) {
    SendResult r = MapGraphResponse(400, GraphError(code, "limit"), 3s);
    EXPECT_EQ(r.outcome, Outcome::kRetry) << code;
    EXPECT_EQ(r.throttle, throttle) << code;
    EXPECT_EQ(r.code, code);
    EXPECT_EQ(r.retry_after, std::optional<std::chrono::milliseconds>(3s)) << code;
    EXPECT_EQ(r.error, std::to_string(code) + ": limit");
  }
}

TEST(CloudApiMapGraphResponseTest, PermanentErrorsFail) {
  const std::pair<long, int> cases[] = {{404, 132001}, {400, 100}, {401, 190}, {400, 131026}};
  for (auto [status, code] : cases) {
    SendResult r = MapGraphResponse(status, GraphError(code, "bad", "why"), 5s);
    EXPECT_EQ(r.outcome, Outcome::kFailed) << code;
    EXPECT_EQ(r.throttle, Throttle::kNone) << code;
    EXPECT_EQ(r.code, code);
    EXPECT_EQ(r.error, std::to_string(code) + ": bad (why)");
    EXPECT_FALSE(r.retry_after.has_value());
  }
}

TEST(CloudApiMapGraphResponseTest, TemporaryErrorsRetry) {
  SendResult five = MapGraphResponse(503, GraphError(131000, "Something went wrong"), 2s);
  EXPECT_EQ(five.outcome, Outcome::kRetry);
  EXPECT_EQ(five.throttle, Throttle::kNone);
  EXPECT_EQ(five.code, 131000);
  EXPECT_EQ(five.retry_after, std::optional<std::chrono::milliseconds>(2s));
  SendResult transient = MapGraphResponse(
      400, R"({"error":{"message":"try later","code":9999,"is_transient":true}})", std::nullopt);
  EXPECT_EQ(transient.outcome, Outcome::kRetry);
  EXPECT_EQ(transient.code, 9999);
}

TEST(CloudApiMapGraphResponseTest, ErrorWithoutCodeUsesHttpStatus) {
  SendResult r = MapGraphResponse(403, R"({"error":{"message":"Forbidden"}})", std::nullopt);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_EQ(r.code, 403);
  EXPECT_EQ(r.error, "403: Forbidden");
}

TEST(CloudApiMapGraphResponseTest, UnexpectedBodyIsQuotedShortAndSafe) {
  std::string body = "\x01<html>" + std::string(500, 'x') + "\xff";
  SendResult bad_gateway = MapGraphResponse(502, body, std::nullopt);
  EXPECT_EQ(bad_gateway.outcome, Outcome::kRetry);
  EXPECT_EQ(bad_gateway.code, 502);
  EXPECT_EQ(bad_gateway.error,
            "HTTP 502: unexpected answer: \"?<html>" + std::string(193, 'x') + "\"...");

  SendResult not_found = MapGraphResponse(404, "Not Found", std::nullopt);
  EXPECT_EQ(not_found.outcome, Outcome::kFailed);
  EXPECT_EQ(not_found.code, 404);
  EXPECT_EQ(not_found.error, "HTTP 404: unexpected answer: \"Not Found\"");

  SendResult not_graph = MapGraphResponse(400, R"({"error":"nope"})", std::nullopt);
  EXPECT_EQ(not_graph.outcome, Outcome::kFailed);
  EXPECT_EQ(not_graph.code, 400);
}

TEST(CloudApiMapGraphResponseTest, Status429WithoutGraphBodyThrottlesPhone) {
  SendResult r = MapGraphResponse(429, "slow down", 7s);
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.throttle, Throttle::kPhone);
  EXPECT_EQ(r.code, 429);
  EXPECT_EQ(r.retry_after, std::optional<std::chrono::milliseconds>(7s));
}

TEST(CloudApiMessageBodyTest, StripsEverythingButDigitsFromTo) {
  json body = json::parse(GraphMessageBody(Text("+49 (151) 123-45", "x")));
  EXPECT_EQ(body["to"], "4915112345");
  EXPECT_EQ(body["text"]["body"], "x");
}

}  // namespace
}  // namespace crm::channel
