// crmctl telemetry report [--hours N]: what a running deployment's recorded telemetry says about
// its slices and its server (docs/operations.md, "Telemetry report"), from the gateway's admin API.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "admin_client.hpp"
#include "cli_context.hpp"

namespace crm::cli {
namespace {

struct TelemetryCmdOptions {
  std::string url;
  int hours = 24 * 7;
  int idle_after = 600;
};

std::string MiB(double bytes) {
  return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0));
}

void PrintIdle(const nlohmann::json& idle, const nlohmann::json& leaks) {
  std::cout << fmt::format("Idle slices (no request for {} s): ",
                           idle["idle_after_seconds"].get<long long>());
  std::string trend = idle["trend"].get<std::string>();
  if (trend == "unknown") {
    std::cout << fmt::format(
        "not enough data ({} slices seen idle; a trend needs 3 samples over 30 minutes).\n",
        idle["slices"].get<long long>());
  } else {
    std::cout << fmt::format("{} — median {} → {}, {}/hour over {} slices.\n", trend,
                             MiB(idle["median_first_rss_bytes"].get<double>()),
                             MiB(idle["median_last_rss_bytes"].get<double>()),
                             MiB(idle["median_slope_bytes_per_hour"].get<double>()),
                             idle["judgeable"].get<long long>());
  }
  if (leaks.empty()) {
    std::cout << "Leaks: none (no idle slice grew ≥ 1 MiB/hour steadily).\n";
    return;
  }
  std::cout << fmt::format("Leaks: {} {} while idle\n", leaks.size(),
                           leaks.size() == 1 ? "slice grows" : "slices grow");
  std::cout << fmt::format("  {:>6} {:>12} {:>8} {:>6} {:>12}\n", "SLICE", "GROWTH/HOUR", "HOURS",
                           "R2", "RSS NOW");
  for (const auto& l : leaks) {
    std::cout << fmt::format(
        "  {:>6} {:>12} {:>8.1f} {:>6.2f} {:>12}\n", l["slice_id"].get<long long>(),
        MiB(l["slope_bytes_per_hour"].get<double>()), l["span_hours"].get<double>(),
        l["r2"].get<double>(), MiB(l["last_rss_bytes"].get<double>()));
  }
}

void PrintSwap(const nlohmann::json& swap) {
  if (!swap["available"].get<bool>()) {
    std::cout << "Swap: no samples with swap configured on this server.\n";
    return;
  }
  const auto& from = swap["thrashing_from_percent"];
  std::cout << (from.is_null()
                    ? fmt::format("Swap: swap-ins never averaged {:.0f} pages/s at any swap use.\n",
                                  swap["threshold_pages_per_s"].get<double>())
                    : fmt::format("Swap: thrashing from {}% swap used (swap-ins ≥ {:.0f} pages/s "
                                  "on average).\n",
                                  from.get<int>(), swap["threshold_pages_per_s"].get<double>()));
  std::cout << fmt::format("  {:>9} {:>8} {:>13} {:>13} {:>14}\n", "SWAP USED", "SAMPLES",
                           "SWAP-IN AVG/S", "SWAP-IN MAX/S", "WA DISCONNECTED");
  for (const auto& b : swap["buckets"]) {
    std::cout << fmt::format(
        "  {:>4}–{:>3}% {:>8} {:>13.0f} {:>13.0f} {:>13.1f}%\n", b["from_percent"].get<int>(),
        b["to_percent"].get<int>(), b["samples"].get<long long>(),
        b["swapin_avg_pages_per_s"].get<double>(), b["swapin_max_pages_per_s"].get<double>(),
        b["whatsapp_disconnected_fraction"].get<double>() * 100);
  }
}

void PrintWake(const nlohmann::json& wake) {
  if (wake["wakes"].get<long long>() == 0) {
    std::cout << "Wakes: no idle slice was woken in this window.\n";
    return;
  }
  std::cout << fmt::format(
      "Wakes: {} — median {} paged back in, resident size +{}; latency {}.\n",
      wake["wakes"].get<long long>(), MiB(wake["median_paged_in_bytes"].get<double>()),
      MiB(wake["median_rss_growth_bytes"].get<double>()), wake["latency"].get<std::string>());
}

void PrintStress(const nlohmann::json& stress) {
  const auto& c = stress["criteria"];
  const auto& began = stress["began_at_slices"];
  std::cout << (began.is_null()
                    ? std::string("Stress: none seen")
                    : fmt::format("Stress: began at {} running slices", began.get<int>()))
            << fmt::format(
                   " (RAM > {:.0f}%, CPU > {:.0f}% or swap-ins > {:.0f}/s in a quarter of "
                   "the samples).\n",
                   c["ram_percent"].get<double>(), c["cpu_percent"].get<double>(),
                   c["swapin_pages_per_s"].get<double>());
  std::cout << fmt::format("  {:>14} {:>8} {:>8}\n", "SLICES RUNNING", "SAMPLES", "STRESSED");
  for (const auto& l : stress["by_slices_running"]) {
    std::cout << fmt::format("  {:>14} {:>8} {:>8}\n", l["slices_running"].get<int>(),
                             l["samples"].get<long long>(), l["stressed"].get<long long>());
  }
}

void PrintReport(const nlohmann::json& r) {
  std::cout << fmt::format("Telemetry over the {} hours to {} ({} samples; {} slice, {} server)\n",
                           r["window_hours"].get<long long>(), r["to"].get<std::string>(),
                           r["resolution"].get<std::string>(), r["slice_samples"].get<long long>(),
                           r["server_samples"].get<long long>());
  PrintIdle(r["idle_footprint"], r["leaks"]);
  PrintSwap(r["swap"]);
  PrintWake(r["wake"]);
  PrintStress(r["stress"]);
}

}  // namespace

void SetupTelemetry(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<TelemetryCmdOptions>();
  auto* cmd =
      AddAdminCommand(app, "telemetry", "a running gateway's recorded telemetry", opts->url);
  auto* report = cmd->add_subcommand(
      "report", "idle footprint trend, leaks, swap vs swap-ins, wakes, and where stress began");
  report->add_option("--hours", opts->hours, "the window, ending now (1 to 8760; default 168)")
      ->check(CLI::Range(1, 24 * 365));
  report
      ->add_option("--idle-after", opts->idle_after,
                   "seconds without a request before a slice counts as idle (default 600)")
      ->check(CLI::Range(60, 7 * 24 * 3600));
  report->callback([opts, &global] {
    AdminClient client(opts->url);
    nlohmann::json doc =
        client.Call("GET", fmt::format("/admin/telemetry/report?hours={}&idle_after={}",
                                       opts->hours, opts->idle_after));
    auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
    if (format != planner::OutputFormat::kTable) {
      PrintDocument(nlohmann::ordered_json::parse(doc.dump()), format);
    } else {
      PrintReport(doc);
    }
  });
}

}  // namespace crm::cli
