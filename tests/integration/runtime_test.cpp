// The runtime end to end: a real PostgreSQL, a real `crmd --role all` with its slice processes,
// real HTTP over loopback (docs/architecture.md, "The runtime").
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <thread>

#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

// /proc/<pid>/cmdline with its NULs as spaces, trailing ones dropped ("" once it has gone).
std::string CommandLine(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/cmdline");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\0') {
    text.pop_back();
  }
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

// The parent pid of `pid`, from /proc/<pid>/stat ("" once it has gone).
std::string ParentOf(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) {
    return "";
  }
  std::istringstream rest(stat.substr(paren + 2));
  std::string state;
  std::string parent;
  rest >> state >> parent;
  return parent;
}

TEST_F(RuntimeTest, RegisterGetsAWarmSliceAtOnceAndContactsWorkThroughTheGateway) {
  auto r = Fetch("POST", Url("/auth/register"),
                 json{{"email", "Ana@Example.com"}, {"password", kPassword}}.dump(), {kJson});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Json()["slice"]["state"], "assigned");
  EXPECT_EQ(r.Json()["user"]["email"], "ana@example.com");
  const std::string cookie = r.headers["set-cookie"];
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Secure"), std::string::npos)
      << "plain-HTTP localhost: no Secure flag; " << cookie;
  std::string token = CookieValue(cookie, "crm_session");
  EXPECT_EQ(token.size(), 43u) << "256 random bits, base64url";
  // Only the token's hash is stored.
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT count(*) FROM gateway.sessions WHERE token_hash::text LIKE '%" +
                    token.substr(0, 10) + "%'"),
            "0");

  std::string login = Login("ana@example.com", kPassword, "198.51.100.1");
  Tenant ana{login, r.Json()["slice"]["id"].get<long long>(),
             r.Json()["user"]["id"].get<long long>()};
  auto me = Fetch("GET", Url("/auth/me"), {}, ana.Auth());
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(me.Json()["slice"]["id"], ana.slice);

  long long id = CreateContact(ana, "Bob Martin", "+1 (415) 555-0123");
  auto got = Fetch("GET", Url("/api/contacts/" + std::to_string(id)), {}, ana.Auth());
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.Json()["phone"], "+14155550123");
  CreateContact(ana, "Carla", "+5511987654321");
  auto list = Fetch("GET", Url("/api/contacts?q=bob"), {}, ana.Auth());
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.Json()["items"].size(), 1u);
  EXPECT_EQ(list.Json()["items"][0]["name"], "Bob Martin");
  auto page = Fetch("GET", Url("/api/contacts?limit=1"), {}, ana.Auth());
  ASSERT_EQ(page.Json()["items"].size(), 1u);
  std::string cursor = page.Json()["next_cursor"].get<std::string>();
  auto next = Fetch("GET", Url("/api/contacts?limit=1&cursor=" + cursor), {}, ana.Auth());
  EXPECT_EQ(next.Json()["items"][0]["name"], "Carla");

  auto patched = Fetch("PATCH", Url("/api/contacts/" + std::to_string(id)),
                       R"({"tags":["vip","lead"]})", ana.AuthJson());
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.Json()["tags"], json({"vip", "lead"}));
  auto conversation =
      Fetch("POST", Url("/api/conversations"), json{{"contact_id", id}}.dump(), ana.AuthJson());
  ASSERT_EQ(conversation.status, 201) << conversation.body;
  std::string conv = std::to_string(conversation.Json()["id"].get<long long>());
  auto message = Fetch("POST", Url("/api/conversations/" + conv + "/messages"),
                       R"({"body":"Olá!"})", ana.AuthJson());
  ASSERT_EQ(message.status, 201) << message.body;
  EXPECT_EQ(message.Json()["status"], "queued");
  auto messages = Fetch("GET", Url("/api/conversations/" + conv + "/messages"), {}, ana.Auth());
  EXPECT_EQ(messages.Json()["items"][0]["body"], "Olá!");
  auto status = Fetch("GET", Url("/api/status"), {}, ana.Auth());
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(status.Json()["state"], "running");
  EXPECT_TRUE(status.Json().contains("uptime_s"));

  EXPECT_EQ(Fetch("DELETE", Url("/api/contacts/" + std::to_string(id)), {}, ana.Auth()).status,
            204);
  EXPECT_EQ(Fetch("GET", Url("/api/contacts/" + std::to_string(id)), {}, ana.Auth()).status, 404);
  EXPECT_EQ(Fetch("POST", Url("/auth/logout"), {}, ana.Auth()).status, 204);
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, ana.Auth()).status, 401);
}

