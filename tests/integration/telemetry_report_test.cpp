// `crmctl telemetry report` over recorded telemetry: six hours of samples written as the monitor
// writes them (slice and server rows at the same instants), with a leaking slice, quiet ones, a
// wake, swap use rising into thrashing, a disconnection while swapping and stress at 30 slices.
#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <vector>

#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

constexpr long long kMiB = 1024 * 1024;

class TelemetryReportTest : public RuntimeTest {
 protected:
  // No live samples: only the recorded ones below.
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_MONITOR_ENABLED"] = "0";
  }

  // 30 instants of 3–7 tenants' slices with known costs (5 MiB per tenant, 20 MiB per connected
  // channel, 100 KiB per stream, 200 B per task) and a 3 MiB warm slice.
  void RecordSliceLoad() {
    ASSERT_EQ(
        Sql(pg_->ConnectionString(),
            "INSERT INTO gateway.telemetry (ts, slice_id, rss_bytes, pss_bytes, wa_state, "
            "streams, pending_tasks) SELECT date_trunc('minute', now()) - k * interval '1 "
            "minute', i, 1, 5 * 1048576 + CASE WHEN (i + k) % 3 <> 0 THEN 20 * 1048576 ELSE 0 "
            "END + (i * k) % 4 * 102400 + ((i + 2 * k) % 7) * 1000 * 200, CASE WHEN (i + k) % 3 "
            "<> 0 THEN 'connected' ELSE 'disconnected' END, (i * k) % 4, ((i + 2 * k) % 7) * "
            "1000 FROM generate_series(0, 29) AS k, LATERAL generate_series(1, 3 + k % 5) AS i"),
        "");
    ASSERT_EQ(
        Sql(pg_->ConnectionString(),
            "INSERT INTO gateway.telemetry (ts, slice_id, rss_bytes, pss_bytes) SELECT "
            "date_trunc('minute', now()) - k * interval '1 minute', 9999, 1, 3 * 1048576 FROM "
            "generate_series(0, 29) AS k"),
        "");
  }

  void Record() {
    // Minute m = 0..359 of the last six hours; phases of 120 minutes.
    const std::string minutes =
        "FROM generate_series(0, 359) AS m, "
        "LATERAL (SELECT date_trunc('minute', now()) - (359 - m) * interval '1 minute' AS at) t";
    auto run = [&](const std::string& sql) {
      ASSERT_EQ(Sql(pg_->ConnectionString(), sql), "") << sql;
    };
    // 9001 leaks 2 MiB an hour while idle; 9002 and 9003 stay flat; 9002 is disconnected in the
    // last phase; 9004 is idle at 10 MiB with 20 MiB swapped out until its user arrives at the
    // last minute and it pages back in.
    run("INSERT INTO gateway.telemetry (ts, slice_id, rss_bytes, swap_bytes, wa_state, "
        "idle_seconds) SELECT at, 9001, 20 * " +
        std::to_string(kMiB) + " + m * " + std::to_string(2 * kMiB) +
        " / 60, 0, 'connected', 700 + m * 60 " + minutes);
    run("INSERT INTO gateway.telemetry (ts, slice_id, rss_bytes, swap_bytes, wa_state, "
        "idle_seconds) SELECT at, 9002, " +
        std::to_string(10 * kMiB) +
        ", 0, CASE WHEN m >= 240 THEN 'disconnected' ELSE 'connected' END, 700 + m * 60 " +
        minutes);
    run("INSERT INTO gateway.telemetry (ts, slice_id, rss_bytes, swap_bytes, wa_state, "
        "idle_seconds) SELECT at, 9003, " +
        std::to_string(12 * kMiB) + ", 0, 'connected', 700 + m * 60 " + minutes);
    run("INSERT INTO gateway.telemetry (ts, slice_id, rss_bytes, swap_bytes, wa_state, "
        "idle_seconds) SELECT at, 9004, CASE WHEN m = 359 THEN " +
        std::to_string(30 * kMiB) + " ELSE " + std::to_string(10 * kMiB) +
        " END, CASE WHEN m = 359 THEN 0 ELSE " + std::to_string(20 * kMiB) +
        " END, 'connected', CASE WHEN m = 359 THEN 3 ELSE 700 + m * "
        "60 END " +
        minutes);
    // The server: swap 5 % → 35 % → 65 %, swap-ins 10 → 200 → 3,000 pages/s, RAM 50 % → 70 % →
    // 95 %, with 10, 20 and 30 slices running.
    run("INSERT INTO gateway.server_telemetry (ts, ram_used_bytes, ram_total_bytes, "
        "swap_used_bytes, swap_total_bytes, swapin_pages_per_s, cpu_percent, disk_used_bytes, "
        "disk_total_bytes, load1, slices_running, slices_total, pg_connections) SELECT at, "
        "(ARRAY[50, 70, 95])[m / 120 + 1] * 1000, 100000, (ARRAY[5, 35, 65])[m / 120 + 1] * 1000, "
        "100000, (ARRAY[10, 200, 3000])[m / 120 + 1], 20, 1, 10, 0.5, "
        "(ARRAY[10, 20, 30])[m / 120 + 1], 30, 5 " +
        minutes);
  }
};

