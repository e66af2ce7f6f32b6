// crmctl: sizes, renders, validates and applies WhatsApp CRM deployments. Only wiring lives here;
// each subcommand has its own file.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli_context.hpp"
#include "crm/error.hpp"

namespace {

// Exit codes (docs/architecture.md, "Errors"): 0 ok, 1 runtime failure, 2 bad input or usage.
constexpr int kExitRuntime = 1;
constexpr int kExitInput = 2;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"crmctl — size, render, validate and apply a multi-tenant WhatsApp CRM deployment",
               "crmctl"};
  app.set_version_flag("--version", std::string("crmctl ") + CRM_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  crm::cli::GlobalOptions global;
  app.add_option("-o,--output", global.output,
                 "Output format where the output is data: table, json, yaml, csv, markdown");
  app.add_flag("--no-color", global.no_color, "No ANSI colours (also when NO_COLOR is set)");
  app.add_flag("-q,--quiet", global.quiet, "Only the output itself, no progress or notes");
  app.add_flag("-v,--verbose", global.verbose, "Say more about what happens");
  app.add_option("--catalog", global.catalog_dir,
                 "Read the tier catalog from this directory instead of the embedded one");
  app.add_option("--rules", global.rules_files,
                 "Rules override file(s) applied on top of the catalog (as `calibrate --write` "
                 "produces)");

  crm::cli::SetupPlan(app, global);
  crm::cli::SetupCapacity(app, global);
  crm::cli::SetupTiers(app, global);
  crm::cli::SetupCalibrate(app, global);
  crm::cli::SetupRender(app, global);
  crm::cli::SetupValidate(app, global);
  crm::cli::SetupSlices(app, global);
  crm::cli::SetupBilling(app, global);
  crm::cli::SetupTelemetry(app, global);
  crm::cli::SetupMigrate(app, global);
  crm::cli::SetupApply(app, global);
  crm::cli::SetupBackup(app, global);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitInput;
  } catch (const crm::InputError& e) {
    std::cerr << "crmctl: " << e.what() << '\n';
    return kExitInput;
  } catch (const crm::Error& e) {
    std::cerr << "crmctl: " << e.what() << '\n';
    return kExitRuntime;
  } catch (const std::bad_alloc&) {
    std::cerr << "crmctl: out of memory\n";
    return kExitRuntime;
  } catch (const std::exception& e) {
    std::cerr << "crmctl: internal error: " << e.what() << '\n';
    return kExitRuntime;
  }
  return global.exit_code;
}