TEST_F(RuntimeTest, ASecondTenantCannotReadOrChangeTheFirstsDataAndPostgresRefusesTheSliceRole) {
  Tenant ana = Register("ana@example.com");
  Tenant eve = Register("eve@example.com");
  ASSERT_NE(ana.slice, 0);
  ASSERT_NE(eve.slice, 0);
  ASSERT_NE(ana.slice, eve.slice);
  long long id = CreateContact(ana, "Secret Client", "+447700900123");
  const std::string path = "/api/contacts/" + std::to_string(id);

  // Eve's ids resolve in Eve's slice: Ana's contact does not exist there.
  EXPECT_EQ(Fetch("GET", Url(path), {}, eve.Auth()).status, 404);
  EXPECT_EQ(Fetch("PATCH", Url(path), R"({"name":"pwned"})", eve.AuthJson()).status, 404);
  EXPECT_EQ(Fetch("DELETE", Url(path), {}, eve.Auth()).status, 404);
  EXPECT_EQ(Fetch("GET", Url("/api/contacts?q=Secret"), {}, eve.Auth()).Json()["items"].size(), 0u);
  // Headers claiming another identity or slice are dropped by the gateway.
  for (const auto& forged :
       {"X-Crm-User-Id: " + std::to_string(ana.user), "X-Slice-Id: " + std::to_string(ana.slice),
        std::string("X-Forwarded-For: 127.0.0.1"), "Host: slice-" + std::to_string(ana.slice)}) {
    auto headers = eve.Auth();
    headers.push_back(forged);
    auto r = Fetch("GET", Url(path), {}, headers);
    EXPECT_EQ(r.status, 404) << forged << ": " << r.body;
  }
  // Paths that would escape /api or encode separators are refused before any routing.
  for (const auto* bad : {"/api/../admin/slices", "/api/%2e%2e/admin/slices", "/api/contacts%2f1",
                          "/api//contacts"}) {
    auto r = Fetch("GET", Url(bad), {}, eve.Auth());
    EXPECT_TRUE(r.status == 400 || r.status == 404) << bad << " → " << r.status << " " << r.body;
    EXPECT_NE(r.body.find("error"), std::string::npos);
  }
  // A tenant's session is no admin's.
  EXPECT_EQ(Fetch("GET", Url("/admin/slices"), {}, eve.Auth()).status, 403);
  // Ana's data is untouched.
  auto mine = Fetch("GET", Url(path), {}, ana.Auth());
  ASSERT_EQ(mine.status, 200);
  EXPECT_EQ(mine.Json()["name"], "Secret Client");

  // PostgreSQL itself refuses Eve's slice role everything outside its own schema.
  std::string as_eve = pg_->ConnectionString() + " user=slice_" + std::to_string(eve.slice);
  EXPECT_EQ(Sql(as_eve, "SELECT count(*) FROM contacts"), "0");
  std::string other =
      Sql(as_eve, "SELECT count(*) FROM slice_" + std::to_string(ana.slice) + ".contacts");
  EXPECT_NE(other.find("permission denied for schema slice_" + std::to_string(ana.slice)),
            std::string::npos)
      << other;
  std::string gateway = Sql(as_eve, "SELECT count(*) FROM gateway.users");
  EXPECT_NE(gateway.find("permission denied for schema gateway"), std::string::npos) << gateway;
  std::string set_role = Sql(as_eve, "SET ROLE slice_" + std::to_string(ana.slice));
  EXPECT_NE(set_role.find("permission denied"), std::string::npos) << set_role;
}

