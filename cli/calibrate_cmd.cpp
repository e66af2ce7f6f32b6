// crmctl calibrate: fit per-unit rules from measured telemetry and write a rules override.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>

#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/planner/calibration.hpp"
#include "crm/units.hpp"

namespace crm::cli {
namespace {

struct CalibrateOptions {
  std::string telemetry_file;
  std::string engine = "whatsmeow";
  std::string write_file;
};

void RunCalibrate(const CalibrateOptions& opts, GlobalOptions& global) {
  const planner::Catalog catalog = LoadCatalog(global);
  if (catalog.FindEngine(opts.engine) == nullptr) {
    throw InputError(fmt::format("--engine: unknown '{}' (expected one of: {})", opts.engine,
                                 catalog.EngineNames()));
  }
  std::ifstream in(opts.telemetry_file, std::ios::binary);
  if (!in) {
    throw InputError(fmt::format("{}: cannot open the file", opts.telemetry_file));
  }
  const planner::TelemetryTable table = planner::ReadTelemetryCsv(in, opts.telemetry_file);
  const planner::CalibrationFit fit = planner::FitRules(table);
  const auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    nlohmann::ordered_json doc;
    nlohmann::ordered_json coefficients = nlohmann::ordered_json::array();
    for (const planner::Coefficient& c : fit.coefficients) {
      coefficients.push_back({{"rule", c.rule},
                              {"column", c.column},
                              {"value", c.value},
                              {"std_error", c.std_error}});
    }
    doc["engine"] = opts.engine;
    doc["rows"] = fit.rows;
    doc["coefficients"] = coefficients;
    doc["r_squared"] = fit.r_squared;
    doc["rmse_bytes"] = fit.rmse;
    doc["condition_number"] = fit.condition_number;
    doc["residuals"] = fit.residuals;
    doc["warnings"] = fit.warnings;
    PrintDocument(doc, format);
  } else {
    std::cout << fmt::format("Fit of rss_bytes over {} rows of {} (engine {}):\n\n", fit.rows,
                             opts.telemetry_file, opts.engine);
    std::cout << fmt::format("  {:<22} {:<16} {:>14} {:>14}\n", "rule", "per", "value",
                             "± std error");
    for (const planner::Coefficient& c : fit.coefficients) {
      std::cout << fmt::format("  {:<22} {:<16} {:>14} {:>14}\n", c.rule, c.column,
                               crm::FormatBytes(c.value), crm::FormatBytes(c.std_error));
    }
    double worst = 0;
    for (double r : fit.residuals) {
      worst = std::max(worst, std::fabs(r));
    }
    std::cout << fmt::format(
        "\n  R² {:.4f} · RMSE {} · largest residual {} · condition number {:.3g}\n", fit.r_squared,
        crm::FormatBytes(fit.rmse), crm::FormatBytes(worst), fit.condition_number);
    for (const std::string& w : fit.warnings) {
      std::cout << "  ! " << w << '\n';
    }
  }
  if (!opts.write_file.empty()) {
    const std::string yaml = planner::RulesOverrideYaml(fit, opts.engine, opts.telemetry_file);
    // The override must load where it will be used: the catalog's sanity ranges apply now, not
    // at the next `plan --rules`.
    planner::Catalog check = catalog;
    check.ApplyOverride(yaml, opts.write_file);
    std::ofstream out(opts.write_file, std::ios::binary | std::ios::trunc);
    out << yaml;
    out.close();
    if (!out) {
      throw RuntimeError(fmt::format("{}: cannot write the rules override", opts.write_file));
    }
    if (!global.quiet) {
      std::cerr << fmt::format(
          "crmctl: wrote {}; apply it with `crmctl plan --rules {} ...`\n", opts.write_file,
          opts.write_file);
    }
  }
}

}  // namespace

void SetupCalibrate(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Fit per-unit RAM rules from telemetry (least squares) and write an override");
  cmd->add_option("telemetry", opts->telemetry_file,
                  "CSV with devices, ws_connections, pending_tasks, customers, rss_bytes")
      ->required();
  cmd->add_option("--engine", opts->engine,
                  "Engine whose per-device RAM the fit replaces (default whatsmeow)");
  cmd->add_option("--write", opts->write_file, "Write the rules override YAML here");
  cmd->callback([opts, &global]() { RunCalibrate(*opts, global); });
}

}  // namespace crm::cli
