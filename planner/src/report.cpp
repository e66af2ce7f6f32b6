#include "crm/planner/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>

#include "crm/error.hpp"
#include "crm/units.hpp"

namespace crm::planner {
namespace {

using Json = nlohmann::ordered_json;

long long Bytes(double v) {
  return std::llround(v);
}
double Round(double v, int decimals) {
  const double f = std::pow(10.0, decimals);
  return std::round(v * f) / f;
}

Json WorkloadJson(const Workload& w) {
  Json j;
  if (!w.name.empty()) {
    j["name"] = w.name;
  }
  j["customers"] = w.customers;
  j["devices_per_customer"] = w.devices_per_customer;
  j["messages_per_customer_day"] = w.messages_per_customer_day;
  j["dashboard_tabs_per_customer"] = w.dashboard_tabs_per_customer;
  j["peak_pending_tasks"] = w.peak_pending_tasks;
  j["retention_days"] = w.retention_days;
  j["engine"] = w.engine;
  j["growth_per_month"] = w.growth_per_month;
  j["horizon_months"] = w.horizon_months;
  j["peak_factor"] = w.peak_factor;
  j["price_per_customer_month"] =
      w.price_per_customer_month ? Json(*w.price_per_customer_month) : Json(nullptr);
  if (!w.price_plan.empty()) {  // only then: plans without one read as before
    j["price_plan"] = w.price_plan;
  }
  if (!w.coupon.empty()) {
    j["coupon"] = w.coupon;
  }
  j["ha"] = w.ha;
  j["regions"] = w.regions;
  if (w.swap) {  // only then: plans without it read as before
    j["swap"] = true;
    if (w.idle_share) {
      j["idle_share"] = *w.idle_share;
    }
  }
  if (w.replica) {
    j["replica"] = true;
  }
  if (!w.backups.empty()) {
    j["backups"] = w.backups;
  }
  return j;
}

Json RevenueJson(const PriceRevenue& r) {
  return {{"price_per_customer_month", r.price_per_customer_month},
          {"mrr_usd", Round(r.mrr_usd, 2)},
          {"margin_usd", Round(r.margin_usd, 2)},
          {"break_even_customers", r.break_even_customers}};
}

Json KnobJson(const KnobValue& v) {
  if (const auto* n = std::get_if<long long>(&v)) {
    return *n;
  }
  return std::get<std::string>(v);
}

std::string KnobText(std::string_view name, const KnobValue& v) {
  if (const auto* n = std::get_if<long long>(&v)) {
    if (name.find("LIMIT") != std::string::npos || name.find("QUOTA") != std::string::npos) {
      return FormatBytes(static_cast<double>(*n));
    }
    return FormatNumber(static_cast<double>(*n));
  }
  return std::get<std::string>(v);
}

std::string YamlScalar(const Json& v) {
  if (v.is_string()) {
    return v.dump();  // a JSON string is a valid YAML double-quoted scalar
  }
  if (v.is_null()) {
    return "null";
  }
  return v.dump();
}

void EmitYaml(const Json& v, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      const Json& child = it.value();
      if ((child.is_object() || child.is_array()) && !child.empty()) {
        out += fmt::format("{}{}:\n", pad, it.key());
        EmitYaml(child, indent + 2, out);
      } else if (child.is_object()) {
        out += fmt::format("{}{}: {{}}\n", pad, it.key());
      } else if (child.is_array()) {
        out += fmt::format("{}{}: []\n", pad, it.key());
      } else {
        out += fmt::format("{}{}: {}\n", pad, it.key(), YamlScalar(child));
      }
    }
  } else if (v.is_array()) {
    for (const Json& item : v) {
      if (item.is_object() && !item.empty()) {
        std::string nested;
        EmitYaml(item, indent + 2, nested);
        // First line of the mapping goes after the dash.
        nested.replace(0, static_cast<std::size_t>(indent + 2), pad + "- ");
        out += nested;
      } else {
        out += fmt::format("{}- {}\n", pad, YamlScalar(item));
      }
    }
  } else {
    out += pad + YamlScalar(v) + "\n";
  }
}

// "hetzner-cx52 $36.09", "2× ovh-vps-5 $80.80" (when the count differs), "—" when none fits,
// "as postgres" for a role sized like another (a replica follows its primary,
// docs/capacity-model.md).
std::string RunnerUpText(const LayoutRow& row) {
  if (row.spec->sized_like) {
    return "as " + row.spec->sized_like_role;
  }
  if (row.runner_up == nullptr) {
    return "—";
  }
  return fmt::format(
      "{}{} {}",
      row.runner_up_count != row.count ? fmt::format("{}× ", row.runner_up_count) : std::string(),
      row.runner_up->name, FormatUsd(row.runner_up_usd));
}

std::string Percent(double v) {
  return fmt::format("{:.0f} %", v * 100);
}

std::string ZoneText(Zone z, bool color) {
  const std::string_view name = ZoneName(z);
  if (!color) {
    return std::string(name);
  }
  const char* code = z == Zone::kGreen ? "32" : z == Zone::kYellow ? "33" : "31";
  return fmt::format("\x1b[{}m{}\x1b[0m", code, name);
}

}  // namespace