TEST_F(RuntimeTest, AKilledSliceIsBackWithin2SecondsWithItsDataAndInFlightRequestsFailCleanly) {
  Tenant ana = Register("ana@example.com");
  long long id = CreateContact(ana, "Kept", "+14155550100");
  std::string pid = SlicePid(ana.slice);
  ASSERT_FALSE(pid.empty());

  std::atomic<bool> stop{false};
  std::vector<long> statuses;
  std::vector<double> durations;
  std::thread load([&] {
    while (!stop) {
      auto r = Fetch("GET", Url("/api/contacts"), {}, ana.Auth(), 10'000);
      statuses.push_back(r.status);
      durations.push_back(r.seconds);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(::kill(std::stoi(pid), SIGKILL), 0);
  auto killed = std::chrono::steady_clock::now();
  double back_after = -1;
  while (std::chrono::steady_clock::now() - killed < std::chrono::seconds(5)) {
    auto r = Fetch("GET", Url("/api/contacts/" + std::to_string(id)), {}, ana.Auth(), 2'000);
    if (r.status == 200) {
      back_after = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
      EXPECT_EQ(r.Json()["name"], "Kept");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  load.join();
  EXPECT_GE(back_after, 0) << "the slice did not come back";
  EXPECT_LT(back_after, 2.0);
  EXPECT_NE(SlicePid(ana.slice), pid);
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    EXPECT_TRUE(statuses[i] == 200 || statuses[i] == 502 || statuses[i] == 503)
        << "status " << statuses[i];
    EXPECT_LT(durations[i], 5.0) << "a request hung";
  }
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT restarts >= 1 FROM gateway.slices WHERE id = " + std::to_string(ana.slice)),
            "t");
}

// Slices are forked by one launcher process (docs/architecture.md, "Processes"), and supervised
// as exec'd ones were: each shows as `--role slice --slice-id N`; one killed is restarted, with
// its exit status recorded (the launcher reports it); the launcher killed takes its slices with
// it, and a new launcher starts them again.
TEST_F(RuntimeTest, SlicesAreForkedByOneLauncherAndRestartedAfterItsOrTheirKill) {
  Tenant ana = Register("ana@example.com");
  Tenant bob = Register("bob@example.com");
  long long kept = CreateContact(ana, "Kept", "+14155550100");
  std::string ana_pid = SlicePid(ana.slice);
  std::string bob_pid = SlicePid(bob.slice);
  ASSERT_FALSE(ana_pid.empty());
  ASSERT_FALSE(bob_pid.empty());
  std::string launcher = ParentOf(ana_pid);
  EXPECT_EQ(ParentOf(bob_pid), launcher);
  EXPECT_EQ(ParentOf(launcher), std::to_string(crmd_->pid()));
  EXPECT_NE(CommandLine(launcher).find(" --role slice-launcher"), std::string::npos)
      << CommandLine(launcher);
  EXPECT_TRUE(CommandLine(ana_pid).ends_with(" --role slice --slice-id " +
                                             std::to_string(ana.slice)))
      << CommandLine(ana_pid);

  // A new pid in gateway.slices for `slice` (other than `old`), healthy; "" after 10 s.
  auto restarted = [&](const Tenant& t, const std::string& old) {
    for (int i = 0; i < 500; ++i) {
      std::string pid = SlicePid(t.slice);
      if (!pid.empty() && pid != old &&
          Sql(pg_->ConnectionString(), "SELECT health FROM gateway.slices WHERE id = " +
                                           std::to_string(t.slice)) == "healthy") {
        return pid;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::string();
  };

  ASSERT_EQ(::kill(std::stoi(ana_pid), SIGKILL), 0);
  std::string ana_again = restarted(ana, ana_pid);
  ASSERT_FALSE(ana_again.empty()) << "ana's slice was not restarted";
  EXPECT_EQ(ParentOf(ana_again), launcher);
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT last_error FROM gateway.slices WHERE id = " + std::to_string(ana.slice)),
            "process exited (status 9)");
  EXPECT_EQ(SlicePid(bob.slice), bob_pid) << "another slice was restarted too";

  ASSERT_EQ(::kill(std::stoi(launcher), SIGKILL), 0);
  std::string ana_third = restarted(ana, ana_again);
  std::string bob_again = restarted(bob, bob_pid);
  ASSERT_FALSE(ana_third.empty()) << "ana's slice did not come back after the launcher's kill";
  ASSERT_FALSE(bob_again.empty()) << "bob's slice did not come back after the launcher's kill";
  std::string second_launcher = ParentOf(ana_third);
  EXPECT_NE(second_launcher, launcher);
  EXPECT_EQ(ParentOf(bob_again), second_launcher);
  EXPECT_EQ(ParentOf(second_launcher), std::to_string(crmd_->pid()));
  auto r = Fetch("GET", Url("/api/contacts/" + std::to_string(kept)), {}, ana.Auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["name"], "Kept");
}

TEST_F(RuntimeTest, SuspendAnswers423KeepsDataResumeRestoresDestroyRemovesSchemaRoleAndFiles) {
  Tenant ana = Register("ana@example.com");
  CreateContact(ana, "Kept", "+14155550100");
  std::string admin = Admin();
  std::vector<std::string> as_admin = {"Cookie: crm_session=" + admin};
  std::string slice = std::to_string(ana.slice);

  EXPECT_EQ(Fetch("GET", Url("/admin/slices"), {}, ana.Auth()).status, 403);
  auto suspended = Fetch("POST", Url("/admin/slices/" + slice + "/suspend"), {}, as_admin);
  ASSERT_EQ(suspended.status, 200) << suspended.body;
  EXPECT_EQ(suspended.Json()["state"], "suspended");
  auto locked = Fetch("GET", Url("/api/contacts"), {}, ana.Auth());
  EXPECT_EQ(locked.status, 423);
  EXPECT_NE(locked.body.find("suspended"), std::string::npos) << locked.body;
  EXPECT_NE(locked.body.find("data is kept"), std::string::npos) << locked.body;
  EXPECT_EQ(Sql(pg_->ConnectionString(), "SELECT count(*) FROM slice_" + slice + ".contacts"), "1");
  EXPECT_EQ(Fetch("POST", Url("/admin/slices/" + slice + "/suspend"), {}, as_admin).status, 409)
      << "suspended → suspended is not a transition";

  auto resumed = Fetch("POST", Url("/admin/slices/" + slice + "/resume"), {}, as_admin);
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  auto back = Fetch("GET", Url("/api/contacts"), {}, ana.Auth());
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(back.Json()["items"][0]["name"], "Kept");

  ASSERT_TRUE(fs::exists(data_ / "slices" / slice));
  auto destroyed = Fetch("DELETE", Url("/admin/slices/" + slice), {}, as_admin);
  ASSERT_EQ(destroyed.status, 200) << destroyed.body;
  EXPECT_EQ(destroyed.Json()["state"], "destroyed");
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'slice_" + slice + "'"),
            "0");
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT count(*) FROM pg_roles WHERE rolname = 'slice_" + slice + "'"),
            "0");
  EXPECT_FALSE(fs::exists(data_ / "slices" / slice));
  auto gone = Fetch("GET", Url("/api/contacts"), {}, ana.Auth());
  EXPECT_EQ(gone.status, 410) << gone.body;
  EXPECT_EQ(Fetch("GET", Url("/auth/me"), {}, ana.Auth()).Json()["slice"]["state"], "destroyed");
  EXPECT_EQ(Fetch("POST", Url("/admin/slices/" + slice + "/resume"), {}, as_admin).status, 409);
  // The lifecycle is on record.
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT string_agg(to_state, ',' ORDER BY id) FROM gateway.slice_events WHERE "
                "slice_id = " +
                    slice),
            "provisioning,available,assigned,suspended,assigned,destroying,destroyed");
}

TEST_F(RuntimeTest, BadInputGetsClearErrorsAndNothingCrashes) {
  Tenant ana = Register("ana@example.com");
  auto malformed =
      Fetch("POST", Url("/api/contacts"), "{\"name\": \"x\",\n \"phone\": }", ana.AuthJson());
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(malformed.body.find("malformed JSON at line 2"), std::string::npos) << malformed.body;
  auto wrong_type =
      Fetch("POST", Url("/api/contacts"), "name=x", {ana.Auth()[0], "Content-Type: text/plain"});
  EXPECT_EQ(wrong_type.status, 415) << wrong_type.body;
  auto phone =
      Fetch("POST", Url("/api/contacts"), R"({"name":"x","phone":"12345"})", ana.AuthJson());
  EXPECT_EQ(phone.status, 400);
  EXPECT_EQ(phone.Json()["field"], "phone");
  auto unknown =
      Fetch("POST", Url("/api/contacts"), R"({"nmae":"x","phone":"+14155550100"})", ana.AuthJson());
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("nmae"), std::string::npos);
  auto duplicate = CreateContact(ana, "One", "+14155550100");
  EXPECT_GT(duplicate, 0);
  EXPECT_EQ(Fetch("POST", Url("/api/contacts"), R"({"name":"Two","phone":"+14155550100"})",
                  ana.AuthJson())
                .status,
            409);
  EXPECT_EQ(Fetch("GET", Url("/api/contacts/abc"), {}, ana.Auth()).status, 400);
  EXPECT_EQ(Fetch("GET", Url("/api/contacts?limit=100000"), {}, ana.Auth()).status, 400);
  std::string huge(2 << 20, 'x');
  auto oversized =
      Fetch("POST", Url("/api/contacts"), "{\"name\":\"" + huge + "\"}", ana.AuthJson());
  EXPECT_EQ(oversized.status, 413) << oversized.error;
  EXPECT_EQ(Fetch("POST", Url("/auth/register"),
                  R"({"email":"not-an-email","password":"long enough pw"})", {kJson})
                .status,
            400);
  EXPECT_EQ(Fetch("POST", Url("/auth/register"), R"({"email":"a@example.com","password":"short"})",
                  {kJson})
                .status,
            400);
  EXPECT_EQ(Fetch("POST", Url("/auth/register"),
                  json{{"email", "ana@example.com"}, {"password", kPassword}}.dump(), {kJson})
                .status,
            409);

  // Forged and expired tokens.
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {},
                  {"Cookie: crm_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
                .status,
            401);
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, {"Authorization: Bearer forged"}).status, 401);
  std::string fresh = Login("ana@example.com", kPassword, "198.51.100.7");
  Sql(pg_->ConnectionString(),
      "UPDATE gateway.sessions SET expires_at = now() - interval '1 second'");
  auto expired = Fetch("GET", Url("/api/contacts"), {}, {"Cookie: crm_session=" + fresh});
  EXPECT_EQ(expired.status, 401) << expired.body;

  // A cross-site form post carries a foreign Origin: refused.
  Tenant eve = Register("eve@example.com");
  auto cross = Fetch("POST", Url("/api/contacts"), R"({"name":"x","phone":"+14155550199"})",
                     {eve.AuthJson()[0], kJson, "Origin: https://evil.example"});
  EXPECT_EQ(cross.status, 403) << cross.body;
  auto same = Fetch("POST", Url("/api/contacts"), R"({"name":"x","phone":"+14155550199"})",
                    {eve.AuthJson()[0], kJson, "Origin: " + crmd_->url()});
  EXPECT_EQ(same.status, 201) << same.body;
  EXPECT_EQ(Fetch("GET", Url("/health")).status, 200);
}

