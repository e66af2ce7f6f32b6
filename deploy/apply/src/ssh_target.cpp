// crmctl apply --target ssh: each rendered host's bundle copied to its machine of the inventory,
// installed and restarted there; database hosts first, then the others, slice hosts in batches
// with a health check between batches.
#include "crm/apply/ssh_target.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "crm/apply/inventory.hpp"
#include "crm/apply/step.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/render/render.hpp"
#include "ssh_session.hpp"

namespace crm::apply {
namespace ssh {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tools::ToolResult;

// A machine of the inventory with the rendered host it takes.
struct Machine {
  const InventoryHost* inventory = nullptr;
  std::string role;
  std::string service;  // what the install/restart steps bring up, named in the plan
  std::string restart;
  std::string health;
  DesiredHost desired;
};

std::string HostNames(const render::Rendering& rendering) {
  std::string names;
  for (const render::RenderedHost& h : rendering.hosts) {
    names += (names.empty() ? "" : ", ") + h.name;
  }
  return names;
}

Machine MachineFor(const render::Rendering& rendering, const render::RenderedHost& rh,
                   const InventoryHost& ih) {
  Machine m;
  m.inventory = &ih;
  m.role = rh.role;
  m.service = (rh.role == "all" || rh.role == "app" || rh.role == "slice") ? "crmd" : rh.role;
  m.restart = ih.restart.value_or(DefaultRestart(rh.role, ih.user));
  m.health = ih.health.value_or(DefaultHealth(rh.role));
  m.desired.name = rh.name;
  DesiredService service;
  service.name = m.service;
  const std::string prefix = rendering.hosts.size() > 1 ? rh.name + "/" : "";
  for (const render::RenderedFile& f : rendering.files) {
    if (f.host != rh.name) {
      continue;
    }
    std::string path = f.path;
    if (!prefix.empty() && path.rfind(prefix, 0) == 0) {
      path = path.substr(prefix.size());
    }
    m.desired.files.push_back({path, f.content, f.mode});
    service.inputs[path] = render::Sha256Hex(f.content);
  }
  m.desired.services = {service};
  return m;
}

// One machine per rendered host, and no machine the rendering does not have.
std::vector<Machine> MatchHosts(const render::Rendering& rendering, const Inventory& inventory) {
  std::vector<Machine> machines;
  for (const render::RenderedHost& rh : rendering.hosts) {
    const InventoryHost* ih = inventory.Find(rh.name);
    if (ih == nullptr) {
      throw InputError(fmt::format(
          "{}: no host named '{}': the plan renders hosts {}; add one entry per rendered host",
          inventory.file, rh.name, HostNames(rendering)));
    }
    machines.push_back(MachineFor(rendering, rh, *ih));
  }
  for (const InventoryHost& ih : inventory.hosts) {
    const bool rendered =
        std::any_of(rendering.hosts.begin(), rendering.hosts.end(),
                    [&](const render::RenderedHost& h) { return h.name == ih.name; });
    if (!rendered) {
      throw InputError(fmt::format("{}:{}: host '{}' is not a host of this plan's rendering",
                                   inventory.file, ih.line, ih.name));
    }
  }
  return machines;
}

class SshTarget final : public DeployTarget {
 public:
  SshTarget(const SshOptions& options, Console console)
      : console_(console), dir_(CheckedDir(options)) {
    inventory_ = ParseInventory(options.inventory_text, fs::absolute(options.inventory).string());
  }

  std::string_view Kind() const override { return "ssh"; }
  const fs::path& Dir() const override { return dir_; }
  std::vector<DesiredHost> Desire(const planner::Plan& plan,
                                  const DeploymentState& recorded) override;
  std::map<std::string, ObservedHost> Observe(const DeploymentState& recorded) override;
  std::string Heading() const override {
    return fmt::format("SSH deployment of tier {} ({}) to {} host(s) of {}:\n", tier_id_,
                       tier_name_, machines_.size(), inventory_.file);
  }
  PlanReview Review(PlanDiff& /*diff*/, bool /*dry_run*/) override {
    PlanReview review;
    review.up_to_date = "No changes. Every host is up to date.\n";
    return review;
  }
  void Converge(const PlanDiff& diff, DeploymentState& state,
                const std::function<void()>& save) override;

