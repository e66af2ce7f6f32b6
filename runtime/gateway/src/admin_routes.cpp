#include "admin_routes.hpp"

#include "crm/gateway/account_store.hpp"
#include "crm/gateway/auth.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/response.hpp"

namespace crm::gateway {

namespace asio = boost::asio;
using orchestrator::SliceInfo;

long long ParseSliceId(const std::string& text) {
  if (text.empty() || text.size() > 17 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    throw InputError("id: expected a slice id (a positive whole number), got \"" + text + "\"",
                     "id");
  }
  return std::stoll(text);
}

asio::awaitable<void> RequireAdmin(GatewayContext& gateway, Exchange& ex) {
  co_await gateway.route.RequireRole(ex.request(), "admin");
  gateway.browser.CheckOrigin(ex.request());
}

namespace {

// "assign" names the account by user_id or by email.
asio::awaitable<long long> AssigneeOf(GatewayContext& gateway, const json& body) {
  if (auto it = body.find("user_id"); it != body.end() && it->is_number_integer()) {
    co_return it->get<long long>();
  }
  if (auto email = http::OptionalString(body, "email", 3, 254)) {
    std::string normalized = NormalizeEmail(*email);
    co_return co_await gateway.route.db().Read(
        [&normalized](pqxx::read_transaction& tx) { return UserStore(tx).IdOf(normalized); });
  }
  throw InputError("give user_id or email of the account to assign the slice to");
}

// suspend, resume, destroy or assign (to `user_id`): blocking.
SliceInfo Act(orchestrator::Orchestrator& slices, const std::string& action, long long id,
              const std::string& reason, long long user_id) {
  if (action == "suspend") {
    return slices.Suspend(id, reason);
  }
  if (action == "resume") {
    return slices.Resume(id);
  }
  if (action == "destroy") {
    return slices.Destroy(id, reason);
  }
  return slices.Assign(id, user_id);
}

Reply SliceAction(GatewayContext& gateway, Exchange& ex) {
  co_await RequireAdmin(gateway, ex);
  std::string action = ex.params()["action"];
  long long id = ParseSliceId(ex.params()["id"]);
  json body = http::ParseOptionalJsonBody(ex.request());
  std::string reason = http::OptionalString(body, "reason", 1, 500).value_or("by an administrator");
  if (action != "suspend" && action != "resume" && action != "destroy" && action != "assign") {
    throw NotFound("unknown slice action '" + action +
                   "' (expected assign, suspend, resume or destroy)");
  }
  long long user_id = 0;
  if (action == "assign") {
    user_id = co_await AssigneeOf(gateway, body);
  }
  SliceInfo info = co_await gateway.route.db().Blocking(
      [&] { return Act(gateway.orchestrator, action, id, reason, user_id); });
  gateway.sessions.ForgetAll();
  co_return http::JsonResponse(Status::ok, info.ToJson());
}

Reply RollingRestart(GatewayContext& gateway, Exchange& ex) {
  co_await RequireAdmin(gateway, ex);
  json body = http::ParseOptionalJsonBody(ex.request());
  int batch = 5;
  if (auto it = body.find("batch"); it != body.end()) {
    if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 1000) {
      throw InputError("batch: expected a whole number from 1 to 1000", "batch");
    }
    batch = it->get<int>();
  }
  auto result = co_await gateway.route.db().Blocking(
      [&] { return gateway.orchestrator.RollingRestart(batch); });
  co_return http::JsonResponse(Status::ok, result);
}

}  // namespace

void AddAdminRoutes(http::Router& router, GatewayContext& gateway) {
  using bhttp::verb;
  router.Add(verb::get, "/admin/slices", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    auto slices =
        co_await gateway.route.db().Blocking([&gateway] { return gateway.orchestrator.List(); });
    // The monitor's view beside each slice: its WhatsApp state and the grid's colour.
    auto [wa_states, open] = co_await gateway.route.db().Read([](pqxx::read_transaction& tx) {
      return std::pair(monitor::TelemetryStore(tx).LatestWaStates(),
                       monitor::AlertStore(tx).OpenBySubject());
    });
    json items = json::array();
    for (const auto& s : slices) {
      json item = s.ToJson();
      auto wa = wa_states.find(s.id);
      item["wa_state"] = wa == wa_states.end() ? json(nullptr) : json(wa->second);
      auto alerts = open[monitor::SliceSubject(s.id)];
      item["grid"] =
          monitor::GridColour(monitor::ObservationOf(s), alerts.critical, alerts.warning);
      items.push_back(item);
    }
    co_return http::JsonResponse(
        Status::ok, {{"items", items}, {"limit_mechanism", gateway.orchestrator.limiter().name()}});
  });
  router.Add(verb::post, "/admin/slices", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    auto info = co_await gateway.route.db().Blocking([&gateway] {
      // The administrator asked past the configured maximum: a refusal they can act on
      // (409, crmctl exits 2), where a tenant's sign-up gets 503. Provision decides, under the
      // lock that keeps concurrent provisionings within the maximum.
      try {
        return gateway.orchestrator.Provision();
      } catch (const orchestrator::ServerFull& full) {
        throw Conflict(full.what());
      }
    });
    co_return http::JsonResponse(Status::created, info.ToJson());
  });
  router.Add(verb::get, "/admin/slices/{id}", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    long long id = ParseSliceId(ex.params()["id"]);
    auto info = co_await gateway.route.db().Blocking(
        [&gateway, id] { return gateway.orchestrator.Get(id); });
    co_return http::JsonResponse(Status::ok, info.ToJson());
  });
  router.Add(verb::post, "/admin/slices/{id}/{action}",
             [&gateway](Exchange& ex) { return SliceAction(gateway, ex); });
  router.Add(verb::put, "/admin/slices/{id}/channel", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    long long id = ParseSliceId(ex.params()["id"]);
    json body = http::ParseJsonBody(ex.request());
    std::string kind = http::RequireString(body, "channel", 1, 20);
    std::optional<std::string> number = http::OptionalString(body, "phone_number_id", 1, 32);
    std::optional<std::string> engine = http::OptionalString(body, "engine", 1, 20);
    auto info = co_await gateway.route.db().Blocking(
        [&] { return gateway.orchestrator.SetChannel(id, kind, number, engine); });
    co_return http::JsonResponse(Status::ok, info.ToJson());
  });
  router.Add(verb::delete_, "/admin/slices/{id}", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    long long id = ParseSliceId(ex.params()["id"]);
    auto info = co_await gateway.route.db().Blocking(
        [&] { return gateway.orchestrator.Destroy(id, "destroyed by an administrator"); });
    gateway.sessions.ForgetAll();
    co_return http::JsonResponse(Status::ok, info.ToJson());
  });
  router.Add(verb::post, "/admin/slices/restart",
             [&gateway](Exchange& ex) { return RollingRestart(gateway, ex); });
  router.Add(verb::get, "/admin/users", [&gateway](Exchange& ex) -> Reply {
    co_await RequireAdmin(gateway, ex);
    json items = co_await gateway.route.db().Read(
        [](pqxx::read_transaction& tx) { return UserStore(tx).ListJson(); });
    co_return http::JsonResponse(Status::ok, {{"items", items}});
  });
}

}  // namespace crm::gateway
