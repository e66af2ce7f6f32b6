#include "proxy_routes.hpp"

#include <any>
#include <variant>

#include <fmt/format.h>

#include "crm/http/query.hpp"
#include "crm/http/response.hpp"

namespace crm::gateway {
namespace {

using orchestrator::SliceState;

// Paths the proxy refuses outright: dot segments and encoded separators could make the slice see
// another path than the one the gateway checked.
void CheckProxyPath(std::string_view target) {
  std::string lower(http::TargetPath(target));
  for (auto& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (lower.find("/../") != std::string::npos || lower.find("/./") != std::string::npos ||
      lower.ends_with("/..") || lower.ends_with("/.") || lower.find("%2e") != std::string::npos ||
      lower.find("%2f") != std::string::npos || lower.find("%5c") != std::string::npos ||
      lower.find('\\') != std::string::npos || lower.find("//") != std::string::npos) {
    throw InputError("path not allowed: dot segments and encoded separators are refused");
  }
}

Response RetryIn2s(const std::string& message) {
  Response res = http::ErrorResponse(Status::service_unavailable, message);
  res.set(bhttp::field::retry_after, "2");
  return res;
}

// Why the caller's slice cannot take the request now, if it cannot.
std::optional<Response> Unservable(const Caller& caller) {
  if (!caller.slice_id) {
    return RetryIn2s("your workspace is being prepared; retry in a few seconds");
  }
  if (caller.slice_state == SliceState::kDestroyed ||
      caller.slice_state == SliceState::kDestroying) {
    return http::ErrorResponse(Status::gone, "your workspace was deleted, with its data");
  }
  if (caller.slice_state == SliceState::kSuspended) {
    return http::ErrorResponse(
        Status::locked,
        "your workspace is suspended (billing or an administrator): your data is kept "
        "and nothing is sent; it comes back as soon as it is resumed");
  }
  if (caller.slice_state != SliceState::kAssigned) {
    return RetryIn2s("your workspace is " + std::string(ToString(caller.slice_state)) +
                     "; retry in a few seconds");
  }
  if (caller.slice_endpoint.empty()) {
    // Behind gateways: its slice host has not started it yet, or its range is moving to
    // another host (docs/operations.md, "Scale-out: gateways and slice hosts").
    return RetryIn2s("your workspace is starting; retry in a few seconds");
  }
  return std::nullopt;
}

// Requests that change state without adding data: they stay allowed on a full slice, so a
// tenant can still read, tidy up, stop a broadcast and sign the channel out.
bool AddsNoData(bhttp::verb method, std::string_view path) {
  if (method == bhttp::verb::get || method == bhttp::verb::head || method == bhttp::verb::delete_ ||
      method == bhttp::verb::options) {
    return true;
  }
  for (std::string_view tail : {"/read", "/pause", "/cancel"}) {
    if (path.ends_with(tail)) {
      return true;
    }
  }
  return path.starts_with("/api/channel/");
}

// A slice at or past its storage quota (as last measured) refuses writes that add data: the
// quota is a promise about the server's disk, and reads and deletes are how the tenant gets
// back under it. See docs/architecture.md "Isolation".
std::optional<Response> OverQuota(const Caller& caller, const http::Request& req) {
  if (caller.storage_quota_bytes == 0 || caller.storage_bytes < caller.storage_quota_bytes ||
      AddsNoData(req.method(), http::TargetPath(req.target()))) {
    return std::nullopt;
  }
  constexpr double kMiB = 1024.0 * 1024.0;
  return http::ErrorResponse(
      Status::insufficient_storage,
      fmt::format("your workspace is full: it stores {:.1f} MiB of its {:.1f} MiB storage quota; "
                  "delete contacts, conversations or broadcasts (export first if you need them) "
                  "to free space, or ask for a larger plan; reading and deleting still work",
                  static_cast<double>(caller.storage_bytes) / kMiB,
                  static_cast<double>(caller.storage_quota_bytes) / kMiB));
}

// Only what the slice needs crosses: never the caller's cookies or credentials, and never a
// header the client could use to claim another identity.
http::Request Forwarded(const GatewayContext& gateway, http::Request& req, const Caller& caller) {
  http::Request out{req.method(), req.target(), 11};
  for (auto field :
       {bhttp::field::content_type, bhttp::field::accept, bhttp::field::accept_language,
        bhttp::field::if_match, bhttp::field::if_none_match}) {
    if (req.find(field) != req.end()) {
      out.set(field, req[field]);
    }
  }
  if (req.find("Last-Event-ID") != req.end()) {
    out.set("Last-Event-ID", req["Last-Event-ID"]);
  }
  gateway.ToSlice(out, *caller.slice_id);
  out.set("X-Crm-User-Id", std::to_string(caller.user_id));
  out.body() = std::move(req.body());
  return out;
}

Response Relayed(Response& up) {
  Response res;
  res.result(up.result());
  for (auto field : {bhttp::field::content_type, bhttp::field::location,
                     bhttp::field::cache_control, bhttp::field::retry_after, bhttp::field::etag}) {
    if (up.find(field) != up.end()) {
      res.set(field, up[field]);
    }
  }
  res.body() = std::move(up.body());
  return res;
}

// A request ready to go to the caller's slice.
struct Forward {
  http::Request out;
  std::shared_ptr<http::Upstream> upstream;
  bool renewed = false;  ///< the session was refreshed: the answer sets the cookie again
};

// The caller's request made ready for its slice, or the answer that refuses it.
std::variant<Response, Forward> PrepareFor(GatewayContext& gateway, Exchange& ex,
                                           const Caller& caller) {
  http::Request& req = ex.request();
  CheckProxyPath(req.target());
  gateway.browser.CheckOrigin(req);
  if (auto refused = Unservable(caller)) {
    return std::move(*refused);
  }
  if (auto full = OverQuota(caller, req)) {
    return std::move(*full);
  }
  return Forward{Forwarded(gateway, req, caller),
                 gateway.upstreams.For(*caller.slice_id, caller.slice_endpoint), caller.renewed};
}

// The same, the caller looked up when the head check did not note it.
boost::asio::awaitable<std::variant<Response, Forward>> Prepare(GatewayContext& gateway,
                                                                Exchange& ex) {
  if (const auto* noted = std::any_cast<Caller>(&ex.note())) {
    co_return PrepareFor(gateway, ex, *noted);
  }
  Caller caller = co_await gateway.route.RequireCaller(ex.request());
  co_return PrepareFor(gateway, ex, caller);
}

Reply ProxyStream(GatewayContext& gateway, Exchange& ex, http::Upstream::StreamEnd end);

// A stream whose caller the head check did not note: looked up and noted first.
Reply ProxyStreamLookingUp(GatewayContext& gateway, Exchange& ex, http::Upstream::StreamEnd end) {
  ex.note() = co_await gateway.route.RequireCaller(ex.request());
  co_return co_await ProxyStream(gateway, ex, end);
}

// Streams are relayed as they come, never held whole: live events, and the export (which can be
// far larger than any response the proxy buffers). The relay is the handler's whole answer: with
// the caller noted by the head check (always, for /api/), no coroutine of the proxy's own waits
// beside it while a stream is held for hours (docs/benchmarks.md, "Gateway").
Reply ProxyStream(GatewayContext& gateway, Exchange& ex, http::Upstream::StreamEnd end) {
  if (const auto* noted = std::any_cast<Caller>(&ex.note())) {
    std::variant<Response, Forward> prepared = PrepareFor(gateway, ex, *noted);
    if (auto* refused = std::get_if<Response>(&prepared)) {
      return http::Ready(std::move(*refused));
    }
    Forward& forward = std::get<Forward>(prepared);
    ex.request().clear();  // forwarded: its header fields are not read again while it lasts
    return forward.upstream->Relay(std::move(forward.out), ex, end);
  }
  return ProxyStreamLookingUp(gateway, ex, end);
}

Reply ProxyRequest(GatewayContext& gateway, Exchange& ex) {
  std::variant<Response, Forward> prepared = co_await Prepare(gateway, ex);
  if (auto* refused = std::get_if<Response>(&prepared)) {
    co_return std::move(*refused);
  }
  Forward& forward = std::get<Forward>(prepared);
  Response up = co_await forward.upstream->Send(forward.out);
  Response res = Relayed(up);
  if (forward.renewed) {
    res.set(bhttp::field::set_cookie, gateway.browser.SessionCookie(TokenFrom(ex.request())));
  }
  co_return res;
}

// Not a coroutine: it picks the one that serves the request.
Reply Proxy(GatewayContext& gateway, Exchange& ex) {
  const http::Request& req = ex.request();
  if (req.method() == bhttp::verb::get) {
    std::string_view path = http::TargetPath(req.target());
    if (path == "/api/events") {
      return ProxyStream(gateway, ex, http::Upstream::StreamEnd::kLive);
    }
    if (path == "/api/export") {
      return ProxyStream(gateway, ex, http::Upstream::StreamEnd::kDownload);
    }
  }
  return ProxyRequest(gateway, ex);
}

}  // namespace

http::HeadCheck ProxyHeadCheck(GatewayContext& gateway) {
  return [&gateway](Exchange& head) -> boost::asio::awaitable<std::optional<Response>> {
    if (http::TargetPath(head.request().target()).rfind("/api/", 0) == 0) {
      // Throws Unauthenticated (401). Proxy takes the caller from the note: a second lookup
      // would lose `renewed` (the cookie's refresh) to the session cache.
      head.note() = co_await gateway.route.RequireCaller(head.request());
    }
    co_return std::nullopt;
  };
}

void AddProxyRoutes(http::Router& router, GatewayContext& gateway) {
  router.AddPrefix("/api/", [&gateway](Exchange& ex) { return Proxy(gateway, ex); });
}

}  // namespace crm::gateway
