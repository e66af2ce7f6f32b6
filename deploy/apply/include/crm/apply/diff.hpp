// Plan/apply's comparison: the desired state (rendered files and services per host) against the
// recorded state and what is observed on the hosts, as + add, ~ change, - remove with per-file
// summaries. Pure: the targets observe, this decides.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "crm/apply/state.hpp"

namespace crm::apply {

struct DesiredFile {
  std::string path;  ///< relative to the host's root
  std::string content;
  int mode = 0644;
};

struct DesiredService {
  std::string name;
  /// What the service reads, input name → hash (files by path, "binary", ...). A change of any
  /// input restarts the service, unless the input is in reload_inputs.
  std::map<std::string, std::string> inputs;
  std::set<std::string> reload_inputs;
};

struct DesiredHost {
  std::string name;
  std::vector<DesiredFile> files;
  std::vector<DesiredService> services;
};

/// What a target saw on a host. A path or service missing from the maps was not observed and
/// the recorded state is trusted for it.
struct ObservedHost {
  std::map<std::string, std::optional<std::string>> files;  ///< content, nullopt = absent
  std::map<std::string, bool> running;
  std::map<std::string, std::string> why_not_running;  ///< e.g. "pid 1234 is gone"
};

enum class ChangeKind { kAdd, kChange, kRemove };
enum class ServiceAction { kNone, kStart, kRestart, kReload, kStop };

struct Change {
  ChangeKind kind = ChangeKind::kAdd;
  std::string host;
  bool service = false;              ///< a service, else a file
  std::string name;                  ///< path or service name
  std::string summary;               ///< "(24 lines)", "restart: config/crmd.env changed"
  std::vector<std::string> details;  ///< "- old line" / "+ new line" (secrets redacted)
  ServiceAction action = ServiceAction::kNone;
};

struct PlanDiff {
  std::vector<Change> changes;
  bool Empty() const { return changes.empty(); }
  int Count(ChangeKind kind) const;
  /// The change to `name` on `host`, or nullptr.
  const Change* Find(const std::string& host, bool service, const std::string& name) const;
};

/// Lines only in `before` (removed) and only in `after` (added), in order, by longest common
/// subsequence (files longer than 4,000 lines are compared as wholes).
struct LineChanges {
  std::vector<std::string> removed;
  std::vector<std::string> added;
};
LineChanges DiffLines(const std::string& before, const std::string& after);

/// `line` with the value hidden when it assigns a secret (KEY containing PASSWORD, SECRET or
/// TOKEN, other than a *_FILE path).
std::string RedactLine(const std::string& line);

/// Compares desired hosts against the recorded state and the observations.
PlanDiff Diff(const std::vector<DesiredHost>& desired, const DeploymentState& recorded,
              const std::map<std::string, ObservedHost>& observed);

/// The plan as text: one line per change, indented detail lines (at most `max_details` per
/// file), and a "Plan: N to add, N to change, N to remove." line.
std::string FormatDiff(const PlanDiff& diff, bool color, std::size_t max_details = 12);

}  // namespace crm::apply
