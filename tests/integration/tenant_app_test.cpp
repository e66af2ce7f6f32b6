// The slice endpoints the tenant web app uses, end to end through the gateway (docs/api.md): the
// pairing QR code, the streamed export, CSV contact imports, conversation search and read
// marks, and broadcasts to a tag.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <regex>
#include <set>
#include <thread>

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
