#include "crm/monitor/checks.hpp"

#include <gtest/gtest.h>

#include "crm/monitor/alert_store.hpp"
#include "crm/monitor/monitor.hpp"
#include "crm/monitor/readings.hpp"

namespace crm::monitor {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0{std::chrono::seconds(1'800'000'000)};

SliceObservation Running(long long id) {
  SliceObservation s;
  s.id = id;
  s.should_run = true;
  s.assigned = true;
  s.health = "healthy";
  s.process_alive = true;
  s.memory_limit_bytes = 100;
  s.storage_quota_bytes = 1000;
  return s;
}

TEST(ProcessCheckTest, OpensForADeadProcessAndARestartSinceTheLastLook) {
  ProcessCheck check;
  auto a = Running(1);
  auto b = Running(2);
  EXPECT_TRUE(check.Evaluate({a, b}).empty());
  b.process_alive = false;
  auto down = check.Evaluate({a, b});
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].subject, "slice:2");
  EXPECT_EQ(down[0].kind, "slice_down");
  EXPECT_EQ(down[0].severity, Severity::kCritical);
  // Healed between two looks: the restart still counts once, then clears.
  b.process_alive = true;
  b.restarts = 1;
  EXPECT_EQ(check.Evaluate({a, b}).size(), 1u);
  EXPECT_TRUE(check.Evaluate({a, b}).empty());
}

TEST(ProcessCheckTest, IgnoresSlicesThatShouldNotRun) {
  ProcessCheck check;
  auto s = Running(3);
  s.should_run = false;
  s.process_alive = false;
  s.health = "stopped";
  EXPECT_TRUE(check.Evaluate({s}).empty());
}

TEST(WhatsAppCheckTest, OpensOnlyAfterTheGraceOnceSeenConnected) {
  WhatsAppCheck check;
  std::optional<std::string> unpaired = "unpaired";
  EXPECT_FALSE(check.Observe(1, unpaired, kT0, 120s));  // never connected: nothing to report
  EXPECT_FALSE(check.Observe(1, "connected", kT0 + 10s, 120s));
  EXPECT_FALSE(check.Observe(1, unpaired, kT0 + 20s, 120s));
  EXPECT_FALSE(check.Observe(1, std::nullopt, kT0 + 100s, 120s));
  auto c = check.Observe(1, unpaired, kT0 + 140s, 120s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, "whatsapp_disconnected");
  EXPECT_NE(c->message.find("120 s"), std::string::npos) << c->message;
  EXPECT_FALSE(check.Observe(1, "connected", kT0 + 150s, 120s));
  EXPECT_FALSE(check.Observe(1, unpaired, kT0 + 160s, 120s));  // the grace starts again
}

TEST(WhatsAppCheckTest, FailedOrBannedOpensAtOnceQuotingTheDetail) {
  WhatsAppCheck check;
  // Never seen connected (the slice restarted into it), no grace: nothing reconnects these.
  auto c = check.Observe(2, "failed", kT0, 120s, "the session ended 3 times in a row");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, "whatsapp_disconnected");
  EXPECT_NE(c->message.find("is failed"), std::string::npos) << c->message;
  EXPECT_NE(c->message.find("3 times in a row"), std::string::npos) << c->message;
  EXPECT_TRUE(check.Observe(3, "banned", kT0, 120s));
  EXPECT_FALSE(check.Observe(4, "disconnected", kT0, 120s, "connecting"));
}

TEST(ThresholdTest, MemoryAndStorageAboveTheirShare) {
  Thresholds t;
  auto s = Running(4);
  s.memory_bytes = 90;
  EXPECT_FALSE(MemoryCondition(s, t));
  s.memory_bytes = 91;
  EXPECT_TRUE(MemoryCondition(s, t));
  s.memory_bytes.reset();
  EXPECT_FALSE(MemoryCondition(s, t));  // not measured: no claim
  s.storage_bytes = 900;
  EXPECT_FALSE(StorageCondition(s, t));
  s.storage_bytes = 950;
  auto c = StorageCondition(s, t);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->severity, Severity::kWarning);
  s.storage_bytes = 1200;
  EXPECT_EQ(StorageCondition(s, t)->severity, Severity::kCritical);
}

