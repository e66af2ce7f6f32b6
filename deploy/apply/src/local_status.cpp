// The local target's status (processes, health, slices, versions) and destroy (stop crmd and
// PostgreSQL; the driver removes the directory on --purge).
#include <fmt/format.h>

#include "crm/apply/health.hpp"
#include "crm/apply/step.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
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
  const HttpAnswer health = crmd ? HttpGet(url + "/health", 3000) : HttpAnswer{};
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
  if (plan.diff.Find(kHost, true, "postgres") != nullptr) {
    Step step(console_.quiet, "stop PostgreSQL");
    PgCtl(layout_, {"-m", "fast", "-w", "-t", "60", "stop"}, "stop");
    step.Done();
  }
  state.hosts[kHost].services.clear();
}

}  // namespace crm::apply::local