TEST_F(TelemetryReportTest, TheReportAnswersFromTheRecordedSamples) {
  Record();
  std::string admin = Admin();
  auto r =
      Fetch("GET", Url("/admin/telemetry/report?hours=24"), {}, {"Cookie: crm_session=" + admin});
  ASSERT_EQ(r.status, 200) << r.body;
  json report = r.Json();
  EXPECT_EQ(report["resolution"], "raw");
  EXPECT_EQ(report["slice_samples"], 4 * 360) << report;
  EXPECT_EQ(report["server_samples"], 360);

  // Idle footprint: three flat slices and one leaking one: the fleet is stable.
  const auto& idle = report["idle_footprint"];
  EXPECT_EQ(idle["slices"], 4);
  EXPECT_EQ(idle["judgeable"], 4);
  EXPECT_EQ(idle["trend"], "stable") << idle;
  // The one leak, at 2 MiB an hour (the recorded growth is 2 MiB per 60 samples of a minute).
  ASSERT_EQ(report["leaks"].size(), 1u) << report["leaks"];
  const auto& leak = report["leaks"][0];
  EXPECT_EQ(leak["slice_id"], 9001);
  EXPECT_NEAR(leak["slope_bytes_per_hour"].get<double>(), 2.0 * kMiB, 0.01 * kMiB);
  EXPECT_GT(leak["r2"].get<double>(), 0.99);

  // Swap: three buckets; swap-ins reach the 1,000 pages/s threshold from 60 % swap used; the
  // disconnection shows only there (one of four paired slices).
  const auto& swap = report["swap"];
  EXPECT_EQ(swap["thrashing_from_percent"], 60) << swap;
  ASSERT_EQ(swap["buckets"].size(), 3u) << swap;
  EXPECT_EQ(swap["buckets"][0]["from_percent"], 0);
  EXPECT_EQ(swap["buckets"][0]["whatsapp_disconnected_fraction"], 0.0);
  EXPECT_EQ(swap["buckets"][2]["from_percent"], 60);
  EXPECT_DOUBLE_EQ(swap["buckets"][2]["swapin_avg_pages_per_s"].get<double>(), 3000);
  EXPECT_DOUBLE_EQ(swap["buckets"][2]["whatsapp_disconnected_fraction"].get<double>(), 0.25);

  // The wake: 20 MiB paged back in, resident size up 20 MiB.
  EXPECT_EQ(report["wake"]["wakes"], 1);
  EXPECT_DOUBLE_EQ(report["wake"]["median_paged_in_bytes"].get<double>(), 20.0 * kMiB);
  EXPECT_DOUBLE_EQ(report["wake"]["median_rss_growth_bytes"].get<double>(), 20.0 * kMiB);

  // Stress: RAM above 90 % from 30 running slices.
  EXPECT_EQ(report["stress"]["began_at_slices"], 30) << report["stress"];

  // The operator's view through crmctl.
  std::map<std::string, std::string> cli_env = {{"CRM_URL", crmd_->url()},
                                                {"CRM_ADMIN_TOKEN", admin}};
  auto [code, out] =
      RunCommand({CRM_CRMCTL_BINARY, "telemetry", "report", "--hours", "24"}, cli_env, "");
  EXPECT_EQ(code, 0) << out;
  for (const std::string& line : std::vector<std::string>{
           "Idle slices (no request for 600 s): stable", "Leaks: 1 slice grows while idle",
           "Swap: thrashing from 60% swap used", "Wakes: 1 — median 20.0 MiB paged back in",
           "Stress: began at 30 running slices"}) {
    EXPECT_NE(out.find(line), std::string::npos) << line << "\n" << out;
  }
  // A window of the 5-minute rollups holds none of these raw rows yet: nothing is judged.
  auto [week_code, week] =
      RunCommand({CRM_CRMCTL_BINARY, "telemetry", "report", "--hours", "168"}, cli_env, "");
  EXPECT_EQ(week_code, 0) << week;
  EXPECT_NE(week.find("not enough data"), std::string::npos) << week;
  // Bad windows are refused by name.
  EXPECT_EQ(
      Fetch("GET", Url("/admin/telemetry/report?hours=0"), {}, {"Cookie: crm_session=" + admin})
          .status,
      400);
  EXPECT_EQ(Fetch("GET", Url("/admin/telemetry/report?hours=99999999999"), {},
                  {"Cookie: crm_session=" + admin})
                .status,
            400);
  Tenant t = Register("ana@example.com");
  EXPECT_EQ(Fetch("GET", Url("/admin/telemetry/report"), {}, t.Auth()).status, 403);
}