std::string PostgresValueText(std::string_view name, double v) {
  if (IsPostgresSizeSetting(name)) {
    // PostgreSQL's own notation, exact: kB multiples.
    const auto kb = static_cast<long long>(v / 1024);
    if (kb % (1024 * 1024) == 0) {
      return fmt::format("{}GB", kb / (1024 * 1024));
    }
    if (kb % 1024 == 0) {
      return fmt::format("{}MB", kb / 1024);
    }
    return fmt::format("{}kB", kb);
  }
  if (name == "statement_timeout") {
    return fmt::format("{}s", static_cast<long long>(v / 1000));
  }
  if (v == std::floor(v)) {
    return fmt::format("{}", static_cast<long long>(v));
  }
  return fmt::format("{}", v);
}

OutputFormat ParseOutputFormat(std::string_view text) {
  if (text == "table") {
    return OutputFormat::kTable;
  }
  if (text == "json") {
    return OutputFormat::kJson;
  }
  if (text == "yaml") {
    return OutputFormat::kYaml;
  }
  if (text == "csv") {
    return OutputFormat::kCsv;
  }
  if (text == "markdown" || text == "md") {
    return OutputFormat::kMarkdown;
  }
  throw InputError(fmt::format(
      "-o/--output: unknown format '{}' (expected table, json, yaml, csv, markdown)", text));
}

nlohmann::ordered_json PlanToJson(const Plan& plan) {
  Json j;
  j["workload"] = WorkloadJson(plan.workload);
  const Demand& d = plan.demand;
  j["demand"] = {
      {"ram_bytes",
       {{"sessions", Bytes(d.sessions_ram)},
        {"websockets", Bytes(d.websockets_ram)},
        {"queue", Bytes(d.queue_ram)},
        {"buffers", Bytes(d.buffers_ram)},
        {"services", Bytes(d.services_ram)},
        {"total", Bytes(d.total_ram)}}},
      {"disk_bytes",
       {{"messages", Bytes(d.messages_disk)},
        {"sessions", Bytes(d.sessions_disk)},
        {"total", Bytes(d.total_disk)}}},
      {"cpu_cores", Round(d.cpu_cores, 4)},
      {"messages_per_day", Round(d.messages_per_day, 2)},
      {"peak_messages_per_second", Round(d.peak_messages_per_second, 4)},
      {"db_connections", d.db_connections},
  };
  if (d.engine_base_ram > 0) {
    // Only engines measured as a whole carry it, so other plans' JSON keeps its shape.
    j["demand"]["ram_bytes"]["engine_base"] = Bytes(d.engine_base_ram);
  }
  j["search"] = {{"servers", std::string(SearchName(plan.search))},
                 {"providers", plan.providers},
                 {"prefer", plan.prefer}};
  j["tier"] = {{"id", plan.tier->id},
               {"name", plan.tier->name},
               {"topology", std::string(TopologyName(plan.tier->topology))}};
  Json layout = Json::array();
  for (const LayoutRow& row : plan.layout) {
    layout.push_back({
        {"role", row.spec->role},
        {"count", row.count},
        {"vcpu", row.server->vcpu},
        {"ram_bytes", Bytes(row.server->ram_bytes)},
        {"disk_bytes", Bytes(row.disk_bytes())},
        {"provider", row.server->provider},
        {"plan", row.server->name},
        {"monthly_usd", Round(row.monthly_usd, 2)},
        {"volume_bytes", Bytes(row.volume_bytes)},
        {"runner_up", row.runner_up == nullptr
                          ? Json(nullptr)
                          : Json{{"provider", row.runner_up->provider},
                                 {"plan", row.runner_up->name},
                                 {"count", row.runner_up_count},
                                 {"monthly_usd", Round(row.runner_up_usd, 2)}}},
        {"sized_like", row.spec->sized_like ? Json(row.spec->sized_like_role) : Json(nullptr)},
        {"demand_per_host",
         {{"ram_bytes", Bytes(row.ram_demand)},
          {"disk_bytes", Bytes(row.disk_demand)},
          {"cpu_cores", Round(row.cpu_demand, 4)}}},
        {"utilization",
         {{"ram", Round(row.ram_util, 4)},
          {"disk", Round(row.disk_util, 4)},
          {"cpu", Round(row.cpu_util, 4)}}},
    });
  }
  if (plan.workload.swap) {
    for (std::size_t i = 0; i < plan.layout.size(); ++i) {
      layout[i]["swap_bytes"] = Bytes(plan.layout[i].server->swap_bytes);
      layout[i]["demand_per_host"]["swap_bytes"] = Bytes(plan.layout[i].swap_demand);
      layout[i]["utilization"]["swap"] = Round(plan.layout[i].swap_util, 4);
    }
  }
  j["layout"] = layout;
  j["utilization"] = {{"ram", Round(plan.utilization.ram, 4)},
                      {"disk", Round(plan.utilization.disk, 4)},
                      {"cpu", Round(plan.utilization.cpu, 4)}};
  if (plan.workload.swap) {
    j["utilization"]["swap"] = Round(plan.utilization.swap, 4);
  }
  j["zone"] = std::string(ZoneName(plan.zone));
  Json knobs = Json::object();
  for (const auto& [name, value] : plan.knobs) {
    knobs[std::string(name)] = KnobJson(value);
  }
  j["knobs"] = knobs;
  Json pg = Json::object();
  for (const auto& [name, value] : plan.postgres) {
    if (value == std::floor(value)) {
      pg[std::string(name)] = static_cast<long long>(value);
    } else {
      pg[std::string(name)] = value;
    }
  }
  j["postgres"] = pg;
  Json lines = Json::array();
  for (const CostLine& line : plan.cost_lines) {
    lines.push_back(
        {{"item", line.item}, {"monthly_usd", Round(line.monthly_usd, 2)}, {"note", line.note}});
  }
  j["cost"] = {{"monthly_usd", Round(plan.monthly_usd, 2)},
               {"backups", plan.off_host_backups ? "off-host" : "local"},
               {"egress_bytes_month", Bytes(plan.egress_bytes_month)},
               {"transfer_included_bytes", Bytes(plan.transfer_included_bytes)},
               {"lines", lines}};
  Json projection = Json::array();
  for (const ProjectionMonth& month : plan.growth.projection) {
    Json item = {{"month", month.month}, {"customers", month.customers}};
    if (month.tier != 0) {
      item["tier"] = month.tier;
    }
    Json fired = Json::array();
    for (const ScaleTrigger& t : plan.growth.triggers) {
      if (t.month && *t.month <= month.month) {
        fired.push_back(t.name);
      }
    }
    item["triggers_fired"] = std::move(fired);
    projection.push_back(std::move(item));
  }
  Json triggers = Json::array();
  for (const ScaleTrigger& t : plan.growth.triggers) {
    triggers.push_back({{"trigger", t.name},
                        {"customers", t.FiresAt()},
                        {"month", t.month ? Json(*t.month) : Json(nullptr)}});
  }
  j["growth"] = {
      {"rate_per_month", plan.growth.rate_per_month},
      {"months_until_upgrade",
       plan.growth.months_until_upgrade ? Json(*plan.growth.months_until_upgrade) : Json(nullptr)},
      {"upgrade_reason", plan.growth.upgrade_reason},
      {"first_trigger",
       plan.growth.first_trigger.empty()
           ? Json(nullptr)
           : Json{{"trigger", plan.growth.first_trigger},
                  {"customers", plan.growth.first_trigger_customers},
                  {"month", plan.growth.first_trigger_month ? Json(*plan.growth.first_trigger_month)
                                                            : Json(nullptr)}}},
      {"triggers", triggers},
      {"not_modelled",
       plan.growth.not_modelled.empty() ? Json::array() : Json::array({plan.growth.not_modelled})},
      {"projection", projection},
  };
  if (plan.revenue) {
    const Revenue& r = *plan.revenue;
    j["revenue"] = RevenueJson(r);
    if (!r.plan.empty()) {
      j["revenue"]["price_plan"] = r.plan;
    }
    if (r.launch) {
      j["revenue"]["coupon"] = {{"name", r.coupon},
                                {"percent_off", r.percent_off},
                                {"months", r.coupon_months},
                                {"launch", RevenueJson(*r.launch)}};
    }
    if (!r.by_plan.empty()) {
      Json plans = Json::array();
      for (const PriceRevenue& p : r.by_plan) {
        plans.push_back(RevenueJson(p));
        plans.back()["price_plan"] = p.plan;
      }
      j["revenue"]["by_plan"] = std::move(plans);
    }
  }
  j["warnings"] = plan.warnings;
  return j;
}

