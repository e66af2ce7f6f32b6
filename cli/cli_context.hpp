// What every crmctl subcommand shares: global options, the catalog, output and colour.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include <filesystem>

#include "crm/planner/catalog.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/report.hpp"

namespace crm::cli {

struct GlobalOptions {
  std::string output;  // empty: the command's default
  bool no_color = false;
  bool quiet = false;
  bool verbose = false;
  std::string catalog_dir;               // empty: the catalog embedded in the binary
  std::vector<std::string> rules_files;  // --rules overrides, applied in order
  int exit_code = 0;                     // set by a command that finished but must report failure
};

/// The catalog the options ask for (embedded or --catalog DIR) with --rules files applied.
planner::Catalog LoadCatalog(const GlobalOptions& options);

/// -o as an OutputFormat, or `fallback` when not given.
planner::OutputFormat OutputFormatOr(const GlobalOptions& options, planner::OutputFormat fallback);

/// Colour only on a TTY, and never with --no-color or NO_COLOR set.
bool UseColor(const GlobalOptions& options, int fd);

/// Reads a whole file ("-" = stdin). Throws InputError naming the file when it cannot be read.
std::string ReadInputFile(const std::string& path);

/// Writes a JSON/YAML document or text to stdout in the requested format.
void PrintDocument(const nlohmann::ordered_json& doc, planner::OutputFormat format);

void SetupPlan(CLI::App& app, GlobalOptions& global);
void SetupCapacity(CLI::App& app, GlobalOptions& global);
void SetupTiers(CLI::App& app, GlobalOptions& global);
void SetupCalibrate(CLI::App& app, GlobalOptions& global);
void SetupRender(CLI::App& app, GlobalOptions& global);
void SetupValidate(CLI::App& app, GlobalOptions& global);
void SetupSlices(CLI::App& app, GlobalOptions& global);
void SetupBilling(CLI::App& app, GlobalOptions& global);
void SetupTelemetry(CLI::App& app, GlobalOptions& global);
void SetupMigrate(CLI::App& app, GlobalOptions& global);
void SetupApply(CLI::App& app, GlobalOptions& global);
void SetupBackup(CLI::App& app, GlobalOptions& global);

}  // namespace crm::cli