HostReading Host() {
  HostReading r;
  r.ram_total_bytes = 1000;
  r.ram_available_bytes = 500;
  r.disk_total_bytes = 1000;
  r.disk_used_bytes = 100;
  return r;
}

TEST(ServerCheckTest, DiskAndRamAreInstantCpuAndSwapinMustBeSustained) {
  Thresholds t;
  ServerCheck check;
  HostReading r = Host();
  HostRates busy{95, 2000};
  EXPECT_TRUE(check.Evaluate(r, busy, kT0, t).empty());
  EXPECT_TRUE(check.Evaluate(r, busy, kT0 + 240s, t).empty());
  auto held = check.Evaluate(r, busy, kT0 + 300s, t);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].kind, "server_cpu");
  EXPECT_EQ(held[1].kind, "server_swapin");
  // One calm sample restarts the window.
  EXPECT_TRUE(check.Evaluate(r, HostRates{10, 0}, kT0 + 360s, t).empty());
  EXPECT_TRUE(check.Evaluate(r, busy, kT0 + 420s, t).empty());

  r.disk_used_bytes = 860;
  r.ram_available_bytes = 50;
  auto instant = check.Evaluate(r, std::nullopt, kT0, t);
  ASSERT_EQ(instant.size(), 2u);
  EXPECT_EQ(instant[0].kind, "server_disk");
  EXPECT_EQ(instant[1].kind, "server_ram");
}

TEST(ServerCheckTest, RatesFromTwoReadings) {
  HostReading a;
  a.cpu_busy_jiffies = 100;
  a.cpu_total_jiffies = 1000;
  a.pswpin_pages = 5000;
  HostReading b = a;
  b.cpu_busy_jiffies = 190;
  b.cpu_total_jiffies = 1100;
  b.pswpin_pages = 65'000;
  auto r = RatesBetween(a, b, 60s);
  EXPECT_DOUBLE_EQ(r.cpu_percent, 90);
  EXPECT_DOUBLE_EQ(r.swapin_pages_per_s, 1000);
}

TEST(GridTest, Colours) {
  auto s = Running(5);
  EXPECT_EQ(GridColour(s, false, false), "green");
  EXPECT_EQ(GridColour(s, false, true), "yellow");
  EXPECT_EQ(GridColour(s, true, false), "red");
  s.memory_bytes = 85;
  EXPECT_EQ(GridColour(s, false, false), "yellow");
  s.health = "crashloop";
  EXPECT_EQ(GridColour(s, false, false), "red");
}

TEST(BackupStaleTest, NothingWhenNeitherArchivingNorAStanzaIsConfigured) {
  BackupObservation b;
  b.last_failed = kT0;  // a stale failure from before archiving was switched off
  EXPECT_FALSE(BackupStaleCondition(b, kT0 + 1h, Thresholds{}));
}

TEST(BackupStaleTest, OpensWhenTheLastArchiveFailureIsNewerThanTheLastSuccess) {
  BackupObservation b;
  b.archive_mode_on = true;
  b.last_archived = kT0;
  b.last_failed = kT0 - 1min;
  EXPECT_FALSE(BackupStaleCondition(b, kT0 + 1min, Thresholds{}));  // it recovered since

  b.last_failed = kT0 + 30s;
  b.last_failed_wal = "000000010000000000000007";
  auto c = BackupStaleCondition(b, kT0 + 1min, Thresholds{});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->subject, "server");
  EXPECT_EQ(c->kind, "backup_stale");
  EXPECT_EQ(c->severity, Severity::kCritical);
  EXPECT_NE(c->message.find("WAL archiving fails (segment 000000010000000000000007"),
            std::string::npos)
      << c->message;

  b.last_archived.reset();  // never archived, and failing
  EXPECT_NE(BackupStaleCondition(b, kT0 + 1min, Thresholds{})->message.find("never succeeded"),
            std::string::npos);
}

