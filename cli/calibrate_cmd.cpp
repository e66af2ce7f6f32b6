// crmctl calibrate: fit per-unit rules from measured telemetry and write a rules override.
#include <fmt/format.h>

#include <algorithm>
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
  int idle_after = 90;  // seconds without a request before a tenant counts as idle
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
    } else if (rule == "idle_per_customer") {
      if (!e.has_idle_per_customer) {
        throw InputError(
            fmt::format("--hold: engine {} states no idle_per_customer to hold", opts.engine));
      }
      value = e.idle_per_customer.value;
    } else {
      throw InputError(fmt::format("--hold: '{}' is not a fitted rule (expected one of: {})", rule,
                                   fmt::join(planner::FittedRules(), ", ")));
    }
    held.push_back({rule, value});
  }
  return held;
}

// One row per telemetry instant of a running deployment (docs/capacity-model.md, "Calibrating
// from the database"): paired devices connected, open event streams, queued tasks, active and
// idle tenants (slices with a channel), against the memory of every slice (PSS; RSS where PSS is
// unknown) plus the gateway's and PostgreSQL's PSS where the monitor recorded them. Instants
// with no tenant at all count too: they pin the fixed part down.
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
  table.columns = {"devices",        "ws_connections", "pending_tasks", "customers",
                   "idle_customers", "db_connections", "rss_bytes"};
  const auto rows = pool.Read([&](pqxx::read_transaction& tx) {
    // Every row must measure the same thing: the gateway's and PostgreSQL's memory count only if
    // the window has them (the monitor cannot read PostgreSQL's on another host), and then only
    // instants that have them.
    const auto has = tx.exec_params1(
        "SELECT bool_or(gateway_pss_bytes IS NOT NULL), bool_or(postgres_pss_bytes IS NOT NULL) "
        "FROM gateway.server_telemetry WHERE ts > now() - $1 * interval '1 hour'",
        opts.hours);
    const bool gateway = !has[0].is_null() && has[0].as<bool>();
    const bool postgres = !has[1].is_null() && has[1].as<bool>();
    table.file = fmt::format("telemetry of the last {} hours (memory of the slices{})", opts.hours,
                             postgres  ? ", the gateway and PostgreSQL"
                             : gateway ? " and the gateway"
                                       : " only");
    // Idle: no request through the tenant's sessions for --idle-after seconds, no event stream
    // open and nothing queued (a tenant with no session at all counts as active: the monitor
    // cannot tell). Instants before the load columns were recorded (streams all null) say nothing
    // of them and are left out, unless no tenant had a slice then (only warm slices, or none).
    return tx.exec_params(
        "WITH slices AS (SELECT ts, wa_state, streams, pending_tasks, "
        "coalesce(pss_bytes, rss_bytes) AS memory, coalesce(idle_seconds >= $2 "
        "AND coalesce(streams, 0) = 0 AND coalesce(pending_tasks, 0) = 0, false) AS idle "
        "FROM gateway.telemetry WHERE ts > now() - $1 * interval '1 hour' "
        "AND rss_bytes IS NOT NULL), "
        "t AS (SELECT ts, count(*) FILTER (WHERE wa_state = 'connected') AS devices, "
        "coalesce(sum(streams), 0) AS streams, coalesce(sum(pending_tasks), 0) AS tasks, "
        "count(*) FILTER (WHERE wa_state IS NOT NULL AND NOT idle) AS active, "
        "count(*) FILTER (WHERE wa_state IS NOT NULL AND idle) AS idle, "
        "sum(memory) AS memory, count(streams) AS loads, count(wa_state) AS tenants "
        "FROM slices GROUP BY ts) "
        "SELECT coalesce(t.devices, 0), coalesce(t.streams, 0), coalesce(t.tasks, 0), "
        "coalesce(t.active, 0), coalesce(t.idle, 0), coalesce(s.pg_connections, 0), "
        "coalesce(t.memory, 0) + "
        "CASE WHEN $3 THEN s.gateway_pss_bytes ELSE 0 END + "
        "CASE WHEN $4 THEN s.postgres_pss_bytes ELSE 0 END "
        "FROM t FULL JOIN (SELECT * FROM gateway.server_telemetry "
        "WHERE ts > now() - $1 * interval '1 hour') s ON s.ts = t.ts "
        "WHERE (NOT $3 OR s.gateway_pss_bytes IS NOT NULL) "
        "AND (NOT $4 OR s.postgres_pss_bytes IS NOT NULL) "
        "AND (t.loads > 0 OR t.tenants = 0 OR (t.ts IS NULL AND s.slices_total = 0)) "
        "ORDER BY coalesce(s.ts, t.ts)",
        opts.hours, opts.idle_after, gateway, postgres);
  });
  for (const auto& row : rows) {
    std::vector<double> values;
    for (int i = 0; i < 7; ++i) {
      values.push_back(row[i].as<double>());
    }
    table.rows.push_back(std::move(values));
    table.lines.push_back(0);
  }
  return table;
}

