// crmctl billing status [--email E]: the revenue summary (MRR, subscriptions by state, churn,
// failed payments) or one account's subscription, from a running gateway's admin API.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "admin_client.hpp"
#include "cli_context.hpp"
#include "crm/text.hpp"

namespace crm::cli {
namespace {

struct BillingCmdOptions {
  std::string url;
  std::string email;
};

std::string Money(long long cents, const std::string& currency) {
  return fmt::format("{}.{:02} {}", cents / 100, cents % 100, currency);
}

std::string Text(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : std::string("-");
}

void PrintRevenue(const nlohmann::json& r) {
  std::string currency = r["currency"].get<std::string>();
  std::cout << "MRR: " << Money(r["mrr_cents"].get<long long>(), currency) << "\n";
  const auto& subs = r["subscriptions"];
  std::cout << fmt::format(
      "subscriptions: {} active, {} trialing, {} past due, {} suspended, {} canceled\n",
      subs["active"].get<long long>(), subs["trialing"].get<long long>(),
      subs["past_due"].get<long long>(), subs["suspended"].get<long long>(),
      subs["canceled"].get<long long>());
  std::cout << "failed payments (30 days): " << r["failed_payments_30d"].get<long long>() << "\n";
  std::cout << fmt::format("{:<8} {:>8} {:>15} {:>7}\n", "MONTH", "CANCELED", "ACTIVE AT START",
                           "CHURN");
  for (const auto& m : r["churn"]) {
    std::cout << fmt::format("{:<8} {:>8} {:>15} {:>6.1f}%\n", m["month"].get<std::string>(),
                             m["canceled"].get<long long>(), m["active_at_start"].get<long long>(),
                             m["rate"].get<double>() * 100.0);
  }
}

void PrintAccount(const nlohmann::json& s) {
  std::cout << fmt::format("{} (user {}): {}\n", s["email"].get<std::string>(),
                           s["user_id"].get<long long>(), s["status"].get<std::string>());
  std::cout << fmt::format("  stripe customer:     {}\n", Text(s["stripe_customer_id"]));
  std::cout << fmt::format("  stripe subscription: {}\n", Text(s["stripe_subscription_id"]));
  std::cout << fmt::format("  current period end:  {}{}\n", Text(s["current_period_end"]),
                           s["cancel_at_period_end"].get<bool>() ? " (cancels then)" : "");
  std::cout << fmt::format("  grace ends:          {}\n", Text(s["grace_ends_at"]));
  std::cout << fmt::format("  trial ends:          {}\n", Text(s["trial_ends_at"]));
  std::cout << fmt::format("  data deleted:        {}\n", Text(s["data_deleted_at"]));
}

}  // namespace

void SetupBilling(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<BillingCmdOptions>();
  auto* cmd =
      AddAdminCommand(app, "billing", "billing through a running gateway's admin API", opts->url);
  auto* status = cmd->add_subcommand(
      "status", "MRR, subscriptions, churn and failed payments; or one account");
  status->add_option("--email", opts->email, "one account's subscription instead");
  status->callback([opts, &global] {
    AdminClient client(opts->url);
    nlohmann::json doc =
        opts->email.empty()
            ? client.Call("GET", "/admin/revenue")
            : client.Call("GET", "/admin/billing/subscription?email=" + PercentEncode(opts->email));
    auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
    if (format != planner::OutputFormat::kTable) {
      PrintDocument(nlohmann::ordered_json::parse(doc.dump()), format);
    } else if (opts->email.empty()) {
      PrintRevenue(doc);
    } else {
      PrintAccount(doc);
    }
  });
}

}  // namespace crm::cli