TEST_F(RuntimeTest, AThousandParallelLoginAttemptsAreLimitedAndTheServerStaysUp) {
  Register("ana@example.com");
  std::atomic<int> limited{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 50; ++t) {
    threads.emplace_back([&] {
      while (next.fetch_add(1) < 1000) {
        auto r = Fetch("POST", Url("/auth/login"),
                       R"({"email":"ana@example.com","password":"guess guess guess"})",
                       {kJson, "X-Forwarded-For: 203.0.113.9"}, 15'000);
        if (r.status == 429) {
          EXPECT_FALSE(r.headers["retry-after"].empty());
          ++limited;
        } else if (r.status == 401) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(refused.load(), 5) << "5 attempts per minute per address";
  EXPECT_EQ(limited.load(), 995);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Fetch("GET", Url("/health")).status, 200);
  // Another address still gets through.
  EXPECT_FALSE(Login("ana@example.com", kPassword, "198.51.100.3").empty());
}

TEST_F(RuntimeTest, PasswordResetThroughTheOutboxEndsOldSessions) {
  Tenant ana = Register("ana@example.com");
  auto asked =
      Fetch("POST", Url("/auth/forgot-password"), R"({"email":"ana@example.com"})", {kJson});
  EXPECT_EQ(asked.status, 202);
  auto unknown =
      Fetch("POST", Url("/auth/forgot-password"), R"({"email":"nobody@example.com"})", {kJson});
  EXPECT_EQ(unknown.status, 202);
  EXPECT_EQ(unknown.body, asked.body) << "no account enumeration";
  std::string link =
      Sql(pg_->ConnectionString(),
          "SELECT params->>'link' FROM gateway.outbox_emails WHERE to_address = 'ana@example.com'");
  auto at = link.find("/reset-password?token=");
  ASSERT_NE(at, std::string::npos) << link;
  std::string token = link.substr(at + 22);
  EXPECT_EQ(token.size(), 43u) << link;
  auto reset = Fetch("POST", Url("/auth/reset-password"),
                     json{{"token", token}, {"password", "a brand new password"}}.dump(), {kJson});
  ASSERT_EQ(reset.status, 200) << reset.body;
  EXPECT_EQ(Fetch("POST", Url("/auth/reset-password"),
                  json{{"token", token}, {"password", "another new password"}}.dump(), {kJson})
                .status,
            400)
      << "a reset link works once";
  EXPECT_EQ(Fetch("GET", Url("/auth/me"), {}, ana.Auth()).status, 401);
  EXPECT_FALSE(Login("ana@example.com", "a brand new password", "198.51.100.4").empty());
}

TEST_F(RuntimeTest, LiveEventsFromTheSliceReachTheBrowserThroughTheGateway) {
  Tenant ana = Register("ana@example.com");
  // An event larger than the gateway's relay buffer (a few hundred bytes) crosses in pieces.
  json tags = json::array();
  for (int i = 0; i < 20; ++i) {
    tags.push_back(fmt::format("{:t>50}", i));  // 20 distinct tags of 50 characters
  }
  const std::string long_name(200, 'n');
  std::thread creator([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CreateContact(ana, "Live", "+14155550111");
    auto big = Fetch("POST", Url("/api/contacts"),
                     json{{"name", long_name}, {"phone", "+14155550112"}, {"tags", tags}}.dump(),
                     ana.AuthJson());
    EXPECT_EQ(big.status, 201) << big.body;
  });
  // The stream stays open: read it for 2 s and look for the events.
  auto r = Fetch("GET", Url("/api/events"), {}, ana.Auth(), 2'000);
  creator.join();
  EXPECT_NE(r.body.find("event: contact.created"), std::string::npos) << r.body << r.error;
  EXPECT_NE(r.body.find("\"name\":\"Live\""), std::string::npos) << r.body;
  // The large event arrives whole: its name and every tag, in one data line.
  std::size_t at = r.body.find("\"name\":\"" + long_name + "\"");
  ASSERT_NE(at, std::string::npos) << r.body;
  std::size_t line_start = r.body.rfind("data: ", at);
  std::size_t line_end = r.body.find('\n', at);
  ASSERT_NE(line_start, std::string::npos);
  ASSERT_NE(line_end, std::string::npos);
  json event = json::parse(r.body.substr(line_start + 6, line_end - line_start - 6));
  EXPECT_EQ(event.value("tags", json::array()), tags) << event.dump();
  EXPECT_GT(line_end - line_start, 1'000u) << "the event is larger than the relay's buffer";
}

TEST_F(RuntimeTest, SigtermDrainsAndStopsEverySlice) {
  Tenant ana = Register("ana@example.com");
  std::string pid = SlicePid(ana.slice);
  ASSERT_FALSE(pid.empty());
  EXPECT_EQ(crmd_->Stop(std::chrono::seconds(15)), 0) << crmd_->Log();
  EXPECT_NE(::kill(std::stoi(pid), 0), 0) << "slice process outlived the gateway";
}

TEST_F(RuntimeTest, CrmctlSlicesAndMigrateDriveARunningGateway) {
  Tenant ana = Register("ana@example.com");
  std::string token = Admin();
  // Signing in with e-mail and password (stdin) once; scripts use a token (the login limit
  // counts every sign-in from one address).
  const std::string password = "an admin password\n";
  auto [code, list] =
      RunCommand({CRM_CRMCTL_BINARY, "slices", "list"},
                 {{"CRM_URL", crmd_->url()}, {"CRM_ADMIN_EMAIL", "root@example.com"}}, password);
  ASSERT_EQ(code, 0) << list;
  EXPECT_NE(list.find("assigned"), std::string::npos) << list;
  EXPECT_NE(list.find("cgroup"), std::string::npos) << "the limit mechanism is reported: " << list;

  std::map<std::string, std::string> env = {{"CRM_URL", crmd_->url()}, {"CRM_ADMIN_TOKEN", token}};
  auto [json_code, json_list] =
      RunCommand({CRM_CRMCTL_BINARY, "-o", "json", "slices", "list"}, env, "");
  ASSERT_EQ(json_code, 0) << json_list;
  auto doc = nlohmann::json::parse(json_list.substr(json_list.find('{')));
  EXPECT_GE(doc["items"].size(), 2u) << "the tenant's slice and a warm one";

  std::string id = std::to_string(ana.slice);
  auto [s_code, s_out] =
      RunCommand({CRM_CRMCTL_BINARY, "slices", "suspend", id, "--reason", "unpaid"}, env, password);
  EXPECT_EQ(s_code, 0) << s_out;
  EXPECT_NE(s_out.find("suspended"), std::string::npos) << s_out;
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, ana.Auth()).status, 423);
  auto [again, again_out] = RunCommand({CRM_CRMCTL_BINARY, "slices", "suspend", id}, env, password);
  EXPECT_EQ(again, 2) << "an illegal transition is the caller's error: " << again_out;
  EXPECT_NE(again_out.find("cannot go to suspended"), std::string::npos) << again_out;
  auto [r_code, r_out] = RunCommand({CRM_CRMCTL_BINARY, "slices", "resume", id}, env, password);
  EXPECT_EQ(r_code, 0) << r_out;
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, ana.Auth()).status, 200);
  auto [rr_code, rr_out] =
      RunCommand({CRM_CRMCTL_BINARY, "slices", "restart", "--batch", "1"}, env, password);
  EXPECT_EQ(rr_code, 0) << rr_out;
  EXPECT_NE(rr_out.find("batch 2: slice 2 healthy"), std::string::npos) << rr_out;
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, ana.Auth()).status, 200);

  auto [bad, bad_out] =
      RunCommand({CRM_CRMCTL_BINARY, "slices", "list"}, {{"CRM_URL", crmd_->url()}}, "");
  EXPECT_EQ(bad, 2);
  EXPECT_NE(bad_out.find("CRM_ADMIN_TOKEN"), std::string::npos) << bad_out;
  auto [down, down_out] =
      RunCommand({CRM_CRMCTL_BINARY, "slices", "list"},
                 {{"CRM_URL", "http://127.0.0.1:1"}, {"CRM_ADMIN_TOKEN", "x"}}, "");
  EXPECT_EQ(down, 1);
  EXPECT_NE(down_out.find("cannot reach the gateway"), std::string::npos) << down_out;

  auto [m_code, m_out] = RunCommand({CRM_CRMCTL_BINARY, "migrate"},
                                    {{"CRM_DATABASE_URL", pg_->ConnectionString()}}, "");
  EXPECT_EQ(m_code, 0) << m_out;
  EXPECT_NE(m_out.find("gateway: up to date"), std::string::npos) << m_out;
  EXPECT_NE(m_out.find("slice_" + id + ": up to date"), std::string::npos) << m_out;
}