// Capacity from what runs: 48 hours in which slices grew by one an hour, each slice now using
// 100 MiB of memory and 10 MiB of storage, on a server with 10 GiB of RAM (3 GiB used) and
// 100 GiB of disk (10 GiB used). At the planner's 70 %: (7 − 3) GiB / 100 MiB = 40 more slices by
// RAM, (70 − 10) GiB / 10 MiB = 6,144 by disk; at 24 slices a day RAM is full in 1.67 days.
TEST_F(TelemetryReportTest, LiveCapacityProjectsTheMeasuredFootprintOntoTheHeadroom) {
  constexpr long long kGiB = 1024 * kMiB;
  auto run = [&](const std::string& sql) {
    ASSERT_EQ(Sql(pg_->ConnectionString(), sql), "") << sql;
  };
  run("INSERT INTO gateway.server_telemetry (ts, ram_used_bytes, ram_total_bytes, "
      "swap_used_bytes, swap_total_bytes, cpu_percent, disk_used_bytes, disk_total_bytes, load1, "
      "slices_running, slices_total, pg_connections) SELECT date_trunc('minute', now()) - (47 - h) "
      "* interval '1 hour', " +
      std::to_string(3 * kGiB) + ", " + std::to_string(10 * kGiB) + ", 0, 0, 10, " +
      std::to_string(10 * kGiB) + ", " + std::to_string(100 * kGiB) +
      ", 0.1, 10 + h, 10 + h, 5 FROM generate_series(0, 47) AS h");
  run("INSERT INTO gateway.telemetry (ts, slice_id, rss_bytes, pss_bytes, storage_bytes, "
      "idle_seconds) SELECT date_trunc('minute', now()) - m * interval '1 minute', id, " +
      std::to_string(300 * kMiB) + ", " + std::to_string(100 * kMiB) + ", " +
      std::to_string(10 * kMiB) +
      ", 0 FROM generate_series(1, 30) AS m, "
      "generate_series(9001, 9057) AS id");
  std::string admin = Admin();
  auto r = Fetch("GET", Url("/admin/capacity"), {}, {"Cookie: crm_session=" + admin});
  ASSERT_EQ(r.status, 200) << r.body;
  json c = r.Json();
  EXPECT_EQ(c["slices"]["running"], 57) << c;
  EXPECT_EQ(c["slices"]["sampled"], 57);
  EXPECT_EQ(c["footprint"]["memory_mean_bytes"], 100 * kMiB);  // PSS, not RSS
  EXPECT_EQ(c["ram"]["more_slices"], 40) << c;
  EXPECT_EQ(c["disk"]["more_slices"], 6144) << c;
  EXPECT_EQ(c["more_slices"], 40);
  EXPECT_EQ(c["binding"], "ram");
  EXPECT_NEAR(c["growth"]["slices_per_day"].get<double>(), 24.0, 1e-6) << c;
  EXPECT_NEAR(c["growth"]["days_to_fill"].get<double>(), 40.0 / 24.0, 1e-6);
  EXPECT_TRUE(c["growth"]["fills_on"].is_string()) << c;

  // The overview's capacity says the same.
  json o = Fetch("GET", Url("/admin/overview"), {}, {"Cookie: crm_session=" + admin}).Json();
  EXPECT_EQ(
      o["capacity"]["slices_max"].get<long long>() - o["capacity"]["slices_used"].get<long long>(),
      40)
      << o["capacity"];
  EXPECT_EQ(o["capacity"]["fills_on"], c["growth"]["fills_on"]);
  EXPECT_EQ(o["capacity"]["history_days"], c["growth"]["fitted_over_days"]);

  // crmctl capacity --live, with the catalog's target utilization.
  std::map<std::string, std::string> cli_env = {{"CRM_URL", crmd_->url()},
                                                {"CRM_ADMIN_TOKEN", admin}};
  auto [code, out] = RunCommand({CRM_CRMCTL_BINARY, "capacity", "--live"}, cli_env, "");
  EXPECT_EQ(code, 0) << out;
  for (const std::string& line : std::vector<std::string>{
           "57 slices running", "40 more slices fit (RAM binds first)", "+24.00 slices/day",
           "full around " + c["growth"]["fills_on"].get<std::string>()}) {
    EXPECT_NE(out.find(line), std::string::npos) << line << "\n" << out;
  }
  auto [both, both_out] = RunCommand(
      {CRM_CRMCTL_BINARY, "capacity", "--live", "--server", "hetzner-cx22"}, cli_env, "");
  EXPECT_EQ(both, 2) << both_out;
  EXPECT_EQ(
      Fetch("GET", Url("/admin/capacity?target_percent=101"), {}, {"Cookie: crm_session=" + admin})
          .status,
      400);
}

