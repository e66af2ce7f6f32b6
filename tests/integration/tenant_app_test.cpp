// The slice endpoints the tenant web app uses, end to end through the gateway (docs/api.md): the
// pairing QR code, the streamed export, CSV contact imports, conversation search and read
// marks, and broadcasts to a tag.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <regex>
#include <set>
#include <thread>
#include <tuple>

#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

class TenantAppTest : public RuntimeTest {
 protected:
  std::string Schema(const Tenant& t) const { return "slice_" + std::to_string(t.slice); }

  // The export's lines, each parsed (a line that does not parse fails the test).
  std::vector<json> ExportLines(const HttpResult& r) {
    std::vector<json> lines;
    std::size_t pos = 0;
    while (pos < r.body.size()) {
      std::size_t end = r.body.find('\n', pos);
      EXPECT_NE(end, std::string::npos) << "every line ends with a newline";
      if (end == std::string::npos) {
        break;
      }
      std::string line = r.body.substr(pos, end - pos);
      try {
        lines.push_back(json::parse(line));
      } catch (const json::exception& e) {
        ADD_FAILURE() << "line " << lines.size() + 1 << " does not parse: " << e.what() << "\n"
                      << line;
      }
      pos = end + 1;
    }
    return lines;
  }

  static std::map<std::string, int> CountTypes(const std::vector<json>& lines) {
    std::map<std::string, int> counts;
    for (const auto& l : lines) {
      ++counts[l.value("type", "?")];
    }
    return counts;
  }
};

TEST_F(TenantAppTest, TheQrCodeIsAnUncachedSvgUntilTheChannelIsConnectedThen404) {
  Tenant t = Register("qr@example.com");
  auto svg = Fetch("GET", Url("/api/channel/qr.svg"), {}, t.Auth());
  ASSERT_EQ(svg.status, 200) << svg.body;
  EXPECT_EQ(svg.headers["content-type"], "image/svg+xml");
  EXPECT_EQ(svg.headers["cache-control"], "no-store");
  EXPECT_EQ(svg.body.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u) << svg.body;
  EXPECT_NE(svg.body.find("shape-rendering=\"crispEdges\""), std::string::npos);
  EXPECT_EQ(Fetch("GET", Url("/api/channel/qr.svg"), {}).status, 401) << "a session is needed";

  json channel = Fetch("GET", Url("/api/channel"), {}, t.Auth()).Json();
  ASSERT_TRUE(channel["qr"].is_string()) << channel;
  auto paired = Fetch("POST", Url("/api/channel/simulator/pair"),
                      json{{"qr", channel["qr"]}}.dump(), t.AuthJson());
  ASSERT_EQ(paired.status, 200) << paired.body;
  auto gone = Fetch("GET", Url("/api/channel/qr.svg"), {}, t.Auth());
  EXPECT_EQ(gone.status, 404) << gone.body;
  EXPECT_EQ(gone.Json()["error"], "no QR code to show: the channel is connected") << gone.body;

  // A logout shows a new code, and so a new image.
  ASSERT_EQ(Fetch("POST", Url("/api/channel/simulator/logout"), {}, t.AuthJson()).status, 200);
  auto again = Fetch("GET", Url("/api/channel/qr.svg"), {}, t.Auth());
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_NE(again.body, svg.body);
}

