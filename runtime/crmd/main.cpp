// crmd: the runtime. `--role all` (gateway + orchestrator + slice processes, the single-host
// default), `--role gateway` (slice hosts run the slices), `--role slice-host` (the slices of a
// tenant hash range), `--role slice --slice-id N`, `--role slice-launcher` (started by the
// orchestrator: forks slice processes); `migrate`; `admin create`.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <iostream>
#include <thread>

#include "crm/config/config.hpp"
#include "crm/config/reload.hpp"
#include "crm/error.hpp"
#include "crm/gateway/gateway.hpp"
#include "crm/orchestrator/slice_launcher.hpp"
#include "crm/slice/slice.hpp"
#include "wiring.hpp"

namespace {

std::string ReadPasswordFromStdin() {
  if (::isatty(STDIN_FILENO) != 0) {
    std::cerr << "password: " << std::flush;
  }
  std::string password;
  std::getline(std::cin, password);
  return password;
}

// SIGHUP (systemctl reload): re-read the files, apply the log level, name what needs a restart;
// never stop. Blocked here, before any thread starts, so every thread inherits the mask and
// only this one takes the signal.
void ReloadOnHangup(const std::string& role, std::optional<std::filesystem::path> config_file,
                    std::optional<std::filesystem::path> env_file) {
  sigset_t hangup;
  sigemptyset(&hangup);
  sigaddset(&hangup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hangup, nullptr);
  auto reloader = std::make_shared<crm::config::Reloader>(config_file, env_file);
  std::thread([hangup, reloader, role] {
    for (;;) {
      int signal = 0;
      if (sigwait(&hangup, &signal) != 0) {
        continue;
      }
      try {
        auto outcome = reloader->Reload();
        std::string applied;
        for (const auto& change : outcome.applied) {
          applied += (applied.empty() ? "" : "; ") + change;
        }
        std::string pending;
        for (const auto& change : outcome.need_restart) {
          pending += (pending.empty() ? "" : "; ") + change;
        }
        spdlog::warn("SIGHUP: reloaded {}; needs a restart: {}",
                     applied.empty() ? "nothing (log_level unchanged)" : applied,
                     pending.empty() ? "nothing" : pending + " (systemctl restart crmd)");
        if (!outcome.applied.empty() && role != "slice" && role != "gateway") {
          spdlog::warn(
              "SIGHUP: running slices keep their log level until restarted (crmctl slices "
              "restart)");
        }
      } catch (const std::exception& e) {
        spdlog::error("SIGHUP: reload refused, the running configuration stays: {}", e.what());
      }
    }
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"crmd: the WhatsApp CRM runtime (gateway, orchestrator, slices)"};
  app.set_version_flag("--version", std::string("crmd ") + CRM_VERSION);
  std::string role = "all";
  long long slice_id = 0;
  std::string config_file;
  app.add_option("--role", role,
                 "all (gateway + orchestrator + slices), gateway (slices on slice hosts), "
                 "slice-host (the slices of a tenant hash range), or slice (slice-launcher: "
                 "started by the orchestrator itself)")
      ->check(CLI::IsMember({"all", "gateway", "slice", "slice-host", "slice-launcher"}));
  app.add_option("--slice-id", slice_id, "the slice to serve (--role slice)")
      ->check(CLI::PositiveNumber);
  app.add_option("-c,--config", config_file,
                 "YAML configuration; every key can be overridden by CRM_<KEY>")
      ->check(CLI::ExistingFile);
  std::string env_file;
  app.add_option("--env-file", env_file,
                 "CRM_* settings in systemd EnvironmentFile syntax, over the environment; read "
                 "again on SIGHUP")
      ->check(CLI::ExistingFile);
  auto* migrate =
      app.add_subcommand("migrate", "apply the gateway and slice schema migrations, then exit");
  auto* admin = app.add_subcommand("admin", "administration")->require_subcommand(1);
  auto* create = admin->add_subcommand(
      "create", "create (or promote) an admin account; the password is read from stdin");
  std::string email;
  create->add_option("--email", email, "the admin's e-mail address")->required();
  std::string settings = "Settings (YAML key: environment variables):\n";
  for (const auto& key : crm::config::ConfigKeys()) {
    settings += "  " + key.yaml + ":";
    for (const auto& env : key.env) {
      settings += " " + env;
    }
    settings += "\n      " + key.help + "\n";
  }
  app.footer(settings);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // usage errors are input errors (exit 2), as in crmctl
  }

  if (role == "slice-launcher") {
    // Single-threaded until it forks: it returns only in a new slice process, which goes on as
    // `--role slice --slice-id N` would from here.
    try {
      slice_id = crm::orchestrator::ServeSliceLaunches(argc, argv);
    } catch (const crm::InputError& e) {
      std::cerr << "crmd: " << e.what() << "\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "crmd: slice launcher: " << e.what() << "\n";
      return 1;
    }
    role = "slice";
  }
  if (role == "slice") {
    // Before its password is read: another process of the same uid may not ptrace it or read
    // its memory, and it leaves no core dump.
    ::prctl(PR_SET_DUMPABLE, 0);
  }
  try {
    std::optional<std::filesystem::path> config_path;
    std::optional<std::filesystem::path> env_path;
    if (!config_file.empty()) {
      config_path = config_file;
    }
    if (!env_file.empty()) {
      env_path = env_file;
    }
    auto config = crm::config::LoadConfig(config_path, crm::config::EnvironmentWithFile(env_path));
    // The descriptor is closed now; its number may be reused by anything opened later.
    ::unsetenv("CRM_DATABASE_PASSWORD_FD");
    if (*migrate) {
      for (const auto& line : crm::gateway::MigrateAll(crm::crmd::GatewayDatabase(config))) {
        std::cout << line << "\n";
      }
      return 0;
    }
    if (*create) {
      long long id = crm::gateway::CreateAdmin(crm::crmd::GatewayDatabase(config), email,
                                               ReadPasswordFromStdin());
      std::cout << "admin " << email << " ready (user " << id << ")\n";
      return 0;
    }
    ReloadOnHangup(role, config_path, env_path);
    if (role == "slice") {
      if (slice_id == 0) {
        std::cerr << "crmd: --role slice needs --slice-id N\n";
        return 2;
      }
      return crm::slice::RunSliceProcess(crm::crmd::SliceOptionsFrom(config, slice_id));
    }
    if (role == "slice-host") {
      return crm::slicehost::RunSliceHost(crm::crmd::SliceHostOptionsFrom(config));
    }
    return crm::gateway::RunGateway(crm::crmd::GatewayOptionsFrom(
        config, role == "gateway" ? crm::orchestrator::Placement::kGateway
                                  : crm::orchestrator::Placement::kSingleHost));
  } catch (const crm::InputError& e) {
    std::cerr << "crmd: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "crmd: " << e.what() << "\n";
    return 1;
  }
}
