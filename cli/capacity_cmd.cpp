// crmctl capacity: how many customers and devices fit one server.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "admin_client.hpp"
#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/planner/capacity.hpp"
#include "crm/units.hpp"
#include "live_capacity.hpp"
#include "workload_flags.hpp"

namespace crm::cli {
namespace {

struct CapacityOptions {
  std::string server;
  bool live = false;
  std::string url;
  std::shared_ptr<WorkloadFlags> assumptions = std::make_shared<WorkloadFlags>();
};

std::string Amount(const planner::ResourceCapacity& r, double v) {
  return r.resource == "CPU" ? fmt::format("{} cores", crm::FormatNumber(v, 3))
                             : crm::FormatBytes(v);
}

void RunCapacity(const CapacityOptions& opts, GlobalOptions& global) {
  const planner::Catalog catalog = LoadCatalog(global);
  if (opts.live) {
    RunLiveCapacity(opts.url, catalog.rules().target_utilization.value, global);
    return;
  }
  if (opts.server.empty()) {
    throw InputError("--server: name a server offering (crmctl tiers servers), or use --live",
                     "server");
  }
  planner::Workload w;
  ApplyWorkloadFields(*opts.assumptions, w);
  w.customers = 1;
  planner::ValidateWorkload(w, catalog);
  const planner::Capacity cap = planner::ComputeCapacity(opts.server, w, catalog);
  const double target = catalog.rules().target_utilization.value;
  const planner::OutputFormat format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    nlohmann::ordered_json doc;
    doc["server"] = {{"name", cap.server->name},
                     {"vcpu", cap.server->vcpu},
                     {"ram_bytes", std::llround(cap.server->ram_bytes)},
                     {"disk_bytes", std::llround(cap.server->disk_bytes)},
                     {"monthly_usd", cap.server->monthly_usd}};
    if (w.swap) {
      doc["server"]["swap_bytes"] = std::llround(cap.server->swap_bytes);
      doc["swap"] = true;
    }
    doc["engine"] = w.engine;
    doc["devices_per_customer"] = w.devices_per_customer;
    doc["target_utilization"] = target;
    doc["max_customers"] = cap.max_customers;
    doc["comfortable_customers"] = cap.comfortable_customers;
    doc["max_devices"] = cap.max_devices;
    doc["comfortable_devices"] = cap.comfortable_devices;
    doc["binding_resource"] = cap.binding_resource;
    nlohmann::ordered_json resources = nlohmann::ordered_json::array();
    for (const planner::ResourceCapacity& r : cap.resources) {
      nlohmann::ordered_json item = {{"resource", r.resource},
                                     {"capacity", r.capacity},
                                     {"fixed", r.fixed},
                                     {"per_customer", r.per_customer}};
      if (r.unlimited) {
        item["max_customers"] = nullptr;
        item["comfortable_customers"] = nullptr;
      } else {
        item["max_customers"] = r.max_customers;
        item["comfortable_customers"] = r.comfortable_customers;
      }
      resources.push_back(item);
    }
    doc["resources"] = resources;
    doc["notes"] = cap.notes;
    PrintDocument(doc, format);
    return;
  }
  if (format != planner::OutputFormat::kTable) {
    throw InputError("-o/--output: capacity prints table, json or yaml");
  }
  std::cout << fmt::format(
      "{} ({} vCPU, {} RAM, {}{} disk, {}/month) with {} × {} device(s) per customer:\n\n",
      cap.server->name, crm::FormatNumber(cap.server->vcpu),
      crm::FormatBytes(cap.server->ram_bytes),
      w.swap ? crm::FormatBytes(cap.server->swap_bytes) + " swap, " : std::string(),
      crm::FormatBytes(cap.server->disk_bytes), crm::FormatUsd(cap.server->monthly_usd), w.engine,
      w.devices_per_customer);
  // "RAM + swap" (--swap) needs a wider first column.
  const int name_width = w.swap ? 10 : 6;
  std::cout << fmt::format("  {:<{}} {:>12} {:>12} {:>14} {:>12} {:>14}\n", "", name_width,
                           "capacity", "services", "per customer", "max (100%)",
                           fmt::format("at {:.0f} %", target * 100));
  for (const planner::ResourceCapacity& r : cap.resources) {
    std::cout << fmt::format(
        "  {:<{}} {:>12} {:>12} {:>14} {:>12} {:>14}\n", r.resource, name_width,
        Amount(r, r.capacity), Amount(r, r.fixed), Amount(r, r.per_customer),
        r.unlimited ? "∞" : crm::FormatNumber(static_cast<double>(r.max_customers)),
        r.unlimited ? "∞" : crm::FormatNumber(static_cast<double>(r.comfortable_customers)));
  }
  std::cout << fmt::format(
      "\nTheoretical maximum: {} customers ({} devices)\n"
      "Comfortable (≤ {:.0f} %): {} customers ({} devices); {} binds first\n",
      crm::FormatNumber(static_cast<double>(cap.max_customers)),
      crm::FormatNumber(static_cast<double>(cap.max_devices)), target * 100,
      crm::FormatNumber(static_cast<double>(cap.comfortable_customers)),
      crm::FormatNumber(static_cast<double>(cap.comfortable_devices)),
      cap.binding_resource.empty() ? "nothing" : cap.binding_resource);
  for (const std::string& note : cap.notes) {
    std::cout << "note: " << note << '\n';
  }
}

}  // namespace

void SetupCapacity(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<CapacityOptions>();
  opts->url = DefaultGatewayUrl();
  CLI::App* cmd = app.add_subcommand(
      "capacity", "How many customers and devices fit one server (theoretical and comfortable)");
  auto* server = cmd->add_option("--server", opts->server,
                                 "Server offering, e.g. ovh-vps-5 (crmctl tiers servers)");
  cmd->add_flag("--live", opts->live,
                "Measured instead: a running deployment's slices and headroom (admin API)")
      ->excludes(server);
  cmd->add_option("--url", opts->url,
                  "With --live: the gateway (default $CRM_URL or http://127.0.0.1:8080)");
  // The per-customer assumptions; the customer count is what capacity answers.
  AddWorkloadKeyFlags(
      cmd, opts->assumptions,
      {"engine", "devices_per_customer", "messages_per_customer_day", "dashboard_tabs_per_customer",
       "retention_days", "peak_pending_tasks", "peak_factor", "idle_share"});
  AddSwapFlag(cmd, opts->assumptions);
  cmd->callback([opts, &global]() { RunCapacity(*opts, global); });
}

}  // namespace crm::cli
