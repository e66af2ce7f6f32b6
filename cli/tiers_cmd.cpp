// crmctl tiers: the published catalog (list, show N, servers).
#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/units.hpp"

namespace crm::cli {
namespace {

using Json = nlohmann::ordered_json;

std::string Customers(const planner::Tier& t) {
  return t.max_customers == 0
             ? fmt::format("{}+", crm::FormatNumber(static_cast<double>(t.min_customers)))
             : fmt::format("{}–{}", crm::FormatNumber(static_cast<double>(t.min_customers)),
                           crm::FormatNumber(static_cast<double>(t.max_customers)));
}

std::string Messages(const planner::Tier& t) {
  return t.max_messages_per_day == 0
             ? "unbounded"
             : crm::FormatNumber(static_cast<double>(t.max_messages_per_day));
}

Json TierJson(const planner::Tier& t, const planner::Catalog& c) {
  Json roles = Json::array();
  for (const planner::RoleSpec& r : t.roles) {
    const planner::Server& s = *c.FindServer(r.server);
    roles.push_back({{"role", r.role},
                     {"count", r.count},
                     {"server", r.server},
                     {"vcpu", s.vcpu},
                     {"ram_bytes", std::llround(s.ram_bytes)},
                     {"disk_bytes", std::llround(s.disk_bytes)},
                     {"monthly_usd", s.monthly_usd},
                     {"scalable", r.scalable},
                     {"only_with_replica", r.only_with_replica},
                     {"sized_like", r.sized_like ? Json(r.sized_like_role) : Json(nullptr)}});
  }
  Json floors = Json::object();
  for (const auto& [k, v] : t.knob_floors) {
    floors[k] = v;
  }
  return {{"id", t.id},
          {"name", t.name},
          {"summary", t.summary},
          {"topology", std::string(planner::TopologyName(t.topology))},
          {"min_customers", t.min_customers},
          {"max_customers", t.max_customers == 0 ? Json(nullptr) : Json(t.max_customers)},
          {"max_messages_per_day",
           t.max_messages_per_day == 0 ? Json(nullptr) : Json(t.max_messages_per_day)},
          {"published_cost_usd", {{"min", t.published_min_usd}, {"max", t.published_max_usd}}},
          {"ha", t.ha},
          {"multi_region", t.multi_region},
          {"knob_floors", floors},
          {"roles", roles},
          {"source", t.source}};
}

void List(GlobalOptions& global) {
  const planner::Catalog catalog = LoadCatalog(global);
  const auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    Json doc = Json::array();
    for (const planner::Tier& t : catalog.tiers()) {
      doc.push_back(TierJson(t, catalog));
    }
    PrintDocument(doc, format);
    return;
  }
  std::cout << fmt::format("{:<4} {:<11} {:<8} {:>12} {:>14} {:>16}  {}\n", "tier", "name",
                           "topology", "customers", "messages/day", "published $/mo", "servers");
  for (const planner::Tier& t : catalog.tiers()) {
    int servers = 0;
    for (const planner::RoleSpec& r : t.roles) {
      servers += r.only_with_replica ? 0 : r.count;  // an opt-in replica is not in the layout
    }
    std::cout << fmt::format("{:<4} {:<11} {:<8} {:>12} {:>14} {:>16}  {}\n", t.id, t.name,
                             planner::TopologyName(t.topology), Customers(t), Messages(t),
                             fmt::format("{}–{}", crm::FormatNumber(t.published_min_usd),
                                         crm::FormatNumber(t.published_max_usd)),
                             servers);
  }
}

void Show(int id, GlobalOptions& global) {
  const planner::Catalog catalog = LoadCatalog(global);
  const planner::Tier* t = catalog.FindTier(id);
  if (t == nullptr) {
    throw InputError(fmt::format("tiers show: no tier {} (the catalog has 1 to {})", id,
                                 catalog.tiers().size()));
  }
  const auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    PrintDocument(TierJson(*t, catalog), format);
    return;
  }
  std::cout << fmt::format("Tier {} · {} ({})\n{}\n\n", t->id, t->name,
                           planner::TopologyName(t->topology), t->summary);
  std::cout << fmt::format("Envelope: {} customers, up to {} messages/day\n", Customers(*t),
                           Messages(*t));
  std::cout << fmt::format("Published cost: ${}–{}/month · HA: {} · multi-region: {}\n",
                           crm::FormatNumber(t->published_min_usd),
                           crm::FormatNumber(t->published_max_usd), t->ha ? "yes" : "no",
                           t->multi_region ? "yes" : "no");
  std::cout << fmt::format("Source: {}\n\nReference layout:\n", t->source);
  std::cout << fmt::format("  {:<18} {:>5}  {:<22} {:>5} {:>9} {:>9} {:>11}\n", "role", "count",
                           "server", "vCPU", "RAM", "disk", "$/month");
  double total = 0;
  for (const planner::RoleSpec& r : t->roles) {
    const planner::Server& s = *catalog.FindServer(r.server);
    total += r.only_with_replica ? 0 : s.monthly_usd * r.count;
    std::vector<std::string> notes;
    if (r.only_with_replica) {
      notes.emplace_back("only with --replica");
    }
    if (r.sized_like) {
      notes.push_back("sized as " + r.sized_like_role);
    }
    if (r.scalable) {
      notes.emplace_back("scales out");
    }
    std::cout << fmt::format("  {:<18} {:>5}  {:<22} {:>5} {:>9} {:>9} {:>11}{}{}{}\n", r.role,
                             r.count, s.name, crm::FormatNumber(s.vcpu),
                             crm::FormatBytes(s.ram_bytes), crm::FormatBytes(s.disk_bytes),
                             crm::FormatUsd(s.monthly_usd * r.count), notes.empty() ? "" : "  (",
                             fmt::join(notes, "; "), notes.empty() ? "" : ")");
  }
  std::cout << fmt::format("  reference total: {}/month\n", crm::FormatUsd(total));
  if (!t->knob_floors.empty()) {
    std::cout << "\nKnob floors (the plan computes each knob and never goes below these):\n";
    for (const auto& [k, v] : t->knob_floors) {
      std::cout << fmt::format("  {:<24} {}\n", k, v);
    }
  }
}

