#include "crm/apply/diff.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <sstream>

#include "crm/render/render.hpp"
#include "crm/text.hpp"

namespace crm::apply {
namespace {

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

std::string FileSummary(ChangeKind kind, const std::string& before, const std::string& after,
                        int old_mode, int new_mode, std::vector<std::string>& details) {
  if (kind == ChangeKind::kAdd) {
    return fmt::format("({} lines, mode {:04o})", SplitLines(after).size(), new_mode);
  }
  if (kind == ChangeKind::kRemove) {
    return "(no longer rendered)";
  }
  const LineChanges lines = DiffLines(before, after);
  for (const std::string& l : lines.removed) {
    details.push_back("- " + RedactLine(l));
  }
  for (const std::string& l : lines.added) {
    details.push_back("+ " + RedactLine(l));
  }
  std::string summary = fmt::format("(+{} -{} lines", lines.added.size(), lines.removed.size());
  if (old_mode != new_mode) {
    summary += fmt::format(", mode {:04o} -> {:04o}", old_mode, new_mode);
  }
  return summary + ")";
}

}  // namespace

int PlanDiff::Count(ChangeKind kind) const {
  return static_cast<int>(std::count_if(changes.begin(), changes.end(),
                                        [kind](const Change& c) { return c.kind == kind; }));
}

const Change* PlanDiff::Find(const std::string& host, bool service, const std::string& name) const {
  for (const Change& c : changes) {
    if (c.host == host && c.service == service && c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

LineChanges DiffLines(const std::string& before, const std::string& after) {
  const std::vector<std::string> a = SplitLines(before);
  const std::vector<std::string> b = SplitLines(after);
  LineChanges out;
  constexpr std::size_t kMaxLines = 4000;
  if (a.size() > kMaxLines || b.size() > kMaxLines) {
    out.removed = a;
    out.added = b;
    return out;
  }
  // lcs[i][j]: longest common subsequence of a[i..] and b[j..].
  std::vector<std::vector<std::uint16_t>> lcs(a.size() + 1,
                                              std::vector<std::uint16_t>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;) {
    for (std::size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? static_cast<std::uint16_t>(lcs[i + 1][j + 1] + 1)
                               : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) {
      ++i;
      ++j;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.removed.push_back(a[i++]);
    } else {
      out.added.push_back(b[j++]);
    }
  }
  out.removed.insert(out.removed.end(), a.begin() + static_cast<std::ptrdiff_t>(i), a.end());
  out.added.insert(out.added.end(), b.begin() + static_cast<std::ptrdiff_t>(j), b.end());
  return out;
}

std::string RedactLine(const std::string& line) {
  const std::size_t eq = line.find('=');
  if (eq == std::string::npos || line.starts_with('#')) {
    return line;
  }
  std::string key = Upper(line.substr(0, eq));
  while (!key.empty() && key.back() == ' ') {
    key.pop_back();
  }
  const bool secret = key.find("PASSWORD") != std::string::npos ||
                      key.find("SECRET") != std::string::npos ||
                      key.find("TOKEN") != std::string::npos;
  if (!secret || key.ends_with("_FILE")) {
    return line;
  }
  return line.substr(0, eq + 1) + "(redacted)";
}

namespace {

// A desired file against its record and what was seen on the host; nullopt when it is current.
std::optional<Change> FileChange(const std::string& host, const DesiredFile& file,
                                 const HostState& rec, const ObservedHost& obs) {
  const std::string hash = render::Sha256Hex(file.content);
  const auto r = rec.files.find(file.path);
  const auto o = obs.files.find(file.path);
  const bool observed_file = o != obs.files.end();
  const bool on_host = !observed_file || o->second.has_value();
  Change change;
  change.host = host;
  change.name = file.path;
  if (r == rec.files.end() || !on_host) {
    change.kind = ChangeKind::kAdd;
    change.summary =
        FileSummary(ChangeKind::kAdd, "", file.content, file.mode, file.mode, change.details);
    if (r != rec.files.end()) {
      change.summary += " missing on the host";
    }
    return change;
  }
  const bool drifted = observed_file && render::Sha256Hex(*o->second) != r->second.sha256;
  if (r->second.sha256 == hash && r->second.mode == file.mode && !drifted) {
    return std::nullopt;
  }
  change.kind = ChangeKind::kChange;
  // Compare with what is really there when we saw it; else only the hash is known.
  if (observed_file) {
    change.summary = FileSummary(ChangeKind::kChange, *o->second, file.content, r->second.mode,
                                 file.mode, change.details);
  } else {
    change.summary = fmt::format("(content sha256 {} -> {})", r->second.sha256.substr(0, 12),
                                 hash.substr(0, 12));
  }
  if (drifted) {
    change.summary += " edited on the host since the last apply: restored";
  }
  return change;
}

// A desired service against its record and whether it runs: start, restart (an input changed),
// reload (only reload inputs changed); nullopt when it is current.
std::optional<Change> ServiceChange(const std::string& host, const DesiredService& svc,
                                    const HostState& rec, const ObservedHost& obs) {
  Change change;
  change.host = host;
  change.service = true;
  change.name = svc.name;
  const auto r = rec.services.find(svc.name);
  const auto run = obs.running.find(svc.name);
  const bool running = run == obs.running.end() || run->second;
  if (r == rec.services.end()) {
    change.kind = ChangeKind::kAdd;
    change.action = ServiceAction::kStart;
    change.summary = "start";
    return change;
  }
  std::vector<std::string> restart_by;
  std::vector<std::string> reload_by;
  for (const auto& [input, hash] : svc.inputs) {
    const auto before = r->second.inputs.find(input);
    if (before != r->second.inputs.end() && before->second == hash) {
      continue;
    }
    (svc.reload_inputs.contains(input) ? reload_by : restart_by).push_back(input);
  }
  for (const auto& [input, hash] : r->second.inputs) {
    if (!svc.inputs.contains(input)) {
      restart_by.push_back(input);
    }
  }
  change.kind = ChangeKind::kChange;
  if (!running) {
    change.action = ServiceAction::kStart;
    const auto why = obs.why_not_running.find(svc.name);
    change.summary = fmt::format("start: not running{}",
                                 why == obs.why_not_running.end() ? "" : " (" + why->second + ")");
  } else if (!restart_by.empty()) {
    change.action = ServiceAction::kRestart;
    change.summary = fmt::format("restart: {} changed", fmt::join(restart_by, ", "));
  } else if (!reload_by.empty()) {
    change.action = ServiceAction::kReload;
    change.summary = fmt::format("reload: {} changed", fmt::join(reload_by, ", "));
  } else {
    return std::nullopt;
  }
  return change;
}

void DiffHost(const DesiredHost& host, const HostState& rec, const ObservedHost& obs,
              PlanDiff& diff) {
  std::set<std::string> desired_paths;
  for (const DesiredFile& file : host.files) {
    desired_paths.insert(file.path);
    if (auto change = FileChange(host.name, file, rec, obs)) {
      diff.changes.push_back(std::move(*change));
    }
  }
  for (const auto& [path, record] : rec.files) {
    if (!desired_paths.contains(path)) {
      diff.changes.push_back(
          {ChangeKind::kRemove, host.name, false, path, "(no longer rendered)", {}, {}});
    }
  }
  std::set<std::string> desired_services;
  for (const DesiredService& svc : host.services) {
    desired_services.insert(svc.name);
    if (auto change = ServiceChange(host.name, svc, rec, obs)) {
      diff.changes.push_back(std::move(*change));
    }
  }
  for (const auto& [name, record] : rec.services) {
    if (!desired_services.contains(name)) {
      diff.changes.push_back(
          {ChangeKind::kRemove, host.name, true, name, "stop", {}, ServiceAction::kStop});
    }
  }
}

}  // namespace

PlanDiff Diff(const std::vector<DesiredHost>& desired, const DeploymentState& recorded,
              const std::map<std::string, ObservedHost>& observed) {
  PlanDiff diff;
  static const HostState kNoHost;
  static const ObservedHost kNothingObserved;
  std::set<std::string> desired_hosts;
  for (const DesiredHost& host : desired) {
    desired_hosts.insert(host.name);
    const auto rec_it = recorded.hosts.find(host.name);
    const auto obs_it = observed.find(host.name);
    DiffHost(host, rec_it == recorded.hosts.end() ? kNoHost : rec_it->second,
             obs_it == observed.end() ? kNothingObserved : obs_it->second, diff);
  }
  for (const auto& [name, host] : recorded.hosts) {
    if (desired_hosts.contains(name)) {
      continue;
    }
    for (const auto& [path, record] : host.files) {
      diff.changes.push_back(
          {ChangeKind::kRemove, name, false, path, "(host no longer in the deployment)", {}, {}});
    }
    for (const auto& [svc, record] : host.services) {
      diff.changes.push_back(
          {ChangeKind::kRemove, name, true, svc, "stop", {}, ServiceAction::kStop});
    }
  }
  return diff;
}

std::string FormatDiff(const PlanDiff& diff, bool color, std::size_t max_details) {
  std::set<std::string> hosts;
  for (const Change& c : diff.changes) {
    hosts.insert(c.host);
  }
  const bool many_hosts = hosts.size() > 1;
  std::string out;
  std::string current_host;
  for (const Change& c : diff.changes) {
    if (many_hosts && c.host != current_host) {
      out += fmt::format("  host {}:\n", c.host);
      current_host = c.host;
    }
    const char sign = c.kind == ChangeKind::kAdd ? '+' : c.kind == ChangeKind::kChange ? '~' : '-';
    const char* on = "";
    const char* off = "";
    if (color) {
      on = c.kind == ChangeKind::kAdd      ? "\033[32m"
           : c.kind == ChangeKind::kChange ? "\033[33m"
                                           : "\033[31m";
      off = "\033[0m";
    }
    const std::string what = c.service ? "service " + c.name : c.name;
    out += fmt::format("{}  {}{} {:<34}{} {}\n", many_hosts ? "  " : "", on, sign, what, off,
                       c.summary);
    for (std::size_t i = 0; i < c.details.size() && i < max_details; ++i) {
      out += fmt::format("{}      {}\n", many_hosts ? "  " : "", c.details[i]);
    }
    if (c.details.size() > max_details) {
      out += fmt::format("{}      ... {} more line(s)\n", many_hosts ? "  " : "",
                         c.details.size() - max_details);
    }
  }
  out += fmt::format("Plan: {} to add, {} to change, {} to remove.\n", diff.Count(ChangeKind::kAdd),
                     diff.Count(ChangeKind::kChange), diff.Count(ChangeKind::kRemove));
  return out;
}

}  // namespace crm::apply
