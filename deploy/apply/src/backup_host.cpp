// What local and ssh backups share: pgbackrest's listing, the choice of a backup, the recovery
// options, the wait for recovery and the steps of a one-tenant restore, all through a
// DatabaseHost.
#include "backup_host.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <thread>

#include "crm/apply/step.hpp"
#include "crm/error.hpp"
#include "crm/text.hpp"
#include "crm/units.hpp"
#include "local_deployment.hpp"

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
  auto doc = nlohmann::json::parse(out, nullptr, false);
  if (doc.is_discarded()) {
    // pgbackrest prints its JSON as one line, last; what a host's shell profile writes to
    // stderr over ssh (a "pyenv: cannot rehash") comes before it in the combined output.
    std::string_view text = out;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
      text.remove_suffix(1);
    }
    const auto newline = text.rfind('\n');
    doc = nlohmann::json::parse(newline == std::string_view::npos ? text : text.substr(newline + 1),
                                nullptr, false);
  }
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

// --- one tenant ---------------------------------------------------------------------------------

std::string TenantSlice::Role() const {
  return fmt::format("slice_{}", id);
}

bool TenantSlice::Runs() const {
  return state == "assigned" || state == "available";
}

namespace {

// "slice <id> <state>" (a trimmed line), the answer FindSlice asks for: the output it comes in
// also carries what the host's shell wrote to stderr (pyenv's "cannot rehash" from root's profile
// in one CI run), which must neither be taken for the answer nor crash its parse.
std::optional<TenantSlice> SliceAnswer(std::string_view line) {
  constexpr std::string_view kTag = "slice ";
  if (!line.starts_with(kTag)) {
    return std::nullopt;
  }
  line.remove_prefix(kTag.size());
  TenantSlice slice;
  const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), slice.id);
  if (ec != std::errc() || slice.id <= 0 || end == line.data() + line.size() || *end != ' ') {
    return std::nullopt;
  }
  slice.state.assign(end + 1, line.data() + line.size());
  if (slice.state.empty() || !std::all_of(slice.state.begin(), slice.state.end(),
                                          [](char c) { return c >= 'a' && c <= 'z'; })) {
    return std::nullopt;
  }
  return slice;
}

}  // namespace

TenantSlice FindSlice(const std::function<std::string(const std::string& sql)>& query,
                      const std::string& email) {
  const std::string output = query(
      "SELECT 'slice ' || s.id || ' ' || s.state FROM gateway.slices s JOIN gateway.users u "
      "ON u.id = s.user_id WHERE lower(u.email) = lower(" +
      local::QuoteConf(email) +
      ") AND s.state NOT IN ('destroying', 'destroyed', 'provisioning') ORDER BY s.id DESC "
      "LIMIT 1");
  for (const std::string& line : SplitLines(output)) {
    if (std::optional<TenantSlice> slice = SliceAnswer(local::TrimLine(line))) {
      return *slice;
    }
  }
  throw InputError(
      fmt::format(
          "--tenant: no account {} with a live slice in this deployment (a deleted account comes "
          "back only with a whole restore)",
          email),
      "tenant");
}

std::string ScratchServerOptions(int port, const std::string& socket_dir) {
  return fmt::format(
      "-c port={} -c listen_addresses= -c unix_socket_directories={} -c archive_mode=off", port,
      socket_dir);
}

std::string DumpAsOf(DatabaseHost& host, ScratchCluster& scratch, const BackupInfo& backup,
                     const std::optional<RecoveryTime>& time, const TenantSlice& slice,
                     Console console) {
  const std::string point = time ? time->text : "the end of backup " + backup.label;
  {
    Step step(console.quiet,
              fmt::format("pgbackrest restore --set={} into {}", backup.label, scratch.Data()));
    std::vector<std::string> args = RecoveryArgs(backup, time);
    args.push_back("--pg1-path=" + scratch.Data());
    // Recovery's own archiving stays off: the scratch copy must never push into the live stanza.
    args.push_back("--archive-mode=off");
    args.push_back("restore");
    PgBackRestOrThrow(host, args, 3600s, "pgbackrest restore (temporary cluster)");
    step.Done();
  }
  {
    Step step(console.quiet,
              fmt::format("start it ({}) and recover to {}", scratch.Where(), point));
    scratch.Start();
    AwaitPromoted([&] { return scratch.InRecovery(); }, 600s);
    step.Done();
  }
  Step step(console.quiet, fmt::format("pg_dump -n {}", slice.Role()));
  auto [path, bytes] = scratch.DumpSchema(slice.Role());
  step.Done(crm::FormatBytes(static_cast<double>(bytes)));
  return path;
}

std::string ReplaceSchemaSql(const TenantSlice& slice, const std::string& dump) {
  const std::string role = slice.Role();
  return fmt::format(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {};\n"
      "DROP SCHEMA IF EXISTS {} CASCADE;\n"
      "\\i {}\n",
      local::QuoteConf(role), role, local::QuoteConf(dump));
}

void PrintBackupTaken(const BackupInfo& newest, std::chrono::steady_clock::time_point started,
                      Console console) {
  if (!console.quiet) {
    std::cout << fmt::format("Backup {} ({}, database {}, {} added to the repository) in {}.\n",
                             newest.label, newest.type,
                             crm::FormatBytes(static_cast<double>(newest.size_bytes)),
                             crm::FormatBytes(static_cast<double>(newest.repo_bytes)),
                             FormatSeconds(std::chrono::steady_clock::now() - started));
  }
}

void PrintTenantRestored(const std::string& email, std::chrono::steady_clock::time_point started,
                         const std::string& point, Console console) {
  if (!console.quiet) {
    std::cout << fmt::format("\nTenant {} restored in {} to {}; other tenants untouched.\n", email,
                             FormatSeconds(std::chrono::steady_clock::now() - started), point);
  }
}

void PrintTenantPlan(const std::string& email, const TenantSlice& slice, const BackupInfo& backup,
                     const TenantPlan& plan) {
  std::cout << fmt::format(
      "Restore tenant {} (slice {}, {}) in {} to {} from backup {} ({}, finished {}):\n", email,
      slice.id, slice.state, plan.deployment, plan.point, backup.label, backup.type,
      Utc(backup.stop));
  std::cout << fmt::format("  + a temporary cluster recovered to {} {}\n", plan.point,
                           plan.scratch);
  if (slice.Runs()) {
    std::cout << fmt::format("  ~ slice {} suspended while its data is replaced, then resumed\n",
                             slice.id);
  }
  std::cout << fmt::format("  ~ schema {} replaced by its state at that point\n", slice.Role());
  std::cout << fmt::format("  {}\n", plan.files);
  std::cout << "  (other tenants and the gateway are not touched)\n";
}

void ReplaceWhileSuspended(const TenantSlice& slice, const AdminAccess& admin,
                           const SliceControl& slices, Console console,
                           const std::function<void()>& replace) {
  if (slice.Runs()) {
    Step step(console.quiet, fmt::format("suspend slice {} (admin API)", slice.id));
    slices.suspend(admin, slice.id);
    step.Done();
  }
  try {
    replace();
  } catch (const Error& e) {
    if (!slice.Runs()) {
      throw;
    }
    throw RuntimeError(fmt::format(
        "{}\nSlice {} stays suspended: `crmctl slices resume {}` starts it again on the data it "
        "has now.",
        e.what(), slice.id, slice.id));
  }
  if (slice.Runs()) {
    Step step(console.quiet, fmt::format("resume slice {} (admin API)", slice.id));
    slices.resume(admin, slice.id);
    step.Done();
  }
}

}  // namespace crm::apply::backup