void Servers(GlobalOptions& global) {
  const planner::Catalog catalog = LoadCatalog(global);
  const auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    Json doc = Json::array();
    for (const planner::Server& s : catalog.servers()) {
      doc.push_back({{"name", s.name},
                     {"provider", s.provider},
                     {"plan", s.plan},
                     {"kind", std::string(planner::ServerKindName(s.kind))},
                     {"vcpu", s.vcpu},
                     {"ram_bytes", std::llround(s.ram_bytes)},
                     {"disk_bytes", std::llround(s.disk_bytes)},
                     {"disk_type", std::string(planner::DiskTypeName(s.disk_type))},
                     {"monthly_usd", s.monthly_usd},
                     {"source", s.source}});
    }
    PrintDocument(doc, format);
    return;
  }
  std::cout << fmt::format("{:<24} {:<17} {:>5} {:>9} {:>9} {:<5} {:>10}  {}\n", "server", "kind",
                           "vCPU", "RAM", "disk", "type", "$/month", "source");
  for (const planner::Server& s : catalog.servers()) {
    std::cout << fmt::format("{:<24} {:<17} {:>5} {:>9} {:>9} {:<5} {:>10}  {}\n", s.name,
                             planner::ServerKindName(s.kind), crm::FormatNumber(s.vcpu),
                             crm::FormatBytes(s.ram_bytes), crm::FormatBytes(s.disk_bytes),
                             planner::DiskTypeName(s.disk_type), crm::FormatUsd(s.monthly_usd),
                             s.source);
  }
}

void Pricing(GlobalOptions& global) {
  const planner::Catalog catalog = LoadCatalog(global);
  const planner::Pricing& pricing = catalog.pricing();
  const auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    Json plans = Json::array();
    for (const planner::PricePlan& p : pricing.plans) {
      plans.push_back({{"name", p.name},
                       {"usd_per_customer_month", p.usd_per_customer_month},
                       {"source", p.source}});
    }
    Json coupons = Json::array();
    for (const planner::Coupon& c : pricing.coupons) {
      coupons.push_back({{"name", c.name},
                         {"percent_off", c.percent_off},
                         {"months", c.months},
                         {"plans", c.plans},
                         {"source", c.source}});
    }
    PrintDocument(Json{{"plans", plans}, {"coupons", coupons}}, format);
    return;
  }
  if (pricing.plans.empty()) {
    std::cout << "The catalog has no pricing.yaml: no price plans.\n";
    return;
  }
  std::cout << fmt::format("{:<14} {:>18}  {}\n", "price plan", "$/customer/month", "source");
  for (const planner::PricePlan& p : pricing.plans) {
    std::cout << fmt::format("{:<14} {:>18}  {}\n", p.name,
                             crm::FormatUsd(p.usd_per_customer_month), p.source);
  }
  if (!pricing.coupons.empty()) {
    std::cout << fmt::format("\n{:<14} {:>8} {:>7}  {:<16} {}\n", "coupon", "% off", "months",
                             "plans", "source");
    for (const planner::Coupon& c : pricing.coupons) {
      std::string plans;
      for (const std::string& p : c.plans) {
        plans += plans.empty() ? p : "," + p;
      }
      std::cout << fmt::format("{:<14} {:>8} {:>7}  {:<16} {}\n", c.name,
                               fmt::format("{:g}", c.percent_off), c.months,
                               plans.empty() ? "all" : plans, c.source);
    }
  }
}

}  // namespace

void SetupTiers(CLI::App& app, GlobalOptions& global) {
  CLI::App* cmd = app.add_subcommand("tiers", "The published tier catalog");
  cmd->require_subcommand(0, 1);
  CLI::App* list = cmd->add_subcommand("list", "All tiers with their envelopes (default)");
  CLI::App* show = cmd->add_subcommand("show", "One tier in full");
  auto id = std::make_shared<int>(0);
  show->add_option("N", *id, "Tier number")->required();
  CLI::App* servers = cmd->add_subcommand("servers", "Server offerings and list prices");
  CLI::App* pricing = cmd->add_subcommand("pricing", "Price plans and coupons (revenue figures)");
  pricing->callback([&global]() { Pricing(global); });
  list->callback([&global]() { List(global); });
  show->callback([id, &global]() { Show(*id, global); });
  servers->callback([&global]() { Servers(global); });
  cmd->callback([cmd, &global]() {
    if (cmd->get_subcommands().empty()) {
      List(global);
    }
  });
}

}  // namespace crm::cli
