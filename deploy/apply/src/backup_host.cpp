// What local and ssh backups share: pgbackrest's listing, the choice of a backup, the recovery
// options and the wait for recovery, all through a DatabaseHost.
#include "backup_host.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "crm/apply/step.hpp"
#include "crm/error.hpp"

namespace crm::apply::backup {

using namespace std::chrono_literals;

std::string PgBackRestOrThrow(DatabaseHost& host, const std::vector<std::string>& args,
                              std::chrono::seconds timeout, const std::string& what) {
  const tools::ToolResult r = host.PgBackRest(args, timeout);
  if (r.exit_code != 0) {
    throw RuntimeError(fmt::format("{} failed (pgbackrest exit {}{}): {}\n  logs in {}", what,
                                   r.exit_code, r.timed_out ? ", timed out" : "", r.output,
                                   host.LogHint()));
  }
  return r.output;
}

std::vector<BackupInfo> ReadBackups(DatabaseHost& host) {
  const std::string out = PgBackRestOrThrow(
      host, {"--output=json", "--log-level-console=off", "--log-level-stderr=off", "info"}, 120s,
      "listing backups");
  const auto doc = nlohmann::json::parse(out, nullptr, false);
  if (doc.is_discarded() || !doc.is_array()) {
    throw RuntimeError(fmt::format("pgbackrest info: not JSON: {}", out.substr(0, 300)));
  }
  std::vector<BackupInfo> backups;
  for (const auto& stanza : doc) {
    for (const auto& b : stanza.value("backup", nlohmann::json::array())) {
      BackupInfo info;
      info.label = b.value("label", "");
      info.type = b.value("type", "");
      info.start = b["timestamp"].value("start", std::time_t{0});
      info.stop = b["timestamp"].value("stop", std::time_t{0});
      info.size_bytes = b["info"].value("size", std::uint64_t{0});
      info.repo_bytes = b["info"]["repository"].value("delta", std::uint64_t{0});
      backups.push_back(info);
    }
  }
  return backups;
}

std::string Utc(std::time_t t) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S}+00", fmt::gmtime(t));
}

const BackupInfo& ChooseBackup(const std::vector<BackupInfo>& backups, const std::string& backup_id,
                               const std::optional<RecoveryTime>& time, const std::string& list) {
  if (backups.empty()) {
    throw InputError(fmt::format("there are no backups yet ({} now takes one)", list));
  }
  if (!backup_id.empty()) {
    for (const BackupInfo& b : backups) {
      if (b.label == backup_id) {
        return b;
      }
    }
    throw InputError(fmt::format("--backup: no backup {} ({} list shows them)", backup_id, list),
                     "backup");
  }
  const BackupInfo* best = nullptr;
  for (const BackupInfo& b : backups) {
    if (static_cast<double>(b.stop) < time->epoch) {
      best = &b;
    }
  }
  if (best == nullptr) {
    throw InputError(
        fmt::format("--time: {} is before the first backup finished ({}); nothing to restore to",
                    time->text, Utc(backups.front().stop)),
        "time");
  }
  return *best;
}

std::vector<std::string> RecoveryArgs(const BackupInfo& backup,
                                      const std::optional<RecoveryTime>& time) {
  std::vector<std::string> args = {"--set=" + backup.label, "--target-action=promote"};
  if (time) {
    args.push_back("--type=time");
    args.push_back("--target=" + time->text);
  } else {
    args.push_back("--type=immediate");
  }
  return args;
}

void ArchiveCurrentWal(DatabaseHost& host, Console console) {
  Step step(console.quiet, "pgbackrest check (archive the WAL written up to now)");
  PgBackRestOrThrow(host, {"check"}, 180s, "archiving the current WAL");
  step.Done();
}

void AwaitPromoted(const std::function<tools::ToolResult()>& in_recovery,
                   std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    const tools::ToolResult r = in_recovery();
    last = r.output;
    while (!last.empty() && (last.back() == '\n' || last.back() == ' ')) {
      last.pop_back();
    }
    if (r.exit_code == 0 && last == "f") {
      return;
    }
    std::this_thread::sleep_for(200ms);
  }
  throw RuntimeError(
      fmt::format("PostgreSQL did not finish recovery within {} s ({})", limit.count(), last));
}

}  // namespace crm::apply::backup
