// crmctl calibrate: fit per-unit rules from measured telemetry and write a rules override.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>

#include "cli_context.hpp"
#include "crm/config/config.hpp"
#include "crm/db/pool.hpp"
#include "crm/error.hpp"
#include "crm/planner/calibration.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/units.hpp"

namespace crm::cli {
namespace {

struct CalibrateOptions {
  std::string telemetry_file;
  bool from_db = false;
  std::string database_url;
  int hours = 48;
  std::string engine = "whatsmeow";
  std::string write_file;
  std::vector<std::string> hold;  // rules kept at the catalog's value
};

// What the catalog says a held rule costs now: the engine's own figure where it has one.
std::vector<planner::HeldRule> HeldRules(const CalibrateOptions& opts,
                                         const planner::Catalog& catalog) {
  const planner::Engine& e = *catalog.FindEngine(opts.engine);
  const planner::Rules& r = catalog.rules();
  std::vector<planner::HeldRule> held;
  for (const std::string& rule : opts.hold) {
    double value = 0;
    if (rule == "ram_per_device") {
      value = e.ram_per_device.value;
    } else if (rule == "ram_per_websocket") {
      value = r.ram_per_websocket.value;
    } else if (rule == "bytes_per_task") {
      value = r.bytes_per_task.value;
    } else if (rule == "buffer_per_customer") {
      value = planner::BufferPerCustomer(e, r);
    } else {
      throw InputError(fmt::format("--hold: '{}' is not a fitted rule (expected one of: {})", rule,
                                   fmt::join(planner::FittedRules(), ", ")));
    }
    held.push_back({rule, value});
  }
  return held;
}

// One row per telemetry instant of a running deployment (docs/capacity-model.md, "Calibrating
// from the database"): paired devices connected, open event streams, queued tasks and tenants
// (slices with a channel), against the memory of every slice (PSS; RSS where PSS is unknown)
// plus the gateway's and PostgreSQL's PSS where the monitor recorded them.
planner::TelemetryTable ReadTelemetryDb(const CalibrateOptions& opts) {
  auto config = config::LoadConfig(std::nullopt, config::ProcessEnvironment());
  if (!opts.database_url.empty()) {
    config.database_url = opts.database_url;
  } else if (std::getenv("CRM_DATABASE_URL") == nullptr) {
    throw InputError("--from-db: give --database-url or set CRM_DATABASE_URL", "database_url");
  }
  db::PoolOptions options;
  options.url = config.database_url;
  options.password = config.database_password;
  options.max_size = 1;
  options.application_name = "crmctl-calibrate";
  db::Pool pool(options);
  planner::TelemetryTable table;
  table.columns = {"devices", "ws_connections", "pending_tasks", "customers", "rss_bytes"};
  table.file = fmt::format("telemetry of the last {} hours", opts.hours);
  // Instants before the load columns were recorded (streams all null) say nothing of them.
  auto rows = pool.Read([&](pqxx::read_transaction& tx) {
    // The gateway's and PostgreSQL's memory at the same instant (where the monitor could read
    // it) joins the slices': what a tenant costs the database lands in its per-unit costs.
    return tx.exec_params(
        "SELECT t.devices, t.streams, t.tasks, t.customers, t.memory + "
        "coalesce(s.gateway_pss_bytes, 0) + coalesce(s.postgres_pss_bytes, 0) FROM ("
        "SELECT ts, count(*) FILTER (WHERE wa_state = 'connected') AS devices, "
        "coalesce(sum(streams), 0) AS streams, coalesce(sum(pending_tasks), 0) AS tasks, "
        "count(*) FILTER (WHERE wa_state IS NOT NULL) AS customers, "
        "sum(coalesce(pss_bytes, rss_bytes)) AS memory FROM gateway.telemetry WHERE ts > now() - "
        "$1 * interval '1 hour' AND rss_bytes IS NOT NULL GROUP BY ts HAVING count(streams) > 0"
        ") t LEFT JOIN gateway.server_telemetry s ON s.ts = t.ts ORDER BY t.ts",
        opts.hours);
  });
  for (const auto& row : rows) {
    std::vector<double> values;
    for (int i = 0; i < 5; ++i) {
      values.push_back(row[i].as<double>());
    }
    table.rows.push_back(std::move(values));
    table.lines.push_back(0);
  }
  return table;
}

void RunCalibrate(const CalibrateOptions& opts, GlobalOptions& global) {
  const planner::Catalog catalog = LoadCatalog(global);
  if (catalog.FindEngine(opts.engine) == nullptr) {
    throw InputError(fmt::format("--engine: unknown '{}' (expected one of: {})", opts.engine,
                                 catalog.EngineNames()));
  }
  planner::TelemetryTable table;
  if (opts.from_db) {
    table = ReadTelemetryDb(opts);
  } else if (opts.telemetry_file.empty()) {
    throw InputError("calibrate: give a telemetry CSV file or --from-db", "telemetry");
  } else {
    std::ifstream in(opts.telemetry_file, std::ios::binary);
    if (!in) {
      throw InputError(fmt::format("{}: cannot open the file", opts.telemetry_file));
    }
    table = planner::ReadTelemetryCsv(in, opts.telemetry_file);
  }
  const planner::CalibrationFit fit = planner::FitRules(table, HeldRules(opts, catalog));
  const auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    nlohmann::ordered_json doc;
    nlohmann::ordered_json coefficients = nlohmann::ordered_json::array();
    for (const planner::Coefficient& c : fit.coefficients) {
      coefficients.push_back({{"rule", c.rule},
                              {"column", c.column},
                              {"value", c.value},
                              {"std_error", c.std_error},
                              {"held", c.held}});
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
                             table.file, opts.engine);
    std::cout << fmt::format("  {:<22} {:<16} {:>14} {:>14}\n", "rule", "per", "value",
                             "± std error");
    for (const planner::Coefficient& c : fit.coefficients) {
      std::cout << fmt::format("  {:<22} {:<16} {:>14} {:>14}\n", c.rule, c.column,
                               crm::FormatBytes(c.value),
                               c.held ? std::string("held") : crm::FormatBytes(c.std_error));
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
    const planner::Engine& engine = *catalog.FindEngine(opts.engine);
    const std::string yaml = planner::RulesOverrideYaml(
        fit, opts.engine, table.file, engine.has_buffer_per_customer, engine.has_base_ram);
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
      std::cerr << fmt::format("crmctl: wrote {}; apply it with `crmctl plan --rules {} ...`\n",
                               opts.write_file, opts.write_file);
    }
  }
}

}  // namespace