std::string JsonToYaml(const nlohmann::ordered_json& value) {
  std::string out;
  EmitYaml(value, 0, out);
  return out;
}

std::string PlanToTable(const Plan& plan, bool color) {
  const Workload& w = plan.workload;
  const Demand& d = plan.demand;
  std::string s;
  auto out = std::back_inserter(s);
  const std::string bold = color ? "\x1b[1m" : "";
  const std::string reset = color ? "\x1b[0m" : "";
  fmt::format_to(
      out, "{}Plan{}{}: {} customers · {} × {} device(s) · {} messages/day each · {} tab(s)\n",
      bold, w.name.empty() ? "" : " for " + w.name, reset,
      FormatNumber(static_cast<double>(w.customers)), w.engine, w.devices_per_customer,
      FormatNumber(static_cast<double>(w.messages_per_customer_day)),
      w.dashboard_tabs_per_customer);
  fmt::format_to(out, "\n{}Tier {} · {}{} ({}) — {}\n", bold, plan.tier->id, plan.tier->name, reset,
                 TopologyName(plan.tier->topology), plan.tier->summary);
  fmt::format_to(out, "Zone: {} (busiest host: RAM {}, CPU {}, disk {}{}; target {})\n",
                 ZoneText(plan.zone, color), Percent(plan.utilization.ram),
                 Percent(plan.utilization.cpu), Percent(plan.utilization.disk),
                 plan.workload.swap ? ", swap " + Percent(plan.utilization.swap) : std::string(),
                 "70 %");
  fmt::format_to(out, "Cost: {}/month{}\n", FormatUsd(plan.monthly_usd),
                 plan.off_host_backups ? " (off-host backups included)"
                                       : " (backups: a local copy, not off the host)");

  fmt::format_to(out, "\n{}Demand{}\n", bold, reset);
  fmt::format_to(
      out,
      "  RAM        {:>10}   sessions {} · websockets {} · queue {} · buffers {} · services {}\n",
      FormatBytes(d.total_ram), FormatBytes(d.sessions_ram), FormatBytes(d.websockets_ram),
      FormatBytes(d.queue_ram), FormatBytes(d.buffers_ram), FormatBytes(d.services_ram));
  if (d.swapped_ram > 0) {
    fmt::format_to(out, "    in swap  {:>10}   idle slices' pushed-out pages (--swap)\n",
                   FormatBytes(d.swapped_ram));
  }
  fmt::format_to(out, "  Disk       {:>10}   messages {} ({} days){}\n", FormatBytes(d.total_disk),
                 FormatBytes(d.messages_disk), w.retention_days,
                 d.sessions_disk > 0
                     ? fmt::format(" · session files {}", FormatBytes(d.sessions_disk))
                     : std::string());
  fmt::format_to(out, "  CPU        {:>10}   at peak\n",
                 fmt::format("{} cores", FormatNumber(d.cpu_cores, 2)));
  fmt::format_to(out, "  Messages   {:>10}   per day; peak {} msg/s (×{} peak factor)\n",
                 FormatNumber(d.messages_per_day), FormatNumber(d.peak_messages_per_second, 2),
                 FormatNumber(w.peak_factor, 2));
  fmt::format_to(out, "  DB conns   {:>10}\n", FormatNumber(static_cast<double>(d.db_connections)));

  fmt::format_to(out, "\n{}Layout{}\n", bold, reset);
  fmt::format_to(out, "  {:<18} {:>5}  {:<22} {:>5} {:>9} {:>9}  {:>5} {:>5} {:>5}  {:>11}  {}\n",
                 "role", "count", "server", "vCPU", "RAM", "disk", "RAM%", "CPU%", "disk%",
                 "$/month", "runner-up");
  for (const LayoutRow& row : plan.layout) {
    fmt::format_to(
        out, "  {:<18} {:>5}  {:<22} {:>5} {:>9} {:>9}  {:>5.0f} {:>5.0f} {:>5.0f}  {:>11}  {}\n",
        row.spec->role, row.count, row.server->name, FormatNumber(row.server->vcpu),
        FormatBytes(row.server->ram_bytes), FormatBytes(row.disk_bytes()), row.ram_util * 100,
        row.cpu_util * 100, row.disk_util * 100, FormatUsd(row.monthly_usd), RunnerUpText(row));
  }
  if (plan.search == Search::kReference) {
    fmt::format_to(out, "  (the tier's published servers, sized up within their provider)\n");
  } else if (!plan.providers.empty() || !plan.prefer.empty()) {
    std::string scope;
    for (const std::string& p : plan.providers) {
      scope += (scope.empty() ? "providers: " : ", ") + p;
    }
    for (std::size_t i = 0; i < plan.prefer.size(); ++i) {
      scope += (i == 0 ? (scope.empty() ? "preferring " : "; preferring ") : ", ") + plan.prefer[i];
    }
    fmt::format_to(out, "  ({})\n", scope);
  }

  if (!plan.cost_lines.empty()) {
    fmt::format_to(out, "\n{}Cost{}\n", bold, reset);
    for (const CostLine& line : plan.cost_lines) {
      fmt::format_to(out, "  {:<10} {:>11}   {}\n", line.item, FormatUsd(line.monthly_usd),
                     line.note);
    }
    fmt::format_to(out, "  {:<10} {:>11}   per month\n", "total", FormatUsd(plan.monthly_usd));
  }

  fmt::format_to(out, "\n{}Growth{}\n", bold, reset);
  if (plan.growth.months_until_upgrade) {
    fmt::format_to(out, "  {} per month: upgrade in {} month(s) ({})\n",
                   Percent(plan.growth.rate_per_month), *plan.growth.months_until_upgrade,
                   plan.growth.upgrade_reason);
  } else {
    fmt::format_to(out, "  {} per month: no upgrade needed within 120 months (first limit: {})\n",
                   Percent(plan.growth.rate_per_month),
                   plan.growth.upgrade_reason.empty() ? "none" : plan.growth.upgrade_reason);
  }
  if (!plan.growth.first_trigger.empty()) {
    const std::optional<int>& month = plan.growth.first_trigger_month;
    fmt::format_to(out, "  first scale trigger: {} at {} customers{}\n", plan.growth.first_trigger,
                   FormatNumber(plan.growth.first_trigger_customers),
                   !month        ? std::string()
                   : *month == 0 ? std::string(" (already)")
                                 : fmt::format(" (month {})", *month));
  }
  if (plan.growth.projection.size() > 1 && plan.growth.rate_per_month != 0) {
    // Month by month: the tier that month's customers need and the scale triggers of this
    // layout crossed that month (docs/capacity-model.md "Scale triggers").
    fmt::format_to(out, "  {:>5}  {:>10}  {:>4}  {}\n", "month", "customers", "tier",
                   "scale triggers crossed on this layout");
    for (const ProjectionMonth& m : plan.growth.projection) {
      std::string fired;
      for (const ScaleTrigger& t : plan.growth.triggers) {
        if (t.month && *t.month == m.month) {
          fired += (fired.empty() ? "" : "; ") + t.name;
        }
      }
      fmt::format_to(out, "  {:>5}  {:>10}  {:>4}  {}\n", m.month,
                     FormatNumber(static_cast<double>(m.customers)),
                     m.tier != 0 ? std::to_string(m.tier) : std::string("—"),
                     fired.empty() ? std::string("—") : fired);
    }
  }
  if (!plan.growth.not_modelled.empty()) {
    fmt::format_to(out, "  not modelled: {}\n", plan.growth.not_modelled);
  }
  if (plan.revenue) {
    const Revenue& r = *plan.revenue;
    fmt::format_to(out, "\n{}Revenue{}\n", bold, reset);
    fmt::format_to(out, "  MRR {} at {}/customer{} · margin {} · break-even at {} customers\n",
                   FormatUsd(r.mrr_usd), FormatUsd(r.price_per_customer_month),
                   r.plan.empty() ? std::string() : fmt::format(" (plan {})", r.plan),
                   FormatUsd(r.margin_usd),
                   FormatNumber(static_cast<double>(r.break_even_customers)));
    if (r.launch) {
      fmt::format_to(out,
                     "  coupon {} ({:g} % off, each customer's first {} months): MRR {} at {} · "
                     "margin {} · break-even at {} customers\n",
                     r.coupon, r.percent_off, r.coupon_months, FormatUsd(r.launch->mrr_usd),
                     FormatUsd(r.launch->price_per_customer_month), FormatUsd(r.launch->margin_usd),
                     FormatNumber(static_cast<double>(r.launch->break_even_customers)));
    }
    if (!r.by_plan.empty()) {
      fmt::format_to(out, "  {:<12} {:>9} {:>12} {:>12} {:>11}\n", "plan", "price", "MRR", "margin",
                     "break-even");
      for (const PriceRevenue& p : r.by_plan) {
        fmt::format_to(out, "  {:<12} {:>9} {:>12} {:>12} {:>11}\n",
                       std::string(p.plan) + (p.plan == r.plan ? " *" : ""),
                       FormatUsd(p.price_per_customer_month), FormatUsd(p.mrr_usd),
                       FormatUsd(p.margin_usd),
                       FormatNumber(static_cast<double>(p.break_even_customers)));
      }
    }
  }
  fmt::format_to(out, "\n{}Knobs{}\n", bold, reset);
  for (const auto& [name, value] : plan.knobs) {
    fmt::format_to(out, "  {:<30} {}\n", name, KnobText(name, value));
  }
  if (!plan.postgres.empty()) {
    const LayoutRow* pg = nullptr;
    for (const LayoutRow& row : plan.layout) {
      if (pg == nullptr && (row.spec->carries & kCarryMessages)) {
        pg = &row;
      }
    }
    if (pg != nullptr) {
      fmt::format_to(out, "\n{}PostgreSQL{} (PGTune web profile for the '{}' host: {}, {} vCPU)\n",
                     bold, reset, pg->spec->role, FormatBytes(pg->server->ram_bytes),
                     FormatNumber(pg->server->vcpu));
    }
    for (const auto& [name, value] : plan.postgres) {
      fmt::format_to(out, "  {:<34} {}\n", name, PostgresValueText(name, value));
    }
  }
  if (!plan.warnings.empty()) {
    fmt::format_to(out, "\n{}Warnings{}\n", bold, reset);
    for (const std::string& warning : plan.warnings) {
      fmt::format_to(out, "  ! {}\n", warning);
    }
  }
  return s;
}

