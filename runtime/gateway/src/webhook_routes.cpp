#include "webhook_routes.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "crm/channel/webhook.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/json.hpp"
#include "crm/orchestrator/slice_store.hpp"

namespace crm::gateway {
namespace {

namespace asio = boost::asio;
using orchestrator::SliceRoute;
using orchestrator::SliceState;

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The handshake when the webhook is subscribed in Meta's dashboard.
Response Handshake(const GatewayContext& gateway, Exchange& ex) {
  auto target = ex.request().target();
  const std::string& verify_token = gateway.options.whatsapp_verify_token;
  if (verify_token.empty()) {
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
  if (!token || !SameSecret(*token, verify_token)) {
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
  return res;
}

// The deliveries of Meta's webhook, by the signature over the raw body, before any parsing.
void CheckSignature(const GatewayContext& gateway, Exchange& ex) {
  http::Request& req = ex.request();
  const std::string& secret = gateway.options.whatsapp_app_secret;
  if (secret.empty()) {
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
  if (!channel::VerifySignature(req.body(), signature->value(), secret)) {
    spdlog::warn("webhook from {} with a wrong signature: refused", ex.peer());
    throw Unauthenticated(
        "X-Hub-Signature-256: does not match the body (signed with another app secret, or "
        "altered on the way)");
  }
}

// Hands one change to its slice. False when it was dropped on purpose (unknown number, slice
// suspended); throws when Meta should retry (503) or must not (400).
asio::awaitable<bool> Deliver(GatewayContext& gateway, const channel::WebhookChange& change) {
  const std::string& number = change.phone_number_id;
  std::optional<SliceRoute> route =
      co_await gateway.route.db().Read([&number](pqxx::read_transaction& tx) {
        return orchestrator::SliceStore(tx).RouteOf(number);
      });
  if (!route) {
    spdlog::info("webhook for phone_number_id {}: no slice has this number; ignored", number);
    co_return false;
  }
  if (route->state == SliceState::kSuspended) {
    spdlog::info("webhook for slice {} (phone_number_id {}): the slice is suspended; ignored",
                 route->slice_id, number);
    co_return false;
  }
  if (route->state != SliceState::kAssigned && route->state != SliceState::kAvailable) {
    throw Unavailable("slice " + std::to_string(route->slice_id) + " is " +
                          std::string(ToString(route->state)) + "; retry later",
                      std::chrono::seconds(5));
  }
  http::Request out{bhttp::verb::post, "/internal/channel/events", 11};
  gateway.ToSlice(out, route->slice_id);
  out.set(bhttp::field::content_type, "application/json");
  out.body() = change.value.dump();
  out.prepare_payload();
  auto upstream = gateway.upstreams.For(route->slice_id, route->endpoint);
  Response answer = co_await upstream->Send(out);
  if (answer.result() != Status::ok) {
    spdlog::warn("webhook for slice {}: the slice answered {}: {}", route->slice_id,
                 answer.result_int(), answer.body());
    // 400 from the slice is a payload it cannot read: Meta's retry would not help.
    if (answer.result() == Status::bad_request) {
      json error = ParseJsonOrDiscarded(answer.body());
      throw InputError(error.is_object() && error.contains("error") && error["error"].is_string()
                           ? error["error"].get<std::string>()
                           : answer.body());
    }
    throw Unavailable(
        "slice " + std::to_string(route->slice_id) + " could not take the events in; retry later",
        std::chrono::seconds(5));
  }
  co_return true;
}

}  // namespace

void AddWebhookRoutes(http::Router& router, GatewayContext& gateway) {
  router.Add(bhttp::verb::get, "/webhooks/whatsapp",
             [&gateway](Exchange& ex) -> Reply { co_return Handshake(gateway, ex); });
  router.Add(bhttp::verb::post, "/webhooks/whatsapp", [&gateway](Exchange& ex) -> Reply {
    CheckSignature(gateway, ex);
    json payload = http::ParseJsonBody(ex.request());
    std::vector<channel::WebhookChange> changes = channel::SplitWebhook(payload);
    int delivered = 0;
    for (const auto& change : changes) {
      if (co_await Deliver(gateway, change)) {
        ++delivered;
      }
    }
    co_return http::JsonResponse(Status::ok, {{"received", delivered}});
  });
}

}  // namespace crm::gateway