void SetupCalibrate(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Fit per-unit RAM rules from telemetry (least squares) and write an override");
  auto* file = cmd->add_option("telemetry", opts->telemetry_file,
                               "CSV with devices, ws_connections, pending_tasks, customers, "
                               "rss_bytes");
  cmd->add_flag("--from-db", opts->from_db,
                "Fit on a running deployment's recorded telemetry instead (its database)")
      ->excludes(file);
  cmd->add_option("--database-url", opts->database_url,
                  "With --from-db: PostgreSQL URL (default $CRM_DATABASE_URL; password from "
                  "CRM_DATABASE_PASSWORD or CRM_DATABASE_PASSWORD_FILE)");
  cmd->add_option("--hours", opts->hours,
                  "With --from-db: the window of raw samples, ending now (1 to 48; default 48)")
      ->check(CLI::Range(1, 48));
  cmd->add_option("--engine", opts->engine,
                  "Engine whose per-device RAM the fit replaces (default whatsmeow)");
  cmd->add_option("--write", opts->write_file, "Write the rules override YAML here");
  cmd->add_option("--hold", opts->hold,
                  "Keep RULE at the catalog's value instead of fitting it (repeatable): for a "
                  "cost the engine does not have, e.g. --hold ram_per_device with --engine crmd");
  cmd->callback([opts, &global]() { RunCalibrate(*opts, global); });
}

}  // namespace crm::cli
