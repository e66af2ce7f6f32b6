// crmctl slices list|provision|assign|suspend|resume|destroy|restart|channel: the orchestrator's
// admin API of a running gateway.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "admin_client.hpp"
#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/units.hpp"

namespace crm::cli {
namespace {

struct SlicesOptions {
  std::string url;
  long long id = 0;
  long long user_id = 0;
  std::string email;
  std::string reason;
  int batch = 5;
  std::string channel;
  std::string engine;
  std::string phone_number_id;
};

// "uid 200007, not dumpable, secret via fd": what the running process actually has ("-" when
// none runs; a gateway too old to say is "-" as well).
std::string Isolation(const nlohmann::json& isolation) {
  if (!isolation.is_object()) {
    return "-";
  }
  std::string text = isolation.value("own_uid", false)
                         ? "uid " + std::to_string(isolation.value("uid", 0LL))
                         : "crmd's uid " + std::to_string(isolation.value("uid", 0LL));
  const auto& dumpable = isolation["dumpable"];
  text += dumpable.is_boolean() ? (dumpable.get<bool>() ? ", dumpable" : ", not dumpable")
                                : ", dumpable unknown (root)";
  text += isolation.value("secret_via_fd", false) ? ", secret via fd" : ", secret in a file";
  return text;
}

// ", cpu 0.5 (cgroup-v1)" or ", cpu 0.5 (unavailable)"; nothing without a CPU limit.
std::string CpuLimit(const nlohmann::json& slice) {
  double cores = slice.value("cpu_limit_cores", 0.0);
  if (cores <= 0) {
    return "";
  }
  return fmt::format(", cpu {:g} ({})", cores, slice.value("cpu_limit_mechanism", "unknown"));
}

void PrintSlices(const nlohmann::json& doc, const GlobalOptions& global) {
  auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format != planner::OutputFormat::kTable) {
    PrintDocument(nlohmann::ordered_json::parse(doc.dump()), format);
    return;
  }
  std::cout << fmt::format("{:>5}  {:<12} {:>6}  {:<10} {:>8}  {:>10}  {:>10}  {:<24} {}\n", "ID",
                           "STATE", "USER", "HEALTH", "RESTARTS", "MEMORY", "STORAGE", "LIMIT",
                           "ISOLATION");
  auto bytes = [](const nlohmann::json& v) {
    return v.is_number() ? crm::FormatBytes(v.get<double>()) : std::string("-");
  };
  for (const auto& s : doc["items"]) {
    std::cout << fmt::format(
        "{:>5}  {:<12} {:>6}  {:<10} {:>8}  {:>10}  {:>10}  {:<24} {}\n", s["id"].get<long long>(),
        s["state"].get<std::string>(),
        s["user_id"].is_null() ? std::string("-") : std::to_string(s["user_id"].get<long long>()),
        s["health"].get<std::string>(), s["restarts"].get<int>(), bytes(s["memory_bytes"]),
        bytes(s["storage_bytes"]),
        s["limit_mechanism"].get<std::string>() + " of " + bytes(s["memory_limit_bytes"]) +
            CpuLimit(s),
        Isolation(s.value("isolation", nlohmann::json())));
  }
}

void PrintSlice(const nlohmann::json& slice, const GlobalOptions& global) {
  auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format != planner::OutputFormat::kTable) {
    PrintDocument(nlohmann::ordered_json::parse(slice.dump()), format);
    return;
  }
  std::cout << fmt::format("slice {}: {} (health {})\n", slice["id"].get<long long>(),
                           slice["state"].get<std::string>(), slice["health"].get<std::string>());
}

}  // namespace