 private:
  static fs::path CheckedDir(const SshOptions& options) {
    if (options.inventory.empty()) {
      throw InputError("--inventory: required with --target ssh (the hosts to deploy to)");
    }
    if (options.dir.empty()) {
      throw InputError("--dir: required (where the state, lock and staged bundles are kept)");
    }
    return fs::absolute(options.dir);
  }
  bool ConvergeHost(const Machine& m, const PlanDiff& diff, DeploymentState& state,
                    const std::function<void()>& save);
  void CopyFiles(const Machine& m, const std::vector<std::string>& paths, HostState& rec);
  void RemoveFiles(const Machine& m, const std::vector<std::string>& paths, HostState& rec);

  Console console_;
  fs::path dir_;
  Inventory inventory_;
  int tier_id_ = 0;
  std::string tier_name_;
  std::vector<Machine> machines_;
  std::unique_ptr<SshSession> session_;
};

std::vector<DesiredHost> SshTarget::Desire(const planner::Plan& plan,
                                           const DeploymentState& /*recorded*/) {
  const std::vector<render::RenderTarget> fits = render::TargetsFor(*plan.tier);
  const bool single = std::find(fits.begin(), fits.end(), render::RenderTarget::kVps) != fits.end();
  const bool multi =
      std::find(fits.begin(), fits.end(), render::RenderTarget::kMulti) != fits.end();
  if (!single && !multi) {
    throw InputError(fmt::format("tier {} ({}) runs on Kubernetes: use --target k8s", plan.tier->id,
                                 plan.tier->name));
  }
  tier_id_ = plan.tier->id;
  tier_name_ = plan.tier->name;
  render::RenderOptions render_options;
  render_options.version = CRM_VERSION;
  const render::Rendering rendering = render::Render(
      plan, single ? render::RenderTarget::kVps : render::RenderTarget::kMulti, render_options);
  machines_ = MatchHosts(rendering, inventory_);
  session_ = std::make_unique<SshSession>(dir_ / "known_hosts");
  std::vector<DesiredHost> desired;
  for (const Machine& m : machines_) {
    desired.push_back(m.desired);
  }
  return desired;
}

// The health check of every host whose service was started before.
std::map<std::string, ObservedHost> SshTarget::Observe(const DeploymentState& recorded) {
  std::map<std::string, ObservedHost> observed;
  for (const Machine& m : machines_) {
    const auto rec = recorded.hosts.find(m.desired.name);
    if (rec == recorded.hosts.end() || !rec->second.services.contains(m.service) ||
        m.health.empty()) {
      continue;
    }
    const ToolResult r = session_->RunInDir(*m.inventory, m.health, 60s);
    RequireReachable(*m.inventory, r);
    observed[m.desired.name].running[m.service] = r.exit_code == 0;
    if (r.exit_code != 0) {
      observed[m.desired.name].why_not_running[m.service] =
          fmt::format("health check failed, exit {}", r.exit_code);
    }
  }
  return observed;
}

void SshTarget::Converge(const PlanDiff& diff, DeploymentState& state,
                         const std::function<void()>& save) {
  // Hosts no longer in the plan: forgotten (their machines are not touched).
  for (auto it = state.hosts.begin(); it != state.hosts.end();) {
    const bool kept = std::any_of(machines_.begin(), machines_.end(),
                                  [&](const Machine& m) { return m.desired.name == it->first; });
    it = kept ? std::next(it) : state.hosts.erase(it);
  }
  save();
  std::vector<std::string> roles;
  for (const Machine& m : machines_) {
    roles.push_back(m.role);
  }
  const auto batches = RolloutBatches(roles, inventory_.batch_size);
  int slice_batch = 0;
  const int slice_batches = static_cast<int>(std::count_if(
      batches.begin(), batches.end(), [&](const auto& b) { return roles[b.front()] == "slice"; }));
  for (const std::vector<std::size_t>& batch : batches) {
    std::vector<const Machine*> restarted;
    for (std::size_t i : batch) {
      if (ConvergeHost(machines_[i], diff, state, save)) {
        restarted.push_back(&machines_[i]);
      }
    }
    if (restarted.empty()) {
      continue;
    }
    const bool slices = roles[batch.front()] == "slice";
    slice_batch += slices ? 1 : 0;
    std::string names;
    for (const Machine* m : restarted) {
      names += (names.empty() ? "" : ", ") + m->desired.name;
    }
    {
      Step step(console_.quiet, slices ? fmt::format("slice batch {}/{} health ({})", slice_batch,
                                                     slice_batches, names)
                                       : fmt::format("{}: health", names));
      for (const Machine* m : restarted) {
        if (!m->health.empty()) {
          AwaitHealthy(*session_, *m->inventory, m->health, inventory_.health_timeout_s);
        }
      }
      step.Done();
    }
    for (const Machine* m : restarted) {
      state.hosts[m->desired.name].services[m->service] = {m->desired.services.front().inputs,
                                                           CRM_VERSION};
    }
    save();
  }
}

// Copies and removes the host's changed files; installs and restarts its service when it
// changed. Returns whether it was restarted.
bool SshTarget::ConvergeHost(const Machine& m, const PlanDiff& diff, DeploymentState& state,
                             const std::function<void()>& save) {
  const InventoryHost& h = *m.inventory;
  const std::string& name = m.desired.name;
  std::vector<std::string> copy;
  std::vector<std::string> remove;
  for (const Change& c : diff.changes) {
    if (c.host == name && !c.service) {
      (c.kind == ChangeKind::kRemove ? remove : copy).push_back(c.name);
    }
  }
  HostState& rec = state.hosts[name];
  if (!copy.empty()) {
    CopyFiles(m, copy, rec);
    save();
  }
  if (!remove.empty()) {
    RemoveFiles(m, remove, rec);
    save();
  }
  if (diff.Find(name, true, m.service) == nullptr) {
    return false;
  }
  for (const auto& [what, command] :
       {std::pair<std::string, std::string>{"install", h.install}, {"restart", m.restart}}) {
    if (command.empty()) {
      continue;
    }
    Step step(console_.quiet, fmt::format("{}: {} ({})", name, what, ExpandCommand(command, h)));
    const ToolResult r = session_->RunInDir(h, command);
    RequireReachable(h, r);
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format(
          "host {}: {} failed (exit {}): {}\nThe apply stopped here; {} records what was done. "
          "Fix the host and run apply again: it resumes with what is left.",
          name, what, r.exit_code, r.output, StatePath(dir_).string()));
    }
    step.Done();
  }
  return true;
}

