// The local target's status (processes, health, slices, versions) and destroy (stop crmd and
// PostgreSQL; the driver removes the directory on --purge).
#include <fmt/format.h>

#include <ctime>
#include <iostream>

#include "crm/apply/step.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/http_client.hpp"
#include "crm/text.hpp"
#include "crm/units.hpp"
#include "local_deployment.hpp"

namespace crm::apply::local {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using namespace std::chrono_literals;

std::string TrimEnd(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

std::string Setting(const DeploymentState& state, const char* key) {
  const auto it = state.settings.find(key);
  return it == state.settings.end() ? std::string() : it->second;
}

Json PidOrNull(const std::optional<pid_t>& pid) {
  return pid ? Json(*pid) : Json(nullptr);
}

// The slices through the admin API, when crmd answers and the admin password is there:
// {"total", "by_state"}, or null with the reason in `error`.
Json Slices(const AdminAccess& access, bool healthy, const SliceCounter& count_slices,
            std::string& error) {
  if (!healthy || !fs::exists(access.password_file)) {
    return nullptr;
  }
  try {
    const SliceCounts counts = count_slices(access);
    return {{"total", counts.total}, {"by_state", counts.by_state}};
  } catch (const Error& e) {
    error = e.what();
    return nullptr;
  }
}

std::string SliceLine(const Json& doc) {
  if (!doc["slices"].is_null()) {
    std::string states;
    for (const auto& [name, count] : doc["slices"]["by_state"].items()) {
      states += fmt::format("{}{} {}", states.empty() ? "" : ", ", count.get<int>(), name);
    }
    return fmt::format("  slices          {} ({})\n", doc["slices"]["total"].get<std::size_t>(),
                       states);
  }
  if (doc.contains("slices_error")) {
    return fmt::format("  slices          unknown: {}\n", doc["slices_error"].get<std::string>());
  }
  return "";
}

// The newest backup's age and the WAL archiver's state (pg_stat_archiver, and the segments
// waiting in archive_status): {"last_backup", "last_backup_age_seconds", "archive": {...}}.
Json BackupStatus(const Layout& layout, const DeploymentState& recorded, bool pg_running,
                  std::string& line) {
  const BackupRepo repo{Setting(recorded, "backup_repo")};
  Json doc;
  doc["repository"] = repo.root.string();
  std::string backup_text;
  try {
    const auto newest = NewestBackup(repo);
    const long long age = newest ? static_cast<long long>(std::time(nullptr) - newest->second) : 0;
    doc["last_backup"] = newest ? Json(newest->first) : Json(nullptr);
    doc["last_backup_age_seconds"] = newest ? Json(age) : Json(nullptr);
    backup_text = newest ? fmt::format("last {} {}", newest->first, crm::FormatAge(age) + " ago")
                         : std::string("none yet (crmctl backup --dir DIR now)");
  } catch (const Error& e) {
    doc["error"] = e.what();
    backup_text = "unknown (pgbackrest info failed)";
  }
  std::string archive_text = "WAL archive unknown (PostgreSQL is down)";
  if (pg_running) {
    try {
      const std::string out =
          Psql(layout, layout.Pg(), std::stoi(Setting(recorded, "pg_port")), "postgres",
               "SELECT coalesce(extract(epoch FROM now() - last_archived_time)::bigint::text, ''), "
               "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'), "
               "coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false), "
               "coalesce(last_failed_wal, '') FROM pg_stat_archiver;\n",
               "reading pg_stat_archiver", {"-At", "-F", "|"});
      const std::vector<std::string> lines = SplitLines(out);
      std::vector<std::string> f;
      std::string cell;
      for (char c : lines.empty() ? std::string() : lines.front()) {
        if (c == '|') {
          f.push_back(cell);
          cell.clear();
        } else {
          cell += c;
        }
      }
      f.push_back(cell);
      if (f.size() == 4) {
        const bool failing = f[2] == "t";
        const long long waiting = std::stoll(f[1]);
        doc["archive"] = {
            {"last_archived_age_seconds", f[0].empty() ? Json(nullptr) : Json(std::stoll(f[0]))},
            {"segments_waiting", waiting},
            {"failing", failing},
            {"last_failed_wal", f[3]}};
        archive_text = fmt::format(
            "WAL archive {}{} waiting, last archived {}", failing ? "FAILING (" + f[3] + "), " : "",
            waiting == 1 ? std::string("1 segment") : fmt::format("{} segments", waiting),
            f[0].empty() ? std::string("never") : crm::FormatAge(std::stoll(f[0])) + " ago");
      }
    } catch (const Error& e) {
      doc["archive_error"] = e.what();
    }
  }
  line = fmt::format("  backups         {}; {}\n", backup_text, archive_text);
  return doc;
}

}  // namespace

StatusReport LocalTarget::Status(const DeploymentState& recorded,
                                 const SliceCounter& count_slices) {
  const std::string url = fmt::format("http://127.0.0.1:{}", Setting(recorded, "http_port"));
  Json doc;
  doc["dir"] = layout_.dir.string();
  doc["target"] = recorded.target;
  std::string pg_why;
  const auto pg = RunningPostgres(layout_, &pg_why);
  doc["postgres"] = {
      {"running", pg.has_value()},
      {"pid", PidOrNull(pg)},
      {"port", Setting(recorded, "pg_port")},
      {"version", TrimEnd(ReadFileIfExists(layout_.PgData() / "PG_VERSION").value_or(""))},
      {"detail", pg ? std::string("") : pg_why},
      {"log", layout_.PgLog().string()}};
  std::string why;
  const auto crmd = RunningCrmd(layout_, &why);
  const HttpResponse health = crmd ? HttpGet(url + "/health", 3s) : HttpResponse{};
  const std::string binary = Setting(recorded, "crmd");
  std::string crmd_version;
  if (!binary.empty() && fs::exists(binary)) {
    crmd_version = TrimEnd(tools::RunTool({binary, "--version"}, "/", 10s).output);
  }
  doc["crmd"] = {{"running", crmd.has_value()},
                 {"pid", PidOrNull(crmd)},
                 {"url", url},
                 {"health", health.status == 200 ? "ok"
                            : crmd               ? fmt::format("HTTP {} {}", health.status,
                                                 health.status ? health.body : health.error)
                                                 : "down"},
                 {"binary", binary},
                 {"version", crmd_version},
                 {"detail", crmd ? std::string("") : why},
                 {"log", layout_.CrmdLog().string()}};
  doc["crmctl_version"] = CRM_VERSION;
  std::string slices_error;
  const AdminAccess access{url, Setting(recorded, "admin_email"), layout_.AdminPassword()};
  doc["slices"] = Slices(access, health.status == 200, count_slices, slices_error);
  if (!slices_error.empty()) {
    doc["slices_error"] = slices_error;
  }
  StatusReport report;
  report.healthy = pg.has_value() && crmd.has_value() && health.status == 200;
  doc["healthy"] = report.healthy;

  const std::string again =
      fmt::format("`crmctl apply --target local --dir {}`", layout_.dir.string());
  report.text = fmt::format("Local deployment in {}\n", layout_.dir.string());
  report.text += fmt::format(
      "  PostgreSQL {:<4} {}\n", doc["postgres"]["version"].get<std::string>(),
      pg ? fmt::format("running  pid {}  127.0.0.1:{}", *pg, Setting(recorded, "pg_port"))
         : fmt::format("NOT RUNNING ({}); {} starts it", pg_why, again));
  report.text += fmt::format("  crmd            {}\n",
                             crmd ? fmt::format("running  pid {}  {}  health: {}", *crmd, url,
                                                doc["crmd"]["health"].get<std::string>())
                                  : fmt::format("NOT RUNNING ({}); {} restarts it", why, again));
  report.text += SliceLine(doc);
  if (!Setting(recorded, "backup_repo").empty()) {
    std::string line;
    doc["backups"] = BackupStatus(layout_, recorded, pg.has_value(), line);
    report.text += line;
  }
  report.text += fmt::format("  versions        {}; crmctl {}\n",
                             crmd_version.empty() ? "crmd ?" : crmd_version, CRM_VERSION);
  report.text += fmt::format("  logs            {}, {}\n", layout_.CrmdLog().string(),
                             layout_.PgLog().string());
  if (!access.email.empty()) {
    report.text += fmt::format("  admin           {}\n", AdminHint(access.email));
  }
  report.document = std::move(doc);
  return report;
}

TeardownPlan LocalTarget::PlanTeardown(DeploymentState& recorded, bool purge) {
  TeardownPlan plan;
  plan.heading = fmt::format("Destroy the local deployment in {}:\n", layout_.dir.string());
  plan.nothing_to_do =
      "Nothing to do: crmd and PostgreSQL are not running (data kept; --purge removes it).\n";
  plan.stopped = fmt::format(
      "Stopped; data kept in {} (`crmctl apply --target local --dir {}` starts it again, "
      "--purge removes it).\n",
      layout_.dir.string(), layout_.dir.string());
  const auto crmd = RunningCrmd(layout_, nullptr);
  const auto pg = RunningPostgres(layout_, nullptr);
  if (crmd) {
    plan.diff.changes.push_back({ChangeKind::kRemove,
                                 kHost,
                                 true,
                                 "crmd",
                                 fmt::format("stop (pid {}, and its slices)", *crmd),
                                 {},
                                 ServiceAction::kStop});
  }
  if (pg) {
    plan.diff.changes.push_back({ChangeKind::kRemove,
                                 kHost,
                                 true,
                                 "postgres",
                                 fmt::format("stop (pid {})", *pg),
                                 {},
                                 ServiceAction::kStop});
  }
  if (purge) {
    plan.diff.changes.push_back({ChangeKind::kRemove,
                                 kHost,
                                 false,
                                 layout_.dir.string() + "/",
                                 "(everything: database, slices' files, secrets, logs, state)",
                                 {},
                                 {}});
  } else if (const auto it = recorded.hosts.find(kHost);
             !crmd && !pg && it != recorded.hosts.end()) {
    // Nothing runs, but the state may still say so: record the stop.
    it->second.services.clear();
  }
  return plan;
}

void LocalTarget::Teardown(const TeardownPlan& plan, DeploymentState& state) {
  {
    Step step(console_.quiet, "stop crmd");
    StopCrmd(layout_);
    step.Done();
  }
  const auto pg_port = state.settings.find("pg_port");
  if (plan.diff.Find(kHost, true, "postgres") != nullptr && pg_port != state.settings.end() &&
      state.settings.count("backup_repo") != 0) {
    // The segment in progress holds the last writes; closed now, the archiver ships it before
    // the server exits, so a restore reaches them even after --purge.
    Step step(console_.quiet, "close the current WAL segment for the backup repository");
    try {
      Psql(layout_, layout_.Pg(), std::stoi(pg_port->second), "postgres",
           "SELECT pg_switch_wal();\n", "switching WAL");
      step.Done();
    } catch (const RuntimeError& e) {
      // Stopping must not depend on it; the repository then ends at the last closed segment.
      std::cerr << "crmctl: note: " << e.what() << '\n';
    }
  }
  if (plan.diff.Find(kHost, true, "postgres") != nullptr) {
    Step step(console_.quiet, "stop PostgreSQL");
    PgCtl(layout_, {"-m", "fast", "-w", "-t", "60", "stop"}, "stop");
    step.Done();
  }
  state.hosts[kHost].services.clear();
}

}  // namespace crm::apply::local