void SetupSlices(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<SlicesOptions>();
  auto* cmd = AddAdminCommand(app, "slices",
                              "orchestrator administration through a running gateway's admin API",
                              opts->url);

  cmd->add_subcommand("list", "every slice: state, tenant, health, restarts, memory, storage")
      ->callback([opts, &global] {
        PrintSlices(AdminClient(opts->url).Call("GET", "/admin/slices"), global);
      });
  cmd->add_subcommand("provision", "provision one more warm slice now")->callback([opts, &global] {
    PrintSlice(AdminClient(opts->url).Call("POST", "/admin/slices"), global);
  });
  auto* assign = cmd->add_subcommand("assign", "give an available slice to an account");
  assign->add_option("id", opts->id, "slice id")->required()->check(CLI::PositiveNumber);
  auto* by_user = assign->add_option("--user-id", opts->user_id, "the account's id")
                      ->check(CLI::PositiveNumber);
  auto* by_email = assign->add_option("--email", opts->email, "the account's e-mail address");
  by_user->excludes(by_email);
  assign->callback([opts, &global] {
    if (opts->user_id == 0 && opts->email.empty()) {
      throw InputError("slices assign: give --user-id or --email");
    }
    nlohmann::json body = opts->user_id != 0 ? nlohmann::json{{"user_id", opts->user_id}}
                                             : nlohmann::json{{"email", opts->email}};
    PrintSlice(
        AdminClient(opts->url).Call("POST", fmt::format("/admin/slices/{}/assign", opts->id), body),
        global);
  });
  for (const char* action : {"suspend", "resume", "destroy"}) {
    std::string name = action;
    auto* sub = cmd->add_subcommand(
        name, name == "suspend"  ? "stop a slice's process and keep its data"
              : name == "resume" ? "start a suspended slice again"
                                 : "remove a slice: process, schema, role and files");
    sub->add_option("id", opts->id, "slice id")->required()->check(CLI::PositiveNumber);
    if (name != "resume") {
      sub->add_option("--reason", opts->reason, "recorded in the slice's lifecycle log");
    }
    sub->callback([opts, name, &global] {
      nlohmann::json body = opts->reason.empty() ? nlohmann::json::object()
                                                 : nlohmann::json{{"reason", opts->reason}};
      PrintSlice(AdminClient(opts->url).Call(
                     "POST", fmt::format("/admin/slices/{}/{}", opts->id, name), body),
                 global);
    });
  }
  auto* channel = cmd->add_subcommand(
      "channel", "set a slice's WhatsApp channel (a running slice restarts to take it up)");
  channel->add_option("id", opts->id, "slice id")->required()->check(CLI::PositiveNumber);
  channel->add_option("channel", opts->channel, "simulator, cloud-api or wa-web")
      ->required()
      ->check(CLI::IsMember({"simulator", "cloud-api", "wa-web"}));
  channel->add_option("--phone-number-id", opts->phone_number_id,
                      "with cloud-api: the number's id in WhatsApp Manager (webhooks route by it)");
  channel
      ->add_option("--engine", opts->engine,
                   "with wa-web: noweb (Baileys, no browser) or webjs (whatsapp-web.js and "
                   "chromium); default: the deployment's CRM_WA_WEB_ENGINE")
      ->check(CLI::IsMember({"noweb", "webjs"}));
  channel->callback([opts, &global] {
    nlohmann::json body = {{"channel", opts->channel}};
    if (!opts->phone_number_id.empty()) {
      body["phone_number_id"] = opts->phone_number_id;
    } else if (opts->channel == "cloud-api") {
      throw InputError("slices channel: cloud-api needs --phone-number-id");
    }
    if (!opts->engine.empty()) {
      if (opts->channel != "wa-web") {
        throw InputError("slices channel: --engine goes with wa-web only");
      }
      body["engine"] = opts->engine;
    }
    auto slice =
        AdminClient(opts->url).Call("PUT", fmt::format("/admin/slices/{}/channel", opts->id), body);
    PrintSlice(slice, global);
    if (OutputFormatOr(global, planner::OutputFormat::kTable) == planner::OutputFormat::kTable) {
      std::cout << fmt::format(
          "channel: {}{}{}\n", slice["channel"].get<std::string>(),
          slice["phone_number_id"].is_string()
              ? " (phone number id " + slice["phone_number_id"].get<std::string>() + ")"
              : std::string(),
          slice.contains("engine") && slice["engine"].is_string()
              ? " (engine " + slice["engine"].get<std::string>() + ")"
              : std::string());
    }
  });
  auto* restart =
      cmd->add_subcommand("restart", "rolling restart: slices in batches, a health check between");
  restart->add_option("--batch", opts->batch, "slices restarted at once")
      ->check(CLI::Range(1, 1000));
  restart->callback([opts, &global] {
    auto result =
        AdminClient(opts->url).Call("POST", "/admin/slices/restart", {{"batch", opts->batch}});
    auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
    if (format != planner::OutputFormat::kTable) {
      PrintDocument(nlohmann::ordered_json::parse(result.dump()), format);
    } else {
      int n = 0;
      for (const auto& batch : result["batches"]) {
        std::string line;
        for (const auto& s : batch) {
          line +=
              fmt::format("{}slice {} {}", line.empty() ? "" : ", ", s["slice"].get<long long>(),
                          s["healthy"].get<bool>() ? "healthy" : "NOT healthy");
        }
        std::cout << fmt::format("batch {}: {}\n", ++n, line);
      }
      if (result.value("stopped_early", false)) {
        std::cout << "stopped early: " << result.value("reason", std::string()) << "\n";
      }
    }
    if (result.value("stopped_early", false)) {
      global.exit_code = 1;
    }
  });
}

}  // namespace crm::cli
