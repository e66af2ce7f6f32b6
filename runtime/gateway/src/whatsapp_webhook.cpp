#include "whatsapp_webhook.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "crm/channel/webhook.hpp"
#include "crm/error.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"

namespace crm::gateway {
namespace {

namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Reply;
using http::Response;
using http::Status;
using nlohmann::json;

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

struct Route {
  long long slice_id = 0;
  std::string state;
  std::string endpoint;
};

}  // namespace

void RegisterWhatsAppWebhook(http::Router& router, const config::RuntimeConfig& config,
                             db::Pool& pool, http::BlockingPool& blocking,
                             UpstreamFor upstream_for) {
  using bhttp::verb;

  // The handshake when the webhook is subscribed in Meta's dashboard.
  router.Add(verb::get, "/webhooks/whatsapp", [&config](Exchange& ex) -> Reply {
    auto target = ex.request().target();
    if (config.whatsapp_verify_token.empty()) {
      throw Forbidden(
          "the WhatsApp webhook is not configured: set CRM_WHATSAPP_VERIFY_TOKEN (or "
          "CRM_WHATSAPP_VERIFY_TOKEN_FILE)");
    }
    auto mode = http::QueryParam(target, "hub.mode");
    auto token = http::QueryParam(target, "hub.verify_token");
    auto challenge = http::QueryParam(target, "hub.challenge");
    if (mode.value_or("") != "subscribe") {
      throw InputError("hub.mode: expected \"subscribe\", got \"" + mode.value_or("") + "\"",
                       "hub.mode");
    }
    if (!token || !SameSecret(*token, config.whatsapp_verify_token)) {
      spdlog::warn("webhook handshake from {} with a wrong verify token", ex.peer());
      throw Forbidden("hub.verify_token: does not match", "hub.verify_token");
    }
    if (!challenge || challenge->empty() || challenge->size() > 256) {
      throw InputError("hub.challenge: expected 1 to 256 characters", "hub.challenge");
    }
    Response res{Status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    res.set("X-Content-Type-Options", "nosniff");
    res.body() = *challenge;
    co_return res;
  });

  router.Add(
      verb::post, "/webhooks/whatsapp",
      [&config, &pool, &blocking, upstream_for](Exchange& ex) -> Reply {
        http::Request& req = ex.request();
        if (config.whatsapp_app_secret.empty()) {
          // Meta retries what is not answered 200, so nothing is lost while this is fixed.
          throw Unavailable(
              "the WhatsApp webhook is not configured: set CRM_WHATSAPP_APP_SECRET (or "
              "CRM_WHATSAPP_APP_SECRET_FILE)");
        }
        auto signature = req.find("X-Hub-Signature-256");
        if (signature == req.end()) {
          spdlog::warn("webhook from {} without X-Hub-Signature-256: refused", ex.peer());
          throw Unauthenticated("X-Hub-Signature-256: missing");
        }
        // The raw body, before any parsing.
        if (!channel::VerifySignature(req.body(), signature->value(), config.whatsapp_app_secret)) {
          spdlog::warn("webhook from {} with a wrong signature: refused", ex.peer());
          throw Unauthenticated(
              "X-Hub-Signature-256: does not match the body (signed with another app secret, or "
              "altered on the way)");
        }
        json payload = http::ParseJsonBody(req);
        std::vector<channel::WebhookChange> changes = channel::SplitWebhook(payload);
        int delivered = 0;
        for (auto& change : changes) {
          std::string number = change.phone_number_id;
          auto route = co_await blocking.Run([&pool, &number] {
            return pool.Run([&number](pqxx::connection& c) -> std::optional<Route> {
              pqxx::read_transaction tx(c);
              auto rows = tx.exec_params(
                  "SELECT id, state, endpoint FROM gateway.slices WHERE phone_number_id = $1 AND "
                  "state NOT IN ('destroying', 'destroyed')",
                  number);
              if (rows.empty()) {
                return std::nullopt;
              }
              return Route{rows[0][0].as<long long>(), rows[0][1].c_str(), rows[0][2].c_str()};
            });
          });
          if (!route) {
            spdlog::info("webhook for phone_number_id {}: no slice has this number; ignored",
                         number);
            continue;
          }
          if (route->state == "suspended") {
            spdlog::info(
                "webhook for slice {} (phone_number_id {}): the slice is suspended; ignored",
                route->slice_id, number);
            continue;
          }
          if (route->state != "assigned" && route->state != "available") {
            throw Unavailable("slice " + std::to_string(route->slice_id) + " is " + route->state +
                                  "; retry later",
                              std::chrono::seconds(5));
          }
          http::Request out{bhttp::verb::post, "/internal/channel/events", 11};
          out.set(bhttp::field::host, "slice-" + std::to_string(route->slice_id));
          out.set(bhttp::field::content_type, "application/json");
          out.body() = change.value.dump();
          out.prepare_payload();
          auto upstream = upstream_for(route->slice_id, route->endpoint);
          Response answer = co_await upstream->Send(out);
          if (answer.result() != Status::ok) {
            spdlog::warn("webhook for slice {}: the slice answered {}: {}", route->slice_id,
                         answer.result_int(), answer.body());
            // 400 from the slice is a payload it cannot read: Meta's retry would not help.
            if (answer.result() == Status::bad_request) {
              json error = json::parse(answer.body(), nullptr, false);
              throw InputError(error.is_object() && error.contains("error") &&
                                       error["error"].is_string()
                                   ? error["error"].get<std::string>()
                                   : answer.body());
            }
            throw Unavailable("slice " + std::to_string(route->slice_id) +
                                  " could not take the events in; retry later",
                              std::chrono::seconds(5));
          }
          ++delivered;
        }
        co_return http::JsonResponse(Status::ok, {{"received", delivered}});
      });
}

}  // namespace crm::gateway
