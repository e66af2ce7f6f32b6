#include "billing_routes.hpp"

#include <spdlog/spdlog.h>

#include "crm/gateway/account_store.hpp"
#include "crm/gateway/auth.hpp"
#include "crm/gateway/price_plan.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"

namespace crm::gateway {
namespace {

// A session's POST from our own origin: the caller, and the origin its return URLs go back to.
boost::asio::awaitable<std::pair<Caller, std::string>> BrowserPost(GatewayContext& gateway,
                                                                   Exchange& ex) {
  Caller caller = co_await gateway.route.RequireCaller(ex.request());
  gateway.browser.CheckOrigin(ex.request());
  co_return std::pair(caller, gateway.browser.ExpectedOrigin(ex.request()));
}

Reply CreateCheckout(GatewayContext& gateway, Exchange& ex) {
  auto [caller, origin] = co_await BrowserPost(gateway, ex);
  long long user_id = caller.user_id;
  std::string url = co_await gateway.route.db().Blocking(
      [&] { return gateway.billing.CreateCheckout(user_id, origin); });
  co_return http::JsonResponse(Status::ok, {{"url", url}});
}

Reply Portal(GatewayContext& gateway, Exchange& ex) {
  auto [caller, origin] = co_await BrowserPost(gateway, ex);
  long long user_id = caller.user_id;
  std::string url = co_await gateway.route.db().Blocking(
      [&] { return gateway.billing.CreatePortal(user_id, origin); });
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
  router.Add(verb::post, "/billing/create-checkout",
             [&gateway](Exchange& ex) { return CreateCheckout(gateway, ex); });
  router.Add(verb::post, "/billing/portal",
             [&gateway](Exchange& ex) { return Portal(gateway, ex); });
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