TEST_F(RuntimeTest, ThePoolsReconnectAfterPostgresRestarts) {
  Tenant ana = Register("ana@example.com");
  CreateContact(ana, "Before", "+14155550100");
  pg_->Restart();
  // Every pooled connection died with the server; the first requests after it must not fail.
  for (int i = 0; i < 3; ++i) {
    auto r = Fetch("GET", Url("/api/contacts"), {}, ana.Auth());
    EXPECT_EQ(r.status, 200) << "request " << i << ": " << r.body;
  }
  EXPECT_EQ(Fetch("GET", Url("/health")).status, 200);
  auto me = Fetch("GET", Url("/auth/me"), {}, ana.Auth());
  EXPECT_EQ(me.status, 200) << me.body;
  CreateContact(ana, "After", "+14155550101");
}

TEST_F(RuntimeTest, ASliceThatKeepsCrashingIsMarkedAsACrashLoop) {
  Tenant ana = Register("ana@example.com");
  std::string admin = Admin();
  std::string last;
  for (int crash = 0; crash < 5; ++crash) {
    // Wait for the restarted process (a new pid), then kill it again.
    std::string pid;
    for (int i = 0; i < 300 && (pid.empty() || pid == last); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      pid = SlicePid(ana.slice);
    }
    ASSERT_NE(pid, last) << "no restart after crash " << crash;
    ASSERT_EQ(::kill(std::stoi(pid), SIGKILL), 0);
    last = pid;
  }
  std::string health;
  for (int i = 0; i < 100 && health != "crashloop"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    health = Sql(pg_->ConnectionString(),
                 "SELECT health FROM gateway.slices WHERE id = " + std::to_string(ana.slice));
  }
  EXPECT_EQ(health, "crashloop");
  auto slice = Fetch("GET", Url("/admin/slices/" + std::to_string(ana.slice)), {},
                     {"Cookie: crm_session=" + admin});
  EXPECT_EQ(slice.Json()["health"], "crashloop") << slice.body;
  EXPECT_GE(slice.Json()["restarts"].get<int>(), 4);
  EXPECT_NE(slice.Json()["last_error"].get<std::string>().find("exited"), std::string::npos)
      << slice.body;
  EXPECT_NE(crmd_->Log().find("crash loop"), std::string::npos);
}

