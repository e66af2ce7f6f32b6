// Hostile input against a real crmd: JSON nested 100,000 deep (to a slice, and to the gateway
// through a validly signed webhook), bodies under the size limit that would not fit in a slice's
// memory, NUL characters, and numbers beyond every integer type. Each is refused with a 4xx that
// names the field or the limit, and neither the gateway nor the slice dies (their pids stay).
#include <signal.h>

#include <string>
#include <tuple>

#include "../integration/runtime_fixture.hpp"
#include "crm/channel/webhook.hpp"

namespace crm::testing {
namespace {

const std::string kAppSecret = "input-test-app-secret";

// `depth` arrays inside each other: "[[[…]]]".
std::string Nested(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class InputTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_WHATSAPP_APP_SECRET"] = kAppSecret;
  }

  // The gateway still answers, and is the process the test started.
  void ExpectGatewayAlive() {
    EXPECT_EQ(kill(crmd_->pid(), 0), 0);
    EXPECT_EQ(Fetch("GET", Url("/health")).status, 200);
  }

  // The tenant's slice answers, and is still the process `pid` (not restarted after a crash).
  void ExpectSliceAlive(const Tenant& t, const std::string& pid) {
    EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, t.Auth()).status, 200);
    EXPECT_EQ(SlicePid(t.slice), pid);
  }
};