std::string PlanToMarkdown(const Plan& plan) {
  const Demand& d = plan.demand;
  std::string s;
  auto out = std::back_inserter(s);
  fmt::format_to(out, "## Plan: {} customers — tier {} ({})\n\n",
                 FormatNumber(static_cast<double>(plan.workload.customers)), plan.tier->id,
                 plan.tier->name);
  fmt::format_to(out, "Zone **{}** · cost **{}/month** · topology {}\n\n", ZoneName(plan.zone),
                 FormatUsd(plan.monthly_usd), TopologyName(plan.tier->topology));
  fmt::format_to(out, "| demand | value |\n|---|---|\n");
  fmt::format_to(out,
                 "| RAM | {} |\n| disk | {} |\n| CPU | {} cores |\n| messages/day | {} |\n"
                 "| peak msg/s | {} |\n| DB connections | {} |\n\n",
                 FormatBytes(d.total_ram), FormatBytes(d.total_disk), FormatNumber(d.cpu_cores, 2),
                 FormatNumber(d.messages_per_day), FormatNumber(d.peak_messages_per_second, 2),
                 d.db_connections);
  fmt::format_to(out,
                 "| role | count | server | vCPU | RAM | disk | RAM % | CPU % | disk % | $/month | "
                 "runner-up |\n"
                 "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const LayoutRow& row : plan.layout) {
    fmt::format_to(out, "| {} | {} | {} | {} | {} | {} | {:.0f} | {:.0f} | {:.0f} | {} | {} |\n",
                   row.spec->role, row.count, row.server->name, FormatNumber(row.server->vcpu),
                   FormatBytes(row.server->ram_bytes), FormatBytes(row.disk_bytes()),
                   row.ram_util * 100, row.cpu_util * 100, row.disk_util * 100,
                   FormatUsd(row.monthly_usd), RunnerUpText(row));
  }
  if (!plan.cost_lines.empty()) {
    fmt::format_to(out, "\n| cost line | $/month | what |\n|---|---:|---|\n");
    for (const CostLine& line : plan.cost_lines) {
      fmt::format_to(out, "| {} | {} | {} |\n", line.item, FormatUsd(line.monthly_usd), line.note);
    }
  }
  fmt::format_to(out, "\n| knob | value |\n|---|---|\n");
  for (const auto& [name, value] : plan.knobs) {
    fmt::format_to(out, "| {} | {} |\n", name, KnobText(name, value));
  }
  if (!plan.postgres.empty()) {
    fmt::format_to(out, "\n| postgresql.conf | value |\n|---|---|\n");
    for (const auto& [name, value] : plan.postgres) {
      fmt::format_to(out, "| {} | {} |\n", name, PostgresValueText(name, value));
    }
  }
  if (plan.revenue) {
    const Revenue& r = *plan.revenue;
    fmt::format_to(out, "\nMRR {} · margin {} · break-even {} customers\n", FormatUsd(r.mrr_usd),
                   FormatUsd(r.margin_usd), r.break_even_customers);
    if (r.launch) {
      fmt::format_to(out,
                     "\nWith coupon {} ({:g} % off, first {} months): MRR {} · margin {} · "
                     "break-even {} customers\n",
                     r.coupon, r.percent_off, r.coupon_months, FormatUsd(r.launch->mrr_usd),
                     FormatUsd(r.launch->margin_usd), r.launch->break_even_customers);
    }
    if (!r.by_plan.empty()) {
      fmt::format_to(
          out, "\n| price plan | price | MRR | margin | break-even |\n|---|---|---|---|---|\n");
      for (const PriceRevenue& p : r.by_plan) {
        fmt::format_to(out, "| {}{} | {} | {} | {} | {} |\n", p.plan,
                       p.plan == r.plan ? " (chosen)" : "", FormatUsd(p.price_per_customer_month),
                       FormatUsd(p.mrr_usd), FormatUsd(p.margin_usd), p.break_even_customers);
      }
    }
  }
  if (!plan.warnings.empty()) {
    fmt::format_to(out, "\n**Warnings**\n\n");
    for (const std::string& warning : plan.warnings) {
      fmt::format_to(out, "- {}\n", warning);
    }
  }
  return s;
}