// calibrate --from-db on recorded telemetry whose memory follows the model exactly: each tenant's
// slice 5 MiB, 20 MiB more with WhatsApp connected, 100 KiB per open event stream, 200 B per
// queued task, plus one warm slice of 3 MiB (the baseline). Thirty instants with 3 to 7 tenants.
TEST_F(TelemetryReportTest, CalibrateFromTheDatabaseRecoversThePerUnitCosts) {
  ASSERT_NO_FATAL_FAILURE(RecordSliceLoad());
  fs::path rules = pg_->dir() / "rules.yaml";
  std::map<std::string, std::string> cli_env = {{"CRM_DATABASE_URL", pg_->ConnectionString()}};
  auto [code, out] = RunCommand({CRM_CRMCTL_BINARY, "-o", "json", "calibrate", "--from-db",
                                 "--hours", "2", "--write", rules.string()},
                                cli_env, "");
  ASSERT_EQ(code, 0) << out;
  json fit = json::parse(out.substr(0, out.rfind('}') + 1));
  EXPECT_EQ(fit["rows"], 30);
  std::map<std::string, double> expected = {{"ram_per_device", 20.0 * 1048576},
                                            {"ram_per_websocket", 102400},
                                            {"bytes_per_task", 200},
                                            {"buffer_per_customer", 5.0 * 1048576},
                                            {"baseline", 3.0 * 1048576}};
  for (const auto& c : fit["coefficients"]) {
    std::string rule = c["rule"].get<std::string>();
    ASSERT_TRUE(expected.count(rule)) << rule;
    EXPECT_NEAR(c["value"].get<double>(), expected[rule], 1e-3 * expected[rule] + 1) << rule;
  }
  EXPECT_NEAR(fit["r_squared"].get<double>(), 1.0, 1e-9);
  // The override is written like the CSV path's and plans read it.
  std::ifstream in(rules);
  std::string yaml((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(yaml.find("ram_per_websocket"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("telemetry of the last 2 hours"), std::string::npos) << yaml;
  auto [plan_code, plan] = RunCommand(
      {CRM_CRMCTL_BINARY, "--rules", rules.string(), "plan", "--customers", "50"}, {}, "");
  EXPECT_EQ(plan_code, 0) << plan;
  // Without any recorded load there is nothing to fit: a clear refusal, exit 2.
  ASSERT_EQ(Sql(pg_->ConnectionString(), "DELETE FROM gateway.telemetry"), "");
  auto [empty_code, empty] = RunCommand({CRM_CRMCTL_BINARY, "calibrate", "--from-db"}, cli_env, "");
  EXPECT_EQ(empty_code, 2) << empty;
  EXPECT_NE(empty.find("rows"), std::string::npos) << empty;
}

TEST_F(TelemetryReportTest, CalibrateFromTheDatabaseCountsTheGatewayAndPostgres) {
  // The slices as above (5 MiB per tenant, 20 MiB per connected channel, a 3 MiB warm slice),
  // and at the same instants the gateway (10 MiB) and PostgreSQL (40 MiB + 3 MiB per tenant).
  ASSERT_NO_FATAL_FAILURE(RecordSliceLoad());
  ASSERT_EQ(Sql(pg_->ConnectionString(),
                "INSERT INTO gateway.server_telemetry (ts, gateway_pss_bytes, postgres_pss_bytes) "
                "SELECT date_trunc('minute', now()) - k * interval '1 minute', 10 * 1048576, "
                "(40 + 3 * (3 + k % 5)) * 1048576 FROM generate_series(0, 29) AS k"),
            "");
  fs::path rules = pg_->dir() / "rules.yaml";
  std::map<std::string, std::string> cli_env = {{"CRM_DATABASE_URL", pg_->ConnectionString()}};
  auto [code, out] = RunCommand({CRM_CRMCTL_BINARY, "-o", "json", "calibrate", "--from-db",
                                 "--engine", "crmd", "--hours", "2", "--write", rules.string()},
                                cli_env, "");
  ASSERT_EQ(code, 0) << out;
  json fit = json::parse(out.substr(0, out.rfind('}') + 1));
  std::map<std::string, double> expected = {{"ram_per_device", 20.0 * 1048576},
                                            {"buffer_per_customer", 8.0 * 1048576},
                                            {"baseline", 53.0 * 1048576}};
  for (const auto& c : fit["coefficients"]) {
    std::string rule = c["rule"].get<std::string>();
    if (expected.count(rule)) {
      EXPECT_NEAR(c["value"].get<double>(), expected[rule], 1e-3 * expected[rule]) << rule;
    }
  }
  // The crmd engine carries its own per-tenant and base figures: the fit is written there.
  std::ifstream in(rules);
  std::string yaml((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(yaml.find("base_ram"), std::string::npos) << yaml;
  auto [plan_code, plan] =
      RunCommand({CRM_CRMCTL_BINARY, "--rules", rules.string(), "-o", "json", "plan", "--engine",
                  "crmd", "--customers", "10", "--devices-per-customer", "1"},
                 {}, "");
  ASSERT_EQ(plan_code, 0) << plan;
  json p = json::parse(plan);
  EXPECT_NEAR(p["demand"]["ram_bytes"]["buffers"].get<double>(), 10 * 8.0 * 1048576,
              1e-3 * 80 * 1048576);
  EXPECT_NEAR(p["demand"]["ram_bytes"]["engine_base"].get<double>(), 53.0 * 1048576,
              1e-3 * 53 * 1048576);
}

// A deployment's day: five instants before the first tenant (the gateway's 10 MiB; PostgreSQL's
// 32 MiB and 2 MiB for each of the runtime's own 4 connections), then 3 to 7 tenants of whom
// some have been idle for ten minutes. An active tenant costs 5 MiB in its slice and 1 to 4
// connections, plus 100 KiB per event stream and 200 B per queued task; an idle one 1 MiB and
// no connection (closed after slice_idle_disconnect). Counted apart, each cost comes back, the
// fixed part measured on the empty instants; written per tenant at the connections an active
// tenant held (the median), none for an idle one (1 MiB) and the 4 at rest (50 MiB).
TEST_F(TelemetryReportTest, CalibrateFromTheDatabaseFitsIdleTenantsAndEmptyInstants) {
  auto run = [&](const std::string& sql) {
    ASSERT_EQ(Sql(pg_->ConnectionString(), sql), "") << sql;
  };
  const std::string at = "date_trunc('minute', now()) - k * interval '1 minute'";
  // Tenant i of instant k is idle when i <= k % 3.
  run("INSERT INTO gateway.telemetry (ts, slice_id, rss_bytes, pss_bytes, wa_state, streams, "
      "pending_tasks, idle_seconds) SELECT " +
      at +
      ", i, 1, CASE WHEN i <= k % 3 THEN 1048576 "
      "ELSE 5 * 1048576 + (i * k) % 4 * 102400 + ((i + 2 * k) % 7) * 1000 * 200 END, "
      "'connected', CASE WHEN i <= k % 3 THEN 0 ELSE (i * k) % 4 END, CASE WHEN i <= k % 3 THEN "
      "0 ELSE ((i + 2 * k) % 7) * 1000 END, CASE WHEN i <= k % 3 THEN 600 ELSE 5 END "
      "FROM generate_series(5, 39) AS k, LATERAL generate_series(1, 3 + k % 5) AS i");
  run("INSERT INTO gateway.server_telemetry (ts, slices_total, pg_connections, "
      "gateway_pss_bytes, postgres_pss_bytes) SELECT " +
      at +
      ", CASE WHEN k < 5 THEN 0 ELSE 3 + "
      "k % 5 END, c.n, 10 * 1048576, (32 + 2 * c.n) * 1048576 FROM generate_series(0, 39) AS k, "
      "LATERAL (SELECT 4 + coalesce(sum(CASE WHEN i <= k % 3 THEN 0 ELSE 1 + (i + k) % 4 END), "
      "0)::int AS n FROM generate_series(1, CASE WHEN k < 5 THEN 0 ELSE 3 + k % 5 END) AS i) c");
  fs::path rules = pg_->dir() / "rules.yaml";
  std::map<std::string, std::string> cli_env = {{"CRM_DATABASE_URL", pg_->ConnectionString()}};
  auto [code, out] =
      RunCommand({CRM_CRMCTL_BINARY, "-o", "json", "calibrate", "--from-db", "--engine", "crmd",
                  "--hold", "ram_per_device", "--hours", "2", "--write", rules.string()},
                 cli_env, "");
  ASSERT_EQ(code, 0) << out;
  json fit = json::parse(out.substr(0, out.rfind('}') + 1));
  EXPECT_EQ(fit["rows"], 40);
  auto expect = [&](const json& coefficients, std::map<std::string, double> expected) {
    std::set<std::string> seen;
    for (const auto& c : coefficients) {
      std::string rule = c["rule"].get<std::string>();
      if (expected.count(rule)) {
        seen.insert(rule);
        EXPECT_NEAR(c["value"].get<double>(), expected[rule], 1e-3 * expected[rule]) << rule;
      }
    }
    EXPECT_EQ(seen.size(), expected.size()) << out;
  };
  expect(fit["coefficients"], {{"ram_per_websocket", 102400},
                               {"bytes_per_task", 200},
                               {"buffer_per_customer", 5.0 * 1048576},
                               {"idle_per_customer", 1.0 * 1048576},
                               {"ram_per_db_connection", 2.0 * 1048576},
                               {"baseline", 42.0 * 1048576}});
  EXPECT_EQ(fit["connections_at_rest"], 4.0) << out;
  // The median over the loaded instants of the connections per active tenant, as recorded.
  std::vector<double> held;
  for (int k = 5; k < 40; ++k) {
    int connections = 0;
    for (int i = k % 3 + 1; i <= 3 + k % 5; ++i) {
      connections += 1 + (i + k) % 4;
    }
    held.push_back(static_cast<double>(connections) / (3 + k % 5 - k % 3));
  }
  std::nth_element(held.begin(), held.begin() + held.size() / 2, held.end());
  const double per_active = fit["connections_per_active_tenant"].get<double>();
  EXPECT_NEAR(per_active, held[held.size() / 2], 1e-9) << out;
  expect(fit["written"], {{"buffer_per_customer", (5.0 + 2.0 * per_active) * 1048576},
                          {"idle_per_customer", 1.0 * 1048576},
                          {"baseline", 50.0 * 1048576}});
  std::ifstream in(rules);
  std::string yaml((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(yaml.find("idle_per_customer"), std::string::npos) << yaml;
  // Idle only after an hour: nobody is, and the idle term leaves the fit.
  auto [late_code, late] =
      RunCommand({CRM_CRMCTL_BINARY, "-o", "json", "calibrate", "--from-db", "--engine", "crmd",
                  "--hold", "ram_per_device", "--hours", "2", "--idle-after", "3600"},
                 cli_env, "");
  ASSERT_EQ(late_code, 0) << late;
  EXPECT_EQ(late.find("idle_per_customer"), std::string::npos) << late;
}

}  // namespace
}  // namespace crm::testing
