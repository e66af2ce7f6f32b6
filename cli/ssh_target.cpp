#include "ssh_target.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "crm/tools/tool_runner.hpp"
#include "crm/apply/approval.hpp"
#include "crm/apply/diff.hpp"
#include "crm/apply/inventory.hpp"
#include "crm/apply/lock.hpp"
#include "crm/apply/state.hpp"
#include "crm/error.hpp"
#include "crm/render/render.hpp"

namespace crm::cli {
namespace {

using tools::FindTool;
using tools::ProcessSpec;
using tools::RunProcess;
using tools::RunTool;
using tools::StartDetached;
using tools::ToolResult;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Machine {
  const apply::InventoryHost* inventory = nullptr;
  std::string role;
  std::string service;  // what the install/restart steps bring up, named in the plan
  std::string restart;
  std::string health;
  apply::DesiredHost desired;
};

// One ssh connection per host for the whole apply (ControlMaster): each step would otherwise
// pay a new handshake. The masters are closed, and their socket directory removed, at the end.
struct Tools {
  std::string ssh;
  std::string rsync;
  fs::path default_known_hosts;
  fs::path control_dir;  // short: socket paths are limited to 107 bytes
  std::set<const apply::InventoryHost*> used;

  Tools(std::string ssh_path, std::string rsync_path, fs::path known_hosts)
      : ssh(std::move(ssh_path)),
        rsync(std::move(rsync_path)),
        default_known_hosts(std::move(known_hosts)) {
    char tmpl[] = "/tmp/crmctl-ssh-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      throw RuntimeError("cannot create a directory for ssh's control sockets in /tmp");
    }
    control_dir = tmpl;
  }
  Tools(const Tools&) = delete;
  Tools& operator=(const Tools&) = delete;
  ~Tools() {
    for (const apply::InventoryHost* h : used) {
      ProcessSpec spec;
      spec.argv = {ssh,
                   "-o",
                   "ControlPath=" + (control_dir / "%C").string(),
                   "-p",
                   std::to_string(h->port),
                   "-O",
                   "exit",
                   h->user + "@" + h->address};
      spec.timeout = std::chrono::seconds(10);
      try {
        RunProcess(spec);
      } catch (const std::exception&) {
        // The master exits on its own once idle (ControlPersist); nothing to report.
      }
    }
    std::error_code ec;
    fs::remove_all(control_dir, ec);
  }
};

std::string Tool(const std::string& name) {
  auto path = FindTool(name);
  if (!path) {
    throw RuntimeError(fmt::format(
        "{} not found on PATH: --target ssh needs it (scripts/bootstrap installs openssh-client "
        "and rsync)",
        name));
  }
  return *path;
}

std::vector<std::string> SshOptionsFor(const apply::InventoryHost& h, Tools& tools) {
  tools.used.insert(&h);
  const std::string known =
      h.known_hosts.empty() ? tools.default_known_hosts.string() : h.known_hosts;
  return {"-i",
          h.key,
          "-p",
          std::to_string(h.port),
          "-o",
          "BatchMode=yes",
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "ConnectTimeout=10",
          "-o",
          h.known_hosts.empty() ? "StrictHostKeyChecking=accept-new" : "StrictHostKeyChecking=yes",
          "-o",
          "UserKnownHostsFile=" + known,
          "-o",
          "LogLevel=ERROR",
          "-o",
          "ControlMaster=auto",
          "-o",
          "ControlPath=" + (tools.control_dir / "%C").string(),
          "-o",
          "ControlPersist=60"};
}

std::string Where(const apply::InventoryHost& h) {
  return fmt::format("{}@{}:{}", h.user, h.address, h.port);
}

// Runs `command` in the host's bundle directory over ssh.
ToolResult Remote(const apply::InventoryHost& h, Tools& tools, const std::string& command,
                  std::chrono::seconds timeout = 600s) {
  ProcessSpec spec;
  spec.argv = {tools.ssh};
  const auto opts = SshOptionsFor(h, tools);
  spec.argv.insert(spec.argv.end(), opts.begin(), opts.end());
  spec.argv.push_back(fmt::format("{}@{}", h.user, h.address));
  spec.argv.push_back(command);
  spec.timeout = timeout;
  return RunProcess(spec);
}

// ssh exits 255 when it cannot connect or authenticate; anything else is the command's status.
void RequireReachable(const apply::InventoryHost& h, const ToolResult& r) {
  if (r.exit_code == 255 || r.timed_out) {
    throw RuntimeError(fmt::format("host {} ({}) is unreachable over ssh{}: {}", h.name, Where(h),
                                   r.timed_out ? " (timed out)" : "", r.output));
  }
}

std::string InDir(const apply::InventoryHost& h, const std::string& command) {
  return fmt::format("cd {} && {}", apply::ShellQuote(h.dir), apply::ExpandCommand(command, h));
}

void WriteStaged(const fs::path& path, const std::string& content, int mode) {
  fs::create_directories(path.parent_path());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 ||
      ::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()) ||
      ::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    throw RuntimeError(fmt::format("cannot stage {}", path.string()));
  }
  ::close(fd);
}