TEST(BackupStaleTest, OpensWhenTheNewestBackupIsOlderThanAllowedOrMissing) {
  BackupObservation b;
  b.archive_mode_on = true;
  b.last_archived = kT0;
  b.stanza_configured = true;
  b.newest_backup = kT0;
  Thresholds t;  // 26 h by default
  EXPECT_FALSE(BackupStaleCondition(b, kT0 + 26h, t));
  auto c = BackupStaleCondition(b, kT0 + 26h + 1s, t);
  ASSERT_TRUE(c);
  EXPECT_NE(c->message.find("the newest backup is 26.0 h old (at most 26 h allowed)"),
            std::string::npos)
      << c->message;

  t.backup_max_age = 8 * 24h;  // a weekly schedule
  EXPECT_FALSE(BackupStaleCondition(b, kT0 + 7 * 24h, t));

  b.newest_backup.reset();
  EXPECT_NE(BackupStaleCondition(b, kT0, t)->message.find("holds no backup"), std::string::npos);

  b.info_error = "repository unreachable";
  EXPECT_NE(BackupStaleCondition(b, kT0, t)->message.find("cannot be read: repository unreachable"),
            std::string::npos);
}

TEST(RateLimitTest, OneNotificationPerInterval) {
  EXPECT_TRUE(MayNotify(std::nullopt, kT0, 1800s));
  EXPECT_FALSE(MayNotify(kT0, kT0 + 1799s, 1800s));
  EXPECT_TRUE(MayNotify(kT0, kT0 + 1800s, 1800s));
}

TEST(WebhookTest, SignatureIsHmacSha256OfTheBody) {
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(WebhookSignature("what do ya want for nothing?", "Jefe"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  OpenedAlert alert{7, {"server", "server_disk", Severity::kWarning, "disk 90 % full"}};
  auto body = nlohmann::json::parse(WebhookBody(alert, kT0));
  EXPECT_EQ(body["id"], 7);
  EXPECT_EQ(body["kind"], "server_disk");
  EXPECT_EQ(body["severity"], "warning");
}

TEST(ReadingsTest, ParsesProcFiles) {
  HostReading h;
  ParseMeminfo(
      "MemTotal:        2000 kB\nMemFree: 10 kB\nMemAvailable:    500 kB\n"
      "SwapTotal: 1000 kB\nSwapFree: 400 kB\n",
      h);
  EXPECT_EQ(h.ram_total_bytes, 2000u * 1024);
  EXPECT_EQ(h.ram_available_bytes, 500u * 1024);
  EXPECT_EQ(h.swap_free_bytes, 400u * 1024);
  ParseVmstat("nr_free_pages 1\npswpin 1234\npswpout 9\n", h);
  EXPECT_EQ(h.pswpin_pages, 1234u);
  ParseProcStat("cpu  10 2 30 400 50 6 7 8 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n", h);
  EXPECT_EQ(h.cpu_total_jiffies, 513u);
  EXPECT_EQ(h.cpu_busy_jiffies, 63u);

  ProcessReading p;
  ParseSmapsRollup("55d0-7ff [rollup]\nRss: 300 kB\nPss: 200 kB\nSwap: 7 kB\n", p);
  EXPECT_EQ(p.rss_bytes, 300u * 1024);
  EXPECT_EQ(p.pss_bytes, 200u * 1024);
  EXPECT_EQ(p.swap_bytes, 7u * 1024);
  EXPECT_EQ(ParsePidStatCpu("42 (crm d) (x) S 1 2 3 4 5 6 7 8 9 10 11 22 0 0"), 33u);
  EXPECT_FALSE(ParsePidStatCpu("garbage"));
}

}  // namespace
}  // namespace crm::monitor