TEST_F(InputTest, DeepJsonToTheSimulatorIsRefusedAndTheSliceLives) {
  Tenant ana = Register("ana@example.com");
  std::string pid = SlicePid(ana.slice);
  ASSERT_FALSE(pid.empty());
  // Each field the endpoint knows, so that the value is read (and was copied, then dumped into
  // the error message, recursing once per level).
  for (const auto& [method, path, field] :
       {std::tuple<std::string, std::string, std::string>{
            "PATCH", "/api/channel/simulator/settings", "latency_ms"},
        {"POST", "/api/channel/simulator/faults", "fail_rate"},
        {"POST", "/api/contacts", "tags"}}) {
    std::string deep = "{\"" + field + "\": " + Nested(100'000) + "}";
    auto r = Fetch(method, Url(path), deep, ana.AuthJson());
    EXPECT_EQ(r.status, 400) << path << " " << r.body;
    EXPECT_TRUE(Contains(r.body, "deeper than 64")) << r.body;
  }
  // 64 deep is still JSON we read (and refuse by shape, not by depth).
  auto r = Fetch("POST", Url("/api/channel/simulator/faults"),
                 R"({"fail_rate": )" + Nested(63) + "}", ana.AuthJson());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_FALSE(Contains(r.body, "deeper")) << r.body;
  ExpectSliceAlive(ana, pid);
  ExpectGatewayAlive();
}

TEST_F(InputTest, DeepJsonInASignedWebhookIsRefusedAndTheGatewayLives) {
  // A change for a slice's number: the gateway copies the change's value and dumps it for the
  // slice, recursing once per level.
  Tenant ana = Register("ana@example.com");
  auto set = Fetch("PUT", Url("/admin/slices/" + std::to_string(ana.slice) + "/channel"),
                   R"({"channel":"cloud-api","phone_number_id":"106540352242922"})",
                   {"Cookie: crm_session=" + Admin(), kJson});
  ASSERT_EQ(set.status, 200) << set.body;
  std::string body =
      R"({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": )"
      R"("messages", "value": {"metadata": {"phone_number_id": "106540352242922"}, )"
      R"("statuses": )" +
      Nested(100'000) + "}}]}]}";
  auto r = Fetch("POST", Url("/webhooks/whatsapp"), body,
                 {kJson, "X-Hub-Signature-256: " + channel::SignatureOf(body, kAppSecret)});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(Contains(r.body, "deeper than 64")) << r.body;
  ExpectGatewayAlive();
}

TEST_F(InputTest, ABroadcastOfMoreRecipientsThanTheCapIs413AndTheSliceLives) {
  Tenant ana = Register("ana@example.com");
  std::string pid = SlicePid(ana.slice);
  // 400,000 recipients as JSON: 6.4 MB, under the 32 MiB body limit.
  std::string json_body = R"({"name": "big", "text": "hi", "recipients": [)";
  for (int i = 0; i < 400'000; ++i) {
    json_body += (i ? ",\"+1415" : "\"+1415") + std::to_string(1'000'000 + i) + "\"";
  }
  json_body += "]}";
  auto r = Fetch("POST", Url("/api/broadcasts"), json_body, ana.AuthJson(), 60'000);
  EXPECT_EQ(r.status, 413) << r.body.substr(0, 500);
  EXPECT_TRUE(Contains(r.body, "50000")) << r.body.substr(0, 500);
  EXPECT_TRUE(Contains(r.body, "\"field\":\"recipients\"")) << r.body.substr(0, 500);
  ExpectSliceAlive(ana, pid);

  // 1,000,000 rows as CSV: 13 MB.
  std::string csv = "phone\n";
  for (int i = 0; i < 1'000'000; ++i) {
    csv += "+1415" + std::to_string(1'000'000 + i) + "\n";
  }
  r = Fetch("POST", Url("/api/broadcasts?name=big&text=hi"), csv,
            {"Cookie: crm_session=" + ana.token, "Content-Type: text/csv"}, 60'000);
  EXPECT_EQ(r.status, 413) << r.body.substr(0, 500);
  EXPECT_TRUE(Contains(r.body, "50000")) << r.body.substr(0, 500);
  ExpectSliceAlive(ana, pid);
  // Nothing was queued.
  r = Fetch("GET", Url("/api/broadcasts"), {}, ana.Auth());
  EXPECT_EQ(r.Json()["items"].size(), 0u) << r.body;
}

TEST_F(InputTest, AContactImportOfMoreRowsThanTheCapIs413AndTheSliceLives) {
  Tenant ana = Register("ana@example.com");
  std::string pid = SlicePid(ana.slice);
  std::string csv = "name,phone\n";
  for (int i = 0; i < 1'000'000; ++i) {
    csv += "C,+1415" + std::to_string(1'000'000 + i) + "\n";
  }
  auto r = Fetch("POST", Url("/api/contacts/import"), csv,
                 {"Cookie: crm_session=" + ana.token, "Content-Type: text/csv"}, 60'000);
  EXPECT_EQ(r.status, 413) << r.body.substr(0, 500);
  EXPECT_TRUE(Contains(r.body, "50000")) << r.body.substr(0, 500);
  ExpectSliceAlive(ana, pid);
  r = Fetch("GET", Url("/api/contacts"), {}, ana.Auth());
  EXPECT_EQ(r.Json()["items"].size(), 0u) << r.body.substr(0, 500);
  // Exactly the cap fits in the slice's memory and is imported.
  csv.resize(csv.find('\n', 11 + 50'000 * 15 - 1) + 1);
  r = Fetch("POST", Url("/api/contacts/import"), csv,
            {"Cookie: crm_session=" + ana.token, "Content-Type: text/csv"}, 60'000);
  EXPECT_EQ(r.status, 200) << r.body.substr(0, 500);
  EXPECT_EQ(r.Json().value("created", 0LL), 50'000) << r.body.substr(0, 500);
  ExpectSliceAlive(ana, pid);
}

TEST_F(InputTest, NulInAStringIsRefusedNamingTheFieldAndNothingIsStored) {
  Tenant ana = Register("ana@example.com");
  std::string pid = SlicePid(ana.slice);
  auto r = Fetch("POST", Url("/api/contacts"),
                 R"({"name": "Ana\u0000Evil", "phone": "+14155550101"})", ana.AuthJson());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Json().value("field", ""), "name") << r.body;
  r = Fetch("POST", Url("/api/contacts"),
            R"({"name": "Ana", "phone": "+14155550101", "tags": ["vip\u0000"]})", ana.AuthJson());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Json().value("field", ""), "tags") << r.body;
  std::string csv = std::string("name,phone\nAna") + '\0' + "Evil,+14155550101\n";
  r = Fetch("POST", Url("/api/contacts/import"), csv,
            {"Cookie: crm_session=" + ana.token, "Content-Type: text/csv"});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(Contains(r.body, "line 2: name")) << r.body;
  r = Fetch("GET", Url("/api/contacts?q=Ana%00"), {}, ana.Auth());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Json().value("field", ""), "q") << r.body;
  r = Fetch("POST", Url("/api/broadcasts?name=x%00y&text=hi"), "phone\n+14155550101\n",
            {"Cookie: crm_session=" + ana.token, "Content-Type: text/csv"});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Json().value("field", ""), "name") << r.body;
  // Nothing was stored, truncated or otherwise.
  r = Fetch("GET", Url("/api/contacts"), {}, ana.Auth());
  EXPECT_EQ(r.Json()["items"].size(), 0u) << r.body;
  r = Fetch("GET", Url("/api/broadcasts"), {}, ana.Auth());
  EXPECT_EQ(r.Json()["items"].size(), 0u) << r.body;
  ExpectSliceAlive(ana, pid);
}

TEST_F(InputTest, NumbersBeyondEveryIntegerTypeAre400AndIdsThatCannotExist404) {
  Tenant ana = Register("ana@example.com");
  std::string pid = SlicePid(ana.slice);
  for (const std::string path :
       {"/api/contacts?cursor=99999999999999999999",
        "/api/conversations?cursor=99999999999999999999",
        "/api/broadcasts?cursor=99999999999999999999", "/api/contacts?limit=99999999999999999999",
        "/api/contacts/99999999999999999999", "/api/conversations/99999999999999999999/messages",
        "/api/broadcasts/99999999999999999999", "/api/contacts?cursor=-1",
        "/api/contacts?cursor=1e3"}) {
    auto r = Fetch("GET", Url(path), {}, ana.Auth());
    EXPECT_EQ(r.status, 400) << path << " " << r.body;
  }
  // Beyond int32 but a valid bigint: an empty page, or no such thing.
  for (const std::string path :
       {"/api/contacts?cursor=99999999999", "/api/conversations?cursor=99999999999",
        "/api/broadcasts?cursor=99999999999", "/api/conversations/1/messages?cursor=99999999999"}) {
    auto r = Fetch("GET", Url(path), {}, ana.Auth());
    EXPECT_TRUE(r.status == 200 || r.status == 404) << path << " " << r.status << " " << r.body;
  }
  for (const std::string path : {"/api/contacts/99999999999", "/api/broadcasts/99999999999",
                                 "/api/conversations/99999999999"}) {
    auto r = Fetch("GET", Url(path), {}, ana.Auth());
    EXPECT_EQ(r.status, 404) << path << " " << r.body;
  }
  std::string admin = Admin();
  for (const std::string path :
       {"/admin/slices/99999999999999999999", "/admin/alerts?limit=99999"}) {
    auto r = Fetch("GET", Url(path), {}, {"Cookie: crm_session=" + admin});
    EXPECT_EQ(r.status, 400) << path << " " << r.body;
  }
  auto r = Fetch("GET", Url("/admin/slices/99999999999"), {}, {"Cookie: crm_session=" + admin});
  EXPECT_EQ(r.status, 404) << r.body;
  ExpectSliceAlive(ana, pid);
  ExpectGatewayAlive();
}

}  // namespace
}  // namespace crm::testing