TEST_F(TenantAppTest, TheExportStreamsEveryRowOfTheTenantAndNothingOfAnother) {
  Tenant ana = Register("ana@example.com");
  Tenant bob = Register("bob@example.com");
  CreateContact(ana, "Ana's first", "+14155550100");
  CreateContact(bob, "Bob's only", "+14155550999");
  // A few thousand messages: 300 more contacts, a conversation for each of the 301, ten messages
  // in each.
  const std::string s = Schema(ana);
  ASSERT_EQ(
      Sql(pg_->ConnectionString(),
          "INSERT INTO " + s +
              ".contacts (name, phone, tags) SELECT 'Client ' || i, '+4930' || (1000000 + i), "
              "ARRAY['bulk'] FROM generate_series(1, 300) i;"
              "INSERT INTO " +
              s + ".conversations (contact_id) SELECT id FROM " + s +
              ".contacts;"
              "INSERT INTO " +
              s +
              ".messages (conversation_id, direction, body, status) SELECT v.id, 'inbound', "
              "'Hello \"quoted\" ünïcode ' || n, 'received' FROM " +
              s + ".conversations v, generate_series(1, 10) n"),
      "");
  auto broadcast =
      Fetch("POST", Url("/api/broadcasts"),
            json{{"name", "Launch"}, {"text", "Hi"}, {"recipients", {"+14155550100"}}}.dump(),
            ana.AuthJson());
  ASSERT_EQ(broadcast.status, 202) << broadcast.body;

  auto r = Fetch("GET", Url("/api/export"), {}, ana.Auth(), 60'000);
  ASSERT_EQ(r.status, 200) << r.error << r.body.substr(0, 500);
  EXPECT_EQ(r.headers["content-type"], "application/x-ndjson; charset=utf-8");
  EXPECT_TRUE(std::regex_match(
      r.headers["content-disposition"],
      std::regex(R"re(attachment; filename="crm-export-\d{4}-\d{2}-\d{2}\.jsonl")re")))
      << r.headers["content-disposition"];
  EXPECT_EQ(r.headers["transfer-encoding"], "chunked") << "streamed, not buffered whole";
  std::vector<json> lines = ExportLines(r);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0]["type"], "export");
  EXPECT_EQ(lines[0]["format"], 1);
  EXPECT_EQ(lines[0]["slice"], ana.slice);
  EXPECT_TRUE(lines[0]["created_at"].is_string()) << lines[0];
  auto counts = CountTypes(lines);
  EXPECT_EQ(counts["export"], 1);
  EXPECT_EQ(counts["contact"], 301);
  EXPECT_EQ(counts["conversation"], 301);
  EXPECT_EQ(counts["message"], 3010);
  EXPECT_EQ(counts["broadcast"], 1);
  EXPECT_EQ(counts.size(), 5u);
  std::set<long long> message_ids;
  for (const auto& l : lines) {
    if (l["type"] == "message") {
      for (const char* field :
           {"id", "conversation_id", "direction", "body", "status", "error", "created_at"}) {
        EXPECT_TRUE(l.contains(field)) << field << " missing in " << l;
      }
      message_ids.insert(l["id"].get<long long>());
    }
    if (l["type"] == "conversation") {
      EXPECT_TRUE(l["contact"].is_object()) << l;
    }
    if (l["type"] == "broadcast") {
      EXPECT_EQ(l["total"], 1) << l;
      EXPECT_EQ(l["name"], "Launch") << l;
    }
  }
  EXPECT_EQ(message_ids.size(), 3010u) << "no message twice";
  EXPECT_EQ(r.body.find("Bob's only"), std::string::npos);

  auto other = Fetch("GET", Url("/api/export"), {}, bob.Auth(), 60'000);
  ASSERT_EQ(other.status, 200) << other.body;
  std::vector<json> bob_lines = ExportLines(other);
  auto bob_counts = CountTypes(bob_lines);
  EXPECT_EQ(bob_lines.at(0)["slice"], bob.slice);
  EXPECT_EQ(bob_counts["contact"], 1);
  EXPECT_EQ(bob_counts["message"], 0);
  EXPECT_EQ(bob_counts["broadcast"], 0);
  EXPECT_EQ(other.body.find("Client "), std::string::npos) << "none of Ana's rows";
  EXPECT_EQ(other.body.find("+14155550100"), std::string::npos);

  EXPECT_EQ(Fetch("GET", Url("/api/export"), {}).status, 401) << "the session is checked";
}

}  // namespace
}  // namespace crm::testing

namespace crm::testing {
namespace {

TEST_F(TenantAppTest, ACsvImportCreatesContactsSkipsKnownPhonesAndRefusesABadFileWhole) {
  Tenant t = Register("import@example.com");
  CreateContact(t, "Known", "+14155550100");
  std::vector<std::string> csv = {"Cookie: crm_session=" + t.token, "Content-Type: text/csv"};
  auto r = Fetch("POST", Url("/api/contacts/import"),
                 "Name,Phone,Tags\n"
                 "Ana,+1 415 555 0101,vip|lisbon\n"
                 "Known again,+14155550100,\n"
                 "Bob,+44 7700 900123,\n",
                 csv);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json(), (json{{"created", 2}, {"skipped", 1}}));
  json ana = Fetch("GET", Url("/api/contacts?q=Ana"), {}, t.Auth()).Json()["items"];
  ASSERT_EQ(ana.size(), 1u) << ana;
  EXPECT_EQ(ana[0]["phone"], "+14155550101");
  EXPECT_EQ(ana[0]["tags"], (json{"vip", "lisbon"}));

  auto bad =
      Fetch("POST", Url("/api/contacts/import"), "name,phone\nCy,+14155550102\nDee,12345\n", csv);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("line 3: phone: expected an E.164 number"), std::string::npos)
      << bad.body;
  EXPECT_EQ(Fetch("GET", Url("/api/contacts?q=Cy"), {}, t.Auth()).Json()["items"].size(), 0u)
      << "nothing of a refused file is inserted";
  EXPECT_EQ(Fetch("POST", Url("/api/contacts/import"), "name,phone\n", t.AuthJson()).status, 415);
}