// Leaves `column` out of every row (nothing when the table lacks it).
void DropColumn(planner::TelemetryTable& table, std::string_view column) {
  const auto it = std::find(table.columns.begin(), table.columns.end(), column);
  if (it == table.columns.end()) {
    return;
  }
  const auto at = it - table.columns.begin();
  table.columns.erase(it);
  for (auto& row : table.rows) {
    if (static_cast<std::size_t>(at) < row.size()) {
      row.erase(row.begin() + at);
    }
  }
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
  const planner::Engine& engine = *catalog.FindEngine(opts.engine);
  // The cost per database connection is written as per-tenant costs at the connections a tenant
  // holds, which only an engine measured as a whole states (connections_per_slice).
  if (!engine.has_connections_per_slice) {
    DropColumn(table, "db_connections");
  }
  const planner::CalibrationFit fit = planner::FitRules(table, HeldRules(opts, catalog));
  const planner::CalibrationFit written =
      planner::FoldConnections(fit, engine.connections_per_slice.value);
  const bool folded = written.coefficients.size() != fit.coefficients.size();
  auto coefficients_json = [](const planner::CalibrationFit& f) {
    nlohmann::ordered_json coefficients = nlohmann::ordered_json::array();
    for (const planner::Coefficient& c : f.coefficients) {
      coefficients.push_back({{"rule", c.rule},
                              {"column", c.column},
                              {"value", c.value},
                              {"std_error", c.std_error},
                              {"held", c.held}});
    }
    return coefficients;
  };
  const auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    nlohmann::ordered_json doc;
    doc["engine"] = opts.engine;
    doc["rows"] = fit.rows;
    doc["coefficients"] = coefficients_json(fit);
    if (folded) {
      doc["written"] = coefficients_json(written);
      doc["connections_per_active_tenant"] =
          fit.connections_per_active.value_or(engine.connections_per_slice.value);
      doc["connections_at_rest"] = fit.connections_at_rest
                                       ? nlohmann::ordered_json(*fit.connections_at_rest)
                                       : nlohmann::ordered_json(nullptr);
    }
    doc["r_squared"] = fit.r_squared;
    doc["rmse_bytes"] = fit.rmse;
    doc["condition_number"] = fit.condition_number;
    doc["residuals"] = fit.residuals;
    doc["warnings"] = written.warnings;
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
    if (fit.rest_rows > 0) {
      std::cout << fmt::format("  the baseline measured on {} instants without load\n",
                               fit.rest_rows);
    }
    if (folded) {
      const std::string active =
          fit.connections_per_active
              ? fmt::format("{:.2f} (the median measured)", *fit.connections_per_active)
              : fmt::format("{} (the engine's connections_per_slice)",
                            engine.connections_per_slice.value);
      std::cout << fmt::format(
          "\nWritten per tenant: an active tenant with {} database connections, an idle one "
          "with {}, the fixed part with the {} of the runtime's own:\n\n",
          active, planner::kIdleSliceConnections,
          fit.connections_at_rest ? fmt::format("{:.1f}", *fit.connections_at_rest)
                                  : std::string("none measured"));
      for (const planner::Coefficient& c : written.coefficients) {
        if (c.rule == "buffer_per_customer" || c.rule == "idle_per_customer" ||
            c.rule == "baseline") {
          std::cout << fmt::format("  {:<22} {:<16} {:>14} {:>14}\n", c.rule, c.column,
                                   crm::FormatBytes(c.value),
                                   c.held ? std::string("held") : crm::FormatBytes(c.std_error));
        }
      }
    }
    for (const std::string& w : written.warnings) {
      std::cout << "  ! " << w << '\n';
    }
  }
  if (!opts.write_file.empty()) {
    const std::string yaml = planner::RulesOverrideYaml(
        written, opts.engine, table.file, engine.has_buffer_per_customer, engine.has_base_ram);
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
                               "rss_bytes (optional: idle_customers, db_connections)");
  cmd->add_flag("--from-db", opts->from_db,
                "Fit on a running deployment's recorded telemetry instead (its database)")
      ->excludes(file);
  cmd->add_option("--database-url", opts->database_url,
                  "With --from-db: PostgreSQL URL (default $CRM_DATABASE_URL; password from "
                  "CRM_DATABASE_PASSWORD or CRM_DATABASE_PASSWORD_FILE)");
  cmd->add_option("--hours", opts->hours,
                  "With --from-db: the window of raw samples, ending now (1 to 48; default 48)")
      ->check(CLI::Range(1, 48));
  cmd->add_option("--idle-after", opts->idle_after,
                  "With --from-db: seconds without a request (and no event stream or queued "
                  "task) after which a tenant counts as idle, fitting idle_per_customer apart "
                  "(default 90: a slice closes unused database connections after 60 s, checked "
                  "every 30 s)")
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--engine", opts->engine,
                  "Engine whose per-device RAM the fit replaces (default whatsmeow)");
  cmd->add_option("--write", opts->write_file, "Write the rules override YAML here");
  cmd->add_option("--hold", opts->hold,
                  "Keep RULE at the catalog's value instead of fitting it (repeatable): for a "
                  "cost the engine does not have, e.g. --hold ram_per_device with --engine crmd");
  cmd->callback([opts, &global]() { RunCalibrate(*opts, global); });
}

}  // namespace crm::cli