std::string ExplainToText(const Plan& plan) {
  std::string s;
  auto out = std::back_inserter(s);
  std::size_t width = 0;
  for (const ExplainLine& line : plan.explain) {
    width = std::max(width, line.figure.size());
  }
  for (const ExplainLine& line : plan.explain) {
    fmt::format_to(out, "{:<{}}  {}\n{:<{}}  = {}\n", line.figure, width, line.arithmetic, "",
                   width, line.result);
  }
  return s;
}

void AppendPlanCsvHeader(std::string& out) {
  out +=
      "name,customers,devices_per_customer,messages_per_customer_day,dashboard_tabs_per_customer,"
      "peak_pending_tasks,retention_days,engine,ha,regions,tier_id,tier_name,topology,servers,"
      "layout,ram_bytes,disk_bytes,cpu_cores,messages_per_day,peak_messages_per_second,"
      "db_connections,util_ram,util_disk,util_cpu,zone,monthly_usd,months_until_upgrade,price_plan,"
      "price_per_customer_month,mrr_usd,margin_usd,break_even_customers,coupon,launch_mrr_usd,"
      "launch_margin_usd,launch_break_even_customers,warnings\n";
}

namespace {

// std::llround without the library call (a few per CSV row): below 2^53 the fraction x − trunc(x)
// is exact, so the comparison with ½ decides as llround does; NaN and larger values go to it.
long long RoundHalfAway(double x) {
  if (!(std::fabs(x) < 0x1p53)) {
    return std::llround(x);
  }
  auto whole = static_cast<long long>(x);
  const double fraction = x - static_cast<double>(whole);
  if (fraction >= 0.5) {
    ++whole;
  } else if (fraction <= -0.5) {
    --whole;
  }
  return whole;
}

// Writes a CSV row into memory reserved up front: batch writes a million rows, and fmt's general
// path and std::string's per-append checks dominated its profile.
// "00" to "99", two characters each.
constexpr std::array<char, 200> kDigitPairs = [] {
  std::array<char, 200> pairs{};
  for (int i = 0; i < 100; ++i) {
    pairs[static_cast<std::size_t>(2 * i)] = static_cast<char>('0' + i / 10);
    pairs[static_cast<std::size_t>(2 * i + 1)] = static_cast<char>('0' + i % 10);
  }
  return pairs;
}();

// 10^0 to 10^19.
constexpr std::array<unsigned long long, 20> kPowersOf10 = [] {
  std::array<unsigned long long, 20> powers{};
  unsigned long long p = 1;
  for (unsigned long long& power : powers) {
    power = p;
    p *= 10;
  }
  return powers;
}();

class RowWriter {
 public:
  explicit RowWriter(char* p) : p_(p) {}
  char* end() const { return p_; }