std::vector<Machine> MatchHosts(const render::Rendering& rendering,
                                const apply::Inventory& inventory) {
  std::vector<Machine> machines;
  for (const render::RenderedHost& rh : rendering.hosts) {
    const apply::InventoryHost* ih = inventory.Find(rh.name);
    if (ih == nullptr) {
      throw InputError(fmt::format(
          "{}: no host named '{}': the plan renders hosts {}; add one entry per rendered host",
          inventory.file, rh.name, [&] {
            std::string names;
            for (const render::RenderedHost& h : rendering.hosts) {
              names += (names.empty() ? "" : ", ") + h.name;
            }
            return names;
          }()));
    }
    Machine m;
    m.inventory = ih;
    m.role = rh.role;
    m.service = (rh.role == "all" || rh.role == "app" || rh.role == "slice") ? "crmd" : rh.role;
    m.restart = ih->restart.value_or(apply::DefaultRestart(rh.role, ih->user));
    m.health = ih->health.value_or(apply::DefaultHealth(rh.role));
    m.desired.name = rh.name;
    apply::DesiredService service;
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
    machines.push_back(std::move(m));
  }
  for (const apply::InventoryHost& ih : inventory.hosts) {
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

void AwaitHealthy(const Machine& m, Tools& tools, int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  ToolResult last;
  while (true) {
    last = Remote(*m.inventory, tools, InDir(*m.inventory, m.health), 60s);
    RequireReachable(*m.inventory, last);
    if (last.exit_code == 0) {
      return;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      break;
    }
    std::this_thread::sleep_for(500ms);
  }
  throw RuntimeError(
      fmt::format("host {}: the health check `{}` still fails after {} s (exit {}): {}",
                  m.desired.name, m.health, timeout_s, last.exit_code, last.output));
}

}  // namespace

int ApplySsh(const planner::Plan& plan, const SshOptions& options, const ApplyFlags& flags,
             const GlobalOptions& global) {
  const auto started = std::chrono::steady_clock::now();
  if (options.inventory.empty()) {
    throw InputError("--inventory: required with --target ssh (the hosts to deploy to)");
  }
  if (options.dir.empty()) {
    throw InputError("--dir: required (where the state, lock and staged bundles are kept)");
  }
  const apply::Inventory inventory = apply::ParseInventory(
      ReadInputFile(options.inventory), fs::absolute(options.inventory).string());
  const std::vector<render::RenderTarget> fits = render::TargetsFor(*plan.tier);
  const bool single =
      std::find(fits.begin(), fits.end(), render::RenderTarget::kVps) != fits.end();
  const bool multi =
      std::find(fits.begin(), fits.end(), render::RenderTarget::kMulti) != fits.end();
  if (!single && !multi) {
    throw InputError(fmt::format("tier {} ({}) runs on Kubernetes: use --target k8s", plan.tier->id,
                                 plan.tier->name));
  }
  render::RenderOptions render_options;
  render_options.version = CRM_VERSION;
  const render::Rendering rendering = render::Render(
      plan, single ? render::RenderTarget::kVps : render::RenderTarget::kMulti, render_options);
  std::vector<Machine> machines = MatchHosts(rendering, inventory);

  const fs::path dir = fs::absolute(options.dir);
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec) && !fs::exists(dir / "state.json")) {
    throw InputError(fmt::format(
        "--dir: {} holds files but no state.json, so crmctl did not make it; choose an empty or "
        "new directory",
        dir.string()));
  }
  Tools tools(Tool("ssh"), Tool("rsync"), dir / "known_hosts");
  std::optional<apply::ApplyLock> lock;
  const auto take_lock = [&] {
    fs::create_directories(dir);
    lock.emplace(apply::ApplyLock::Acquire(dir / ".crmctl.lock"));
    if (lock->stale_pid() && !global.quiet) {
      std::cout << fmt::format(
          "Note: {} was left by process {}, which is no longer running; taking it over.\n",
          (dir / ".crmctl.lock").string(), *lock->stale_pid());
    }
  };
  if (!flags.dry_run && fs::exists(dir)) {
    take_lock();
  }
  apply::DeploymentState state = apply::LoadState(dir / "state.json");
  if (!state.target.empty() && state.target != "ssh") {
    throw InputError(
        fmt::format("--dir: {} holds a {} deployment, not an ssh one", dir.string(), state.target));
  }

  // Observe: the health check of every host whose service was started before.
  std::map<std::string, apply::ObservedHost> observed;
  for (const Machine& m : machines) {
    const auto rec = state.hosts.find(m.desired.name);
    if (rec == state.hosts.end() || !rec->second.services.contains(m.service) || m.health.empty()) {
      continue;
    }
    const ToolResult r = Remote(*m.inventory, tools, InDir(*m.inventory, m.health), 60s);
    RequireReachable(*m.inventory, r);
    observed[m.desired.name].running[m.service] = r.exit_code == 0;
    if (r.exit_code != 0) {
      observed[m.desired.name].why_not_running[m.service] =
          fmt::format("health check failed, exit {}", r.exit_code);
    }
  }
  std::vector<apply::DesiredHost> desired;
  for (const Machine& m : machines) {
    desired.push_back(m.desired);
  }
  const apply::PlanDiff diff = apply::Diff(desired, state, observed);

  if (!global.quiet) {
    std::cout << fmt::format("SSH deployment of tier {} ({}) to {} host(s) of {}:\n", plan.tier->id,
                             plan.tier->name, machines.size(), inventory.file);
  }
  if (diff.Empty()) {
    if (!global.quiet) {
      std::cout << "No changes. Every host is up to date.\n";
    }
    return 0;
  }
  if (!global.quiet) {
    std::cout << apply::FormatDiff(diff, UseColor(global, 1));
  }
  if (!ConfirmPlan(true, flags, "apply these changes")) {
    return apply::ApplyExitCode(flags.detailed_exitcode, true, true);
  }
  if (!lock) {
    take_lock();
  }
  state.target = "ssh";
  const auto save = [&] { apply::SaveState(dir / "state.json", state); };
  // Hosts no longer in the plan: forgotten (their machines are not touched).
  for (auto it = state.hosts.begin(); it != state.hosts.end();) {
    const bool kept = std::any_of(machines.begin(), machines.end(),
                                  [&](const Machine& m) { return m.desired.name == it->first; });
    it = kept ? std::next(it) : state.hosts.erase(it);
  }
  save();

  if (!global.quiet) {
    std::cout << "\nApplying:\n";
  }
  std::vector<std::string> roles;
  for (const Machine& m : machines) {
    roles.push_back(m.role);
  }
  std::vector<std::vector<Machine*>> batches;
  for (const auto& indexes : apply::RolloutBatches(roles, inventory.batch_size)) {
    batches.emplace_back();
    for (std::size_t i : indexes) {
      batches.back().push_back(&machines[i]);
    }
  }
  int slice_batch = 0;
  const int slice_batches = static_cast<int>(std::count_if(
      batches.begin(), batches.end(), [](const auto& b) { return b.front()->role == "slice"; }));
  for (const std::vector<Machine*>& batch : batches) {
    std::vector<Machine*> restarted;
    for (Machine* m : batch) {
      const apply::InventoryHost& h = *m->inventory;
      const std::string& name = m->desired.name;
      std::vector<std::string> copy;
      std::vector<std::string> remove;
      for (const apply::Change& c : diff.changes) {
        if (c.host != name || c.service) {
          continue;
        }
        (c.kind == apply::ChangeKind::kRemove ? remove : copy).push_back(c.name);
      }
      apply::HostState& rec = state.hosts[name];
      if (!copy.empty()) {
        Step step(global, fmt::format("{}: copy {} file(s) to {}:{} (rsync over ssh)", name,
                                      copy.size(), Where(h), h.dir));
        const fs::path stage = dir / "hosts" / name;
        std::string list;
        for (const apply::DesiredFile& f : m->desired.files) {
          if (std::find(copy.begin(), copy.end(), f.path) != copy.end()) {
            WriteStaged(stage / f.path, f.content, f.mode);
            list += f.path + "\n";
          }
        }
        WriteStaged(dir / "hosts" / (name + ".files"), list, 0600);
        std::string rsh = apply::ShellQuote(tools.ssh);
        for (const std::string& o : SshOptionsFor(h, tools)) {
          rsh += " " + apply::ShellQuote(o);
        }
        ProcessSpec spec;
        spec.argv = {tools.rsync,
                     "-a",
                     "--mkpath",
                     "--files-from=" + (dir / "hosts" / (name + ".files")).string(),
                     "-e",
                     rsh,
                     stage.string() + "/",
                     fmt::format("{}@{}:{}/", h.user, h.address, h.dir)};
        spec.timeout = 600s;
        const ToolResult r = RunProcess(spec);
        if (r.exit_code != 0) {
          throw RuntimeError(fmt::format("host {}: copying to {} failed (rsync exit {}): {}", name,
                                         Where(h), r.exit_code, r.output));
        }
        for (const apply::DesiredFile& f : m->desired.files) {
          if (std::find(copy.begin(), copy.end(), f.path) != copy.end()) {
            rec.files[f.path] = {render::Sha256Hex(f.content), f.mode, CRM_VERSION};
          }
        }
        save();
        step.Done();
      }
      if (!remove.empty()) {
        Step step(global,
                  fmt::format("{}: remove {} file(s) no longer rendered", name, remove.size()));
        std::string command = "rm -f --";
        for (const std::string& p : remove) {
          command += " " + apply::ShellQuote(p);
        }
        const ToolResult r = Remote(h, tools, InDir(h, command));
        RequireReachable(h, r);
        if (r.exit_code != 0) {
          throw RuntimeError(fmt::format("host {}: removing files failed: {}", name, r.output));
        }
        for (const std::string& p : remove) {
          rec.files.erase(p);
        }
        save();
        step.Done();
      }
      const apply::Change* svc = diff.Find(name, true, m->service);
      if (svc == nullptr) {
        continue;
      }
      for (const auto& [what, command] :
           {std::pair<std::string, std::string>{"install", h.install}, {"restart", m->restart}}) {
        if (command.empty()) {
          continue;
        }
        Step step(global, fmt::format("{}: {} ({})", name, what, apply::ExpandCommand(command, h)));
        const ToolResult r = Remote(h, tools, InDir(h, command));
        RequireReachable(h, r);
        if (r.exit_code != 0) {
          throw RuntimeError(fmt::format(
              "host {}: {} failed (exit {}): {}\nThe apply stopped here; {} records what was done. "
              "Fix the host and run apply again: it resumes with what is left.",
              name, what, r.exit_code, r.output, (dir / "state.json").string()));
        }
        step.Done();
      }
      restarted.push_back(m);
    }
    if (restarted.empty()) {
      continue;
    }
    const bool slices = batch.front()->role == "slice";
    if (slices) {
      ++slice_batch;
    }
    std::string names;
    for (const Machine* m : restarted) {
      names += (names.empty() ? "" : ", ") + m->desired.name;
    }
    {
      Step step(global, slices ? fmt::format("slice batch {}/{} health ({})", slice_batch,
                                             slice_batches, names)
                               : fmt::format("{}: health", names));
      for (const Machine* m : restarted) {
        if (!m->health.empty()) {
          AwaitHealthy(*m, tools, inventory.health_timeout_s);
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
  if (!global.quiet) {
    std::cout << fmt::format("\nApply complete in {}: {} added, {} changed, {} removed.\n",
                             FormatSeconds(std::chrono::steady_clock::now() - started),
                             diff.Count(apply::ChangeKind::kAdd),
                             diff.Count(apply::ChangeKind::kChange),
                             diff.Count(apply::ChangeKind::kRemove));
  }
  return apply::ApplyExitCode(flags.detailed_exitcode, true, true);
}

}  // namespace crm::cli
