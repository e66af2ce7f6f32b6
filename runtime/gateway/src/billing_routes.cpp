#include "billing_routes.hpp"

#include <spdlog/spdlog.h>

#include "crm/gateway/account_store.hpp"
#include "crm/gateway/auth.hpp"
#include "crm/gateway/price_plan.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"

namespace crm::gateway {
namespace {

// A session's POST from our own origin that sends the browser to Stripe: `create(user, origin)`
// makes the page (Checkout or the portal) and returns its URL; the origin is where it comes back.
template <class Create>
Reply StripeRedirect(GatewayContext& gateway, Exchange& ex, Create create) {
  Caller caller = co_await gateway.route.RequireCaller(ex.request());
  gateway.browser.CheckOrigin(ex.request());
  std::string origin = gateway.browser.PublicUrl();
  long long user_id = caller.user_id;
  std::string url = co_await gateway.route.db().Blocking([&] { return create(user_id, origin); });
  co_return http::JsonResponse(Status::ok, {{"url", url}});
}

Reply BillingStatus(GatewayContext& gateway, Exchange& ex) {
  Caller caller = co_await gateway.route.RequireCaller(ex.request());
  long long user_id = caller.user_id;
  json status =
      co_await gateway.route.db().Blocking([&] { return gateway.billing.StatusJson(user_id); });
  status["plan"] = PlanJson(gateway.options.plan);
  co_return http::JsonResponse(Status::ok, status);
}

// Stripe's deliveries: the signature over the raw body is checked before anything is parsed.
Reply Webhook(GatewayContext& gateway, Exchange& ex) {
  std::string signature(ex.request()["Stripe-Signature"]);
  const std::string& body = ex.request().body();
  billing::WebhookResult result;
  try {
    result = co_await gateway.route.db().Blocking(
        [&] { return gateway.billing.HandleWebhook(signature, body); });
  } catch (const InputError& e) {
    spdlog::warn("billing webhook from {} refused: {}", ex.peer(), e.what());
    throw;
  }
  co_return http::JsonResponse(
      Status::ok,
      {{"received", true}, {"duplicate", result.duplicate}, {"outcome", result.outcome}});
}

Reply Revenue(GatewayContext& gateway, Exchange& ex) {
  co_await gateway.route.RequireRole(ex.request(), "admin");
  json revenue =
      co_await gateway.route.db().Blocking([&] { return gateway.billing.RevenueJson(); });
  co_return http::JsonResponse(Status::ok, revenue);
}

// One account's subscription, by ?email=.
Reply AccountSubscription(GatewayContext& gateway, Exchange& ex) {
  co_await gateway.route.RequireRole(ex.request(), "admin");
  auto email = http::QueryParam(ex.request().target(), "email");
  if (!email || email->empty()) {
    throw InputError("email: give ?email= of the account", "email");
  }
  std::string normalized = NormalizeEmail(*email);
  long long user_id = co_await gateway.route.db().Read(
      [&normalized](pqxx::read_transaction& tx) { return UserStore(tx).IdOf(normalized); });
  json out =
      co_await gateway.route.db().Blocking([&] { return gateway.billing.AdminJson(user_id); });
  out["email"] = normalized;
  co_return http::JsonResponse(Status::ok, out);
}

}  // namespace

void AddBillingRoutes(http::Router& router, GatewayContext& gateway) {
  using bhttp::verb;
  router.Add(verb::post, "/billing/create-checkout", [&gateway](Exchange& ex) {
    return StripeRedirect(gateway, ex, [&gateway](long long user, const std::string& origin) {
      return gateway.billing.CreateCheckout(user, origin);
    });
  });
  router.Add(verb::post, "/billing/portal", [&gateway](Exchange& ex) {
    return StripeRedirect(gateway, ex, [&gateway](long long user, const std::string& origin) {
      return gateway.billing.CreatePortal(user, origin);
    });
  });
  router.Add(verb::get, "/billing/status",
             [&gateway](Exchange& ex) { return BillingStatus(gateway, ex); });
  router.Add(verb::post, "/billing/webhook",
             [&gateway](Exchange& ex) { return Webhook(gateway, ex); });
  router.Add(verb::get, "/admin/revenue",
             [&gateway](Exchange& ex) { return Revenue(gateway, ex); });
  router.Add(verb::get, "/admin/billing/subscription",
             [&gateway](Exchange& ex) { return AccountSubscription(gateway, ex); });
}

}  // namespace crm::gateway