  void Char(char c) { *p_++ = c; }
  void Text(std::string_view s) {
    if (s.empty()) {
      return;  // an empty view may have no data pointer, which memcpy must not be given
    }
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  // A row holds about thirty integers, most of them one or two digits (counts, ids, hosts) and
  // two of them eleven or twelve (bytes): both written two digits at a time from a table, the
  // short ones inline.
  void Int(long long v) {
    if (v >= 0 && v < 100) {
      if (v < 10) {
        *p_++ = static_cast<char>('0' + v);
      } else {
        std::memcpy(p_, &kDigitPairs[static_cast<std::size_t>(2 * v)], 2);
        p_ += 2;
      }
      return;
    }
    LongInt(v);
  }
  // Fixed-point with `kDecimals` digits, rounded half away from zero (the magnitudes here are far
  // below 2^53 / 10^kDecimals, so the scaled integer is exact). The digit count is a template
  // argument so that dividing by the scale is a multiplication, not a 64-bit division.
  template <int kDecimals>
  void Fixed(double v) {
    static_assert(kDecimals >= 0 && kDecimals <= 4);
    constexpr long long kScale = kDecimals == 0   ? 1
                                 : kDecimals == 1 ? 10
                                 : kDecimals == 2 ? 100
                                 : kDecimals == 3 ? 1000
                                                  : 10000;
    const long long scaled = RoundHalfAway(v * static_cast<double>(kScale));
    const long long magnitude = scaled < 0 ? -scaled : scaled;
    if (scaled < 0) {
      Char('-');
    }
    Int(magnitude / kScale);
    if constexpr (kDecimals > 0) {
      Char('.');
      auto frac = static_cast<std::size_t>(magnitude % kScale);
      char* q = p_ + kDecimals;
      for (int i = kDecimals; i >= 2; i -= 2) {
        q -= 2;
        std::memcpy(q, &kDigitPairs[2 * (frac % 100)], 2);
        frac /= 100;
      }
      if constexpr (kDecimals % 2 == 1) {
        q[-1] = static_cast<char>('0' + frac);
      }
      p_ += kDecimals;
    }
  }
  // A CSV field, quoted when it holds a comma, quote or line break.
  void Field(std::string_view s) {
    if (std::none_of(s.begin(), s.end(), [](char c) {
          // find_first_of searches the set once per character; warnings are long.
          return c == ',' || c == '"' || c == '\r' || c == '\n';
        })) {
      Text(s);
      return;
    }
    // Runs between quotes are copied whole: a warning is quoted on most batch rows.
    Char('"');
    for (std::size_t quote = s.find('"'); quote != std::string_view::npos; quote = s.find('"')) {
      Text(s.substr(0, quote + 1));
      Char('"');
      s.remove_prefix(quote + 1);
    }
    Text(s);
    Char('"');
  }

 private:
  [[gnu::noinline]] void LongInt(long long v) {
    // Three and four digits (customers, messages, connections, dollars) are the most common long
    // ones: written without counting digits, in 32-bit arithmetic.
    if (v >= 100 && v < 10'000) {
      const auto n = static_cast<std::uint32_t>(v);
      const std::uint32_t high = n / 100;
      if (high < 10) {
        *p_++ = static_cast<char>('0' + high);
      } else {
        std::memcpy(p_, &kDigitPairs[2 * high], 2);
        p_ += 2;
      }
      std::memcpy(p_, &kDigitPairs[2 * (n % 100)], 2);
      p_ += 2;
      return;
    }
    unsigned long long magnitude = static_cast<unsigned long long>(v);
    if (v < 0) {
      *p_++ = '-';
      magnitude = 0 - magnitude;
    }
    // The digit count from the bit width (log10 2 ≈ 1233 / 4096), corrected by one compare.
    const auto estimate = static_cast<std::size_t>(std::bit_width(magnitude | 1U) * 1233 >> 12);
    const auto digits = static_cast<int>(estimate) + (magnitude >= kPowersOf10[estimate] ? 1 : 0);
    char* q = p_ + std::max(digits, 1);
    p_ = q;
    // The last eight digits of a long number (byte counts) as two independent halves: a chain of
    // divisions by 100 is latency-bound.
    if (magnitude >= 100'000'000) {
      const auto low = static_cast<std::uint32_t>(magnitude % 100'000'000);
      magnitude /= 100'000'000;
      const std::uint32_t high4 = low / 10'000;
      const std::uint32_t low4 = low % 10'000;
      q -= 8;
      std::memcpy(q, &kDigitPairs[2 * (high4 / 100)], 2);
      std::memcpy(q + 2, &kDigitPairs[2 * (high4 % 100)], 2);
      std::memcpy(q + 4, &kDigitPairs[2 * (low4 / 100)], 2);
      std::memcpy(q + 6, &kDigitPairs[2 * (low4 % 100)], 2);
    }
    while (magnitude >= 100) {
      q -= 2;
      std::memcpy(q, &kDigitPairs[2 * (magnitude % 100)], 2);
      magnitude /= 100;
    }
    if (magnitude >= 10) {
      std::memcpy(q - 2, &kDigitPairs[2 * magnitude], 2);
    } else {
      q[-1] = static_cast<char>('0' + magnitude);
    }
  }

  char* p_;
};

}  // namespace

// Room a row can need: the fixed columns, server names, and the free text twice over (quoting).
std::size_t PlanCsvRowBound(const Plan& plan) {
  std::size_t bound = 1024 + 2 * plan.workload.name.size() + plan.workload.engine.size();
  if (plan.revenue) {
    // Names from pricing.yaml (any length in a --catalog copy) and the price and launch figures.
    bound += 2 * (plan.revenue->plan.size() + plan.revenue->coupon.size()) + 4 * 32;
  }
  for (const LayoutRow& row : plan.layout) {
    bound += row.server->name.size() + 32;
  }
  for (const std::string& warning : plan.warnings) {
    bound += 2 * warning.size() + 4;
  }
  return bound;
}

void AppendPlanCsvRow(std::string& out, const Plan& plan) {
  const std::size_t start = out.size();
  out.resize(start + PlanCsvRowBound(plan));
  char* end = WritePlanCsvRow(out.data() + start, plan);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

char* WritePlanCsvRow(char* dest, const Plan& plan) {
  const Workload& w = plan.workload;
  const Demand& d = plan.demand;
  RowWriter row(dest);
  row.Field(w.name);
  for (long long v : {w.customers, w.devices_per_customer, w.messages_per_customer_day,
                      w.dashboard_tabs_per_customer, w.peak_pending_tasks, w.retention_days}) {
    row.Char(',');
    row.Int(v);
  }
  row.Char(',');
  row.Text(w.engine);
  row.Text(w.ha ? ",true," : ",false,");
  row.Int(w.regions);
  row.Char(',');
  row.Int(plan.tier->id);
  row.Char(',');
  row.Text(plan.tier->name);
  row.Char(',');
  row.Text(TopologyName(plan.tier->topology));
  row.Char(',');
  int servers = 0;
  for (const LayoutRow& r : plan.layout) {
    servers += r.count;
  }
  row.Int(servers);
  row.Char(',');
  bool first = true;
  for (const LayoutRow& r : plan.layout) {
    if (!first) {
      row.Text(" + ");
    }
    row.Int(r.count);
    row.Text("x ");
    row.Text(r.server->name);
    first = false;
  }
  row.Char(',');
  row.Int(Bytes(d.total_ram));
  row.Char(',');
  row.Int(Bytes(d.total_disk));
  row.Char(',');
  row.Fixed<3>(d.cpu_cores);
  row.Char(',');
  row.Fixed<0>(d.messages_per_day);
  row.Char(',');
  row.Fixed<4>(d.peak_messages_per_second);
  row.Char(',');
  row.Int(d.db_connections);
  for (double u : {plan.utilization.ram, plan.utilization.disk, plan.utilization.cpu}) {
    row.Char(',');
    row.Fixed<4>(u);
  }
  row.Char(',');
  row.Text(ZoneName(plan.zone));
  row.Char(',');
  row.Fixed<2>(plan.monthly_usd);
  row.Char(',');
  if (plan.growth.months_until_upgrade) {
    row.Int(*plan.growth.months_until_upgrade);
  }
  row.Char(',');
  if (plan.revenue) {
    const Revenue& r = *plan.revenue;
    row.Field(r.plan);
    row.Char(',');
    row.Fixed<2>(r.price_per_customer_month);
    row.Char(',');
    row.Fixed<2>(r.mrr_usd);
    row.Char(',');
    row.Fixed<2>(r.margin_usd);
    row.Char(',');
    row.Int(r.break_even_customers);
    row.Char(',');
    if (r.launch) {
      row.Field(r.coupon);
      row.Char(',');
      row.Fixed<2>(r.launch->mrr_usd);
      row.Char(',');
      row.Fixed<2>(r.launch->margin_usd);
      row.Char(',');
      row.Int(r.launch->break_even_customers);
    } else {
      row.Text(",,,");
    }
  } else {
    row.Text(",,,,,,,,");
  }
  row.Char(',');
  if (plan.warnings.size() == 1) {
    row.Field(plan.warnings.front());
  } else if (!plan.warnings.empty()) {
    thread_local std::string joined;
    joined.clear();
    for (const std::string& warning : plan.warnings) {
      if (!joined.empty()) {
        joined += "; ";
      }
      joined += warning;
    }
    row.Field(joined);
  }
  row.Char('\n');
  return row.end();
}

}  // namespace crm::planner