TEST_F(TenantAppTest, ConversationsAreSearchedByContactNameOrPhoneAndMarkedRead) {
  Tenant t = Register("inbox@example.com");
  long long ana = CreateContact(t, "Ana Lima", "+14155550101");
  long long bob = CreateContact(t, "Bob", "+447700900123");
  long long ana_conv = 0;
  for (long long contact : {ana, bob}) {
    auto c = Fetch("POST", Url("/api/conversations"), json{{"contact_id", contact}}.dump(),
                   t.AuthJson());
    ASSERT_EQ(c.status, 201) << c.body;
    if (contact == ana) {
      ana_conv = c.Json()["id"].get<long long>();
    }
  }
  auto names = [&](const std::string& q) {
    std::vector<std::string> out;
    auto page = Fetch("GET", Url("/api/conversations?q=" + q), {}, t.Auth());
    EXPECT_EQ(page.status, 200) << page.body;
    json body = page.Json();  // kept: a range-for over a temporary's member would dangle
    for (const auto& c : body["items"]) {
      out.push_back(c["contact"]["name"]);
    }
    return out;
  };
  EXPECT_EQ(names("lIm"), std::vector<std::string>{"Ana Lima"});
  EXPECT_EQ(names("%2B44"), std::vector<std::string>{"Bob"});
  EXPECT_EQ(names("o"), (std::vector<std::string>{"Bob"}));
  EXPECT_EQ(names(""), (std::vector<std::string>{"Bob", "Ana Lima"}));
  EXPECT_TRUE(names("%25").empty()) << "% is matched literally";

  for (int i = 0; i < 2; ++i) {
    auto m = Fetch("POST", Url("/api/conversations/" + std::to_string(ana_conv) + "/messages"),
                   json{{"body", "hi"}, {"direction", "inbound"}}.dump(), t.AuthJson());
    ASSERT_EQ(m.status, 201) << m.body;
  }
  const std::string read = "/api/conversations/" + std::to_string(ana_conv) + "/read";
  // Mark read until the open event stream has seen it: the stream's start is not observable.
  std::atomic<bool> done = false;
  std::thread marker([&] {
    while (!done) {
      Fetch("POST", Url(read), {}, t.Auth());
      std::this_thread::sleep_for(100ms);
    }
  });
  auto events = Fetch("GET", Url("/api/events"), {}, t.Auth(), 2'000);
  done = true;
  marker.join();
  EXPECT_NE(events.body.find("event: conversation.updated"), std::string::npos) << events.body;
  EXPECT_NE(events.body.find("\"unread\":0"), std::string::npos) << events.body;
  auto r = Fetch("POST", Url(read), {}, t.Auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["unread"], 0);
  EXPECT_EQ(r.Json()["contact"]["name"], "Ana Lima");
  EXPECT_EQ(Fetch("GET", Url("/api/conversations/" + std::to_string(ana_conv)), {}, t.Auth())
                .Json()["unread"],
            0);
  EXPECT_EQ(Fetch("POST", Url("/api/conversations/999999/read"), {}, t.Auth()).status, 404);
}

TEST_F(TenantAppTest, ABroadcastToATagGoesToTheContactsCarryingIt) {
  Tenant t = Register("tag@example.com");
  for (const auto& [name, phone, tags] : std::vector<std::tuple<std::string, std::string, json>>{
           {"Ana", "+14155550101", {"vip"}},
           {"Bob", "+14155550102", {"vip", "lisbon"}},
           {"Cy", "+14155550103", {"lisbon"}}}) {
    auto c = Fetch("POST", Url("/api/contacts"),
                   json{{"name", name}, {"phone", phone}, {"tags", tags}}.dump(), t.AuthJson());
    ASSERT_EQ(c.status, 201) << c.body;
  }
  auto r = Fetch("POST", Url("/api/broadcasts"),
                 json{{"name", "VIPs"}, {"text", "Hi"}, {"tag", "vip"}}.dump(), t.AuthJson());
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.Json()["total"], 2);
  long long id = r.Json()["id"].get<long long>();
  // Its recipients: tasks once claimed, the broadcast's audience until then
  // (0009_broadcast_audience.sql).
  std::string of = " WHERE broadcast_id = " + std::to_string(id);
  EXPECT_EQ(
      Sql(pg_->ConnectionString(),
          "SELECT string_agg(r, ',' ORDER BY r) FROM (SELECT recipient FROM " + Schema(t) +
              ".outbound_tasks" + of + " UNION ALL SELECT unnest(recipients[taken + 1:]) FROM " +
              Schema(t) + ".broadcast_audience" + of + ") s(r)"),
      "+14155550101,+14155550102");

  auto none = Fetch("POST", Url("/api/broadcasts"),
                    json{{"name", "x"}, {"text", "Hi"}, {"tag", "nobody"}}.dump(), t.AuthJson());
  EXPECT_EQ(none.status, 400) << none.body;
  EXPECT_EQ(none.Json()["field"], "tag");
  auto both = Fetch(
      "POST", Url("/api/broadcasts"),
      json{{"name", "x"}, {"text", "Hi"}, {"tag", "vip"}, {"recipients", {"+14155550101"}}}.dump(),
      t.AuthJson());
  EXPECT_EQ(both.status, 400) << both.body;
  EXPECT_EQ(both.Json()["field"], "tag");
  auto neither = Fetch("POST", Url("/api/broadcasts"), json{{"name", "x"}, {"text", "Hi"}}.dump(),
                       t.AuthJson());
  EXPECT_EQ(neither.status, 400) << neither.body;
  EXPECT_EQ(neither.Json()["field"], "recipients");
}

}  // namespace
}  // namespace crm::testing
