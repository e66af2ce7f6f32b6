// Where a deployment runs — this machine (local), machines reached over ssh, a Kubernetes
// cluster (k8s) — behind one interface. A target knows its place: what the plan means there,
// what runs there now, and how to change it. The driver (driver.hpp) owns everything around
// that, the same for every target: the lock, the recorded state, the comparison, the approval
// and the outcome.
//
// The driver calls, with the deployment directory locked (except in a dry run, and for a new
// deployment until it is approved):
//   apply:   Desire → Observe → (driver: Diff) → Heading, Review → (driver: approval) → Converge
//   destroy: PlanTeardown → (driver: approval) → Teardown
//   status:  Status (no lock: it only reads)
// Everything runs on the calling thread and may print progress (Step lines) unless quiet.
// Errors are exceptions: InputError for what the operator can fix (an option, a plan that does
// not fit the target), RuntimeError for the environment (a tool missing, a host unreachable, a
// step that failed). Before Converge and Teardown a target changes nothing outside its
// deployment directory.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "crm/apply/diff.hpp"
#include "crm/apply/state.hpp"
#include "crm/planner/plan.hpp"

namespace crm::apply {

/// How the driver and the targets print: progress unless quiet, the diff coloured if asked.
struct Console {
  bool quiet = false;
  bool color = false;
};

/// What a target adds to the plan the driver prints before asking for approval.
struct PlanReview {
  /// Printed after the diff: what else the operator should see (kubectl diff's output; in a dry
  /// run, the commands apply would run).
  std::string notes;
  /// Changes the diff does not list (kubectl diff found the cluster different).
  bool unlisted_changes = false;
  /// Printed instead when there is nothing to do.
  std::string up_to_date = "No changes.\n";
};

/// What `destroy` would do, for the driver to print and approve.
struct TeardownPlan {
  std::string heading;        ///< "Destroy the local deployment in DIR:\n"
  PlanDiff diff;              ///< services stopped, and with purge the directory removed
  std::string nothing_to_do;  ///< printed when the diff is empty
  std::string stopped;        ///< printed after a teardown without purge
};

/// How `status` reaches a running crmd's admin API: the caller owns the HTTP client.
struct AdminAccess {
  std::string url;  ///< "http://127.0.0.1:8080"
  std::string email;
  std::filesystem::path password_file;
};
struct SliceCounts {
  std::size_t total = 0;
  std::map<std::string, int> by_state;  ///< "warm" → 3, …
};
/// Counts the slices through the admin API; throws crm::Error when it cannot.
using SliceCounter = std::function<SliceCounts(const AdminAccess&)>;

/// A deployment's processes, health, slices and versions.
struct StatusReport {
  bool healthy = false;             ///< everything runs and answers
  nlohmann::ordered_json document;  ///< for -o json / yaml
  std::string text;                 ///< the table
};

class DeployTarget {
 public:
  virtual ~DeployTarget() = default;

  /// "local", "ssh" or "k8s", recorded in state.json: a directory holds one target's deployment.
  virtual std::string_view Kind() const = 0;
  /// The deployment directory (absolute): state.json, the lock, and what the target keeps
  /// locally (local: the whole deployment; ssh: staged bundles; k8s: the manifests applied).
  virtual const std::filesystem::path& Dir() const = 0;

  /// The hosts as `plan` wants them here: files with content and mode, and the services with
  /// the inputs they read. `recorded` holds choices made once (ports). Renders and reads only.
  /// Throws InputError when the plan or the options do not fit this target.
  virtual std::vector<DesiredHost> Desire(const planner::Plan& plan,
                                          const DeploymentState& recorded) = 0;

  /// What is there now, by host name: file contents and whether services run (see
  /// ObservedHost: what is left out was not observed, and the recorded state is trusted for it).
  /// Changes nothing.
  virtual std::map<std::string, ObservedHost> Observe(const DeploymentState& recorded) = 0;

  /// The plan's first line: what goes where ("Local deployment in DIR (tier 1 Start, …):\n").
  virtual std::string Heading() const = 0;

  /// Between the comparison and the approval: adds to `diff` what the comparison cannot see
  /// (secrets generated once), and fails early on what would stop Converge midway (a port in
  /// use, an unreachable cluster). With `dry_run` it needs nothing outside this machine.
  virtual PlanReview Review(PlanDiff& diff, bool dry_run) = 0;

  /// Makes the place match Desire's hosts by doing `diff`'s changes, step by step. Each step it
  /// finishes is recorded in `state` and saved with `save()`, so an apply stopped midway resumes
  /// with what is left. Called once approved, with the lock held. Throws RuntimeError naming the
  /// step that failed.
  virtual void Converge(const PlanDiff& diff, DeploymentState& state,
                        const std::function<void()>& save) = 0;

  /// The last lines of a successful apply (where to open it, how to stop it); may be empty.
  virtual std::string Closing() const { return {}; }

  /// What runs and whether it answers; slices through `count_slices`. The default throws
  /// InputError: the target cannot report yet.
  virtual StatusReport Status(const DeploymentState& recorded, const SliceCounter& count_slices);

  /// What `destroy` (with `purge`: and delete the data) would stop and remove. May note in
  /// `recorded` that nothing runs any more (the driver saves it). The default throws InputError:
  /// the target cannot be destroyed by crmctl yet.
  virtual TeardownPlan PlanTeardown(DeploymentState& recorded, bool purge);

  /// Stops what PlanTeardown listed and records it in `state`; the driver then saves the state
  /// or, with purge, removes the directory.
  virtual void Teardown(const TeardownPlan& plan, DeploymentState& state);
};

}  // namespace crm::apply