TEST_F(RuntimeTest, ShutdownEndsOpenEventStreamsWithinASecondPerClient) {
  Tenant ana = Register("ana@example.com");
  HttpResult stream;
  std::thread reader([&] { stream = Fetch("GET", Url("/api/events"), {}, ana.Auth(), 20'000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(crmd_->Stop(std::chrono::seconds(15)), 0) << crmd_->Log();
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  reader.join();
  EXPECT_EQ(stream.status, 200) << stream.error;
  EXPECT_NE(stream.body.find("connected to slice"), std::string::npos) << stream.body;
  EXPECT_LT(stream.seconds, 10.0) << "the stream was not ended by the shutdown";
  EXPECT_LT(took, 8.0) << "shutdown took too long";
}

TEST_F(RuntimeTest, StorageIsAccountedPerSliceFromItsSchemaAndFiles) {
  Tenant ana = Register("ana@example.com");
  std::string admin = Admin();
  std::vector<std::string> as_admin = {"Cookie: crm_session=" + admin};
  const std::string path = "/admin/slices/" + std::to_string(ana.slice);
  auto before = Fetch("GET", Url(path), {}, as_admin).Json();
  ASSERT_TRUE(before["storage_bytes"].is_number()) << before;
  EXPECT_GT(before["storage_bytes"].get<long long>(), 0) << "the schema's tables and indexes count";
  EXPECT_EQ(before["storage_quota_bytes"].get<long long>(), 2'000'000'000LL);
  {
    std::ofstream file(data_ / "slices" / std::to_string(ana.slice) / "files" / "upload.bin",
                       std::ios::binary);
    file << std::string(1 << 20, 'x');
  }
  auto after = Fetch("GET", Url(path), {}, as_admin).Json();
  EXPECT_GE(after["storage_bytes"].get<long long>() - before["storage_bytes"].get<long long>(),
            1 << 20)
      << "the slice's files count: " << before << " → " << after;
  EXPECT_TRUE(after["memory_limit_bytes"].get<long long>() > 0);
  if (after["limit_mechanism"] != "rlimit-as") {
    ASSERT_TRUE(after["memory_bytes"].is_number()) << after;
    EXPECT_GT(after["memory_bytes"].get<long long>(), 0);
    EXPECT_LT(after["memory_bytes"].get<long long>(), after["memory_limit_bytes"].get<long long>());
  }
}

}  // namespace
}  // namespace crm::testing