// Stages the files under DIR/hosts/NAME and rsyncs them over the host's ssh connection.
void SshTarget::CopyFiles(const Machine& m, const std::vector<std::string>& paths, HostState& rec) {
  const InventoryHost& h = *m.inventory;
  const std::string& name = m.desired.name;
  Step step(console_.quiet, fmt::format("{}: copy {} file(s) to {}:{} (rsync over ssh)", name,
                                        paths.size(), Where(h), h.dir));
  const fs::path stage = dir_ / "hosts" / name;
  const fs::path list_file = dir_ / "hosts" / (name + ".files");
  std::string list;
  for (const DesiredFile& f : m.desired.files) {
    if (std::find(paths.begin(), paths.end(), f.path) != paths.end()) {
      WriteFileAtomic(stage / f.path, f.content, f.mode);
      list += f.path + "\n";
    }
  }
  WriteFileAtomic(list_file, list, 0600);
  const ToolResult r = session_->Rsync(h, stage, list_file);
  if (r.exit_code != 0) {
    throw RuntimeError(fmt::format("host {}: copying to {} failed (rsync exit {}): {}", name,
                                   Where(h), r.exit_code, r.output));
  }
  for (const DesiredFile& f : m.desired.files) {
    if (std::find(paths.begin(), paths.end(), f.path) != paths.end()) {
      rec.files[f.path] = {render::Sha256Hex(f.content), f.mode, CRM_VERSION};
    }
  }
  step.Done();
}

void SshTarget::RemoveFiles(const Machine& m, const std::vector<std::string>& paths,
                            HostState& rec) {
  const InventoryHost& h = *m.inventory;
  Step step(console_.quiet,
            fmt::format("{}: remove {} file(s) no longer rendered", m.desired.name, paths.size()));
  std::string command = "rm -f --";
  for (const std::string& p : paths) {
    command += " " + ShellQuote(p);
  }
  const ToolResult r = session_->RunInDir(h, command);
  RequireReachable(h, r);
  if (r.exit_code != 0) {
    throw RuntimeError(fmt::format("host {}: removing files failed: {}", m.desired.name, r.output));
  }
  for (const std::string& p : paths) {
    rec.files.erase(p);
  }
  step.Done();
}

}  // namespace
}  // namespace ssh

std::unique_ptr<DeployTarget> MakeSshTarget(const SshOptions& options, Console console) {
  return std::make_unique<ssh::SshTarget>(options, console);
}

}  // namespace crm::apply
