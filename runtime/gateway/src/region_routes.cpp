#include "region_routes.hpp"

#include <spdlog/spdlog.h>

#include "admin_routes.hpp"
#include "crm/gateway/account_store.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/text.hpp"

namespace crm::gateway {
namespace {

namespace asio = boost::asio;

// Paths that never read the session: a stale cookie of another region must not stop a sign-in,
// sign-up or reset here, nor health checks, webhooks or the peers' own calls.
bool SessionFree(std::string_view path) {
  for (std::string_view exact :
       {"/auth/login", "/auth/register", "/auth/forgot-password", "/auth/reset-password", "/health",
        "/ready", "/metrics", "/billing/webhook", "/billing/plan"}) {
    if (path == exact) {
      return true;
    }
  }
  return path.starts_with("/webhooks/") || path.starts_with("/region/");
}

// The 307 for a token of `region`: the same request, at its home.
Response ToHome(const std::string& region, const std::string& origin, std::string_view target) {
  std::string location = origin + std::string(target);
  Response res =
      http::JsonResponse(Status::temporary_redirect,
                         {{"error", "this session belongs to region " + region + ": ask " + origin},
                          {"region", region},
                          {"url", location}});
  res.set(bhttp::field::location, location);
  return res;
}

bool IsHex64(const std::string& text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Another region's gateway asks whether an address (by its SHA-256) has an account here.
Reply Lookup(GatewayContext& gateway, Exchange& ex) {
  const RegionOptions& region = gateway.regions.options();
  if (!region.pinned()) {
    throw NotFound("regions are not configured here");
  }
  json body = http::ParseJsonBody(ex.request());
  http::RefuseUnknownFields(body, {"email_sha256", "ts"}, "email_sha256, ts");
  std::string email_sha256 = http::RequireString(body, "email_sha256", 64, 64);
  auto ts = body.find("ts");
  if (!IsHex64(email_sha256) || ts == body.end() || !ts->is_number_integer()) {
    throw InputError("expected {\"email_sha256\": 64 lower-case hex digits, \"ts\": unix seconds}");
  }
  std::string signature(ex.request()["X-Crm-Region-Signature"]);
  if (!PeerSignatureValid(region.secret, signature, ts->get<long long>(), region.name, email_sha256,
                          std::chrono::system_clock::now())) {
    // Refusals count against the address's account budget, so guessing costs time and cannot
    // flood the log; signed calls never do.
    std::string ip = gateway.browser.ClientIp(ex.request(), ex.peer());
    auto wait = gateway.account_limiter.Attempt(ip, RateLimiter::Clock::now());
    if (wait.count() > 0) {
      throw Throttled("too many refused region lookups from your address; retry in " +
                          std::to_string(wait.count()) + " s",
                      wait);
    }
    spdlog::warn("region lookup from {} ({}) refused: bad or stale signature", ip,
                 std::string(ex.request()["X-Crm-Region-From"]).substr(0, 40));
    throw Unauthenticated("region lookup: bad or stale signature");
  }
  bool holds = co_await gateway.route.db().Read([&email_sha256](pqxx::read_transaction& tx) {
    return UserStore(tx).HoldsEmailSha256(email_sha256);
  });
  co_return http::JsonResponse(Status::ok, {{"region", region.name}, {"holds", holds}});
}

Reply Regions(GatewayContext& gateway, Exchange& ex) {
  co_await RequireAdmin(gateway, ex);
  const RegionOptions& region = gateway.regions.options();
  std::vector<PeerStatus> peers =
      co_await gateway.route.db().Blocking([&gateway] { return gateway.regions.Status(); });
  json items = json::array();
  for (const auto& peer : peers) {
    items.push_back({{"region", peer.region},
                     {"url", peer.url},
                     {"answers", peer.status == "ok"},
                     {"status", peer.status},
                     {"detail", peer.detail},
                     {"latency_ms", peer.latency_ms}});
  }
  auto own = region.urls.find(region.name);
  co_return http::JsonResponse(
      Status::ok, {{"region", region.name},
                   {"url", own == region.urls.end() ? gateway.browser.PublicUrl() : own->second},
                   {"pinned", region.pinned()},
                   {"peers", items}});
}

}  // namespace

http::HeadCheck RegionHeadCheck(GatewayContext& gateway, http::HeadCheck next) {
  if (!gateway.regions.options().pinned()) {
    return next;
  }
  return [&gateway, next](Exchange& head) -> asio::awaitable<std::optional<Response>> {
    const RegionOptions& region = gateway.regions.options();
    std::string token = TokenFrom(head.request());
    std::string home(TokenRegion(token));
    std::string_view target = head.request().target();
    if (!home.empty() && home != region.name && !SessionFree(http::TargetPath(target))) {
      // An unknown region's token is no session anywhere: the lookup answers 401 for it.
      if (auto it = region.urls.find(home); it != region.urls.end()) {
        co_return ToHome(home, it->second, target);
      }
    }
    co_return co_await next(head);
  };
}

asio::awaitable<std::optional<Response>> ElsewhereAnswer(GatewayContext& gateway,
                                                         const std::string& email,
                                                         const std::string& page,
                                                         const std::string& message) {
  if (!gateway.regions.options().pinned()) {
    co_return std::nullopt;
  }
  std::optional<std::string> home = co_await gateway.route.db().Blocking(
      [&gateway, &email] { return gateway.regions.HomeOf(email); });
  if (!home) {
    co_return std::nullopt;
  }
  std::string url =
      gateway.regions.options().urls.at(*home) + page + "?email=" + PercentEncode(email);
  co_return http::JsonResponse(Status::conflict, {{"error", message + " " + *home + ": " + url},
                                                  {"field", "email"},
                                                  {"region", *home},
                                                  {"url", url}});
}

void AddRegionRoutes(http::Router& router, GatewayContext& gateway) {
  using bhttp::verb;
  router.Add(verb::post, "/region/lookup",
             [&gateway](Exchange& ex) { return Lookup(gateway, ex); });
  router.Add(verb::get, "/admin/regions",
             [&gateway](Exchange& ex) { return Regions(gateway, ex); });
}

}  // namespace crm::gateway
