#include "proxy_routes.hpp"

#include <any>
#include <charconv>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <boost/beast/core/string.hpp>
#include <cstdint>

#include "crm/http/protocol_error.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/http/upstream.hpp"

namespace crm::gateway {
namespace {

using orchestrator::SliceState;

// Paths the proxy refuses outright: dot segments and encoded separators could make the slice see
// another path than the one the gateway checked.
void CheckProxyPath(std::string_view target) {
  std::string_view path = http::TargetPath(target);
  bool refused = path.find("/../") != std::string_view::npos ||
                 path.find("/./") != std::string_view::npos || path.ends_with("/..") ||
                 path.ends_with("/.") || path.find('\\') != std::string_view::npos ||
                 path.find("//") != std::string_view::npos;
  // %2e, %2f, %5c in either case.
  for (std::size_t i = path.find('%');
       !refused && i != std::string_view::npos && i + 2 < path.size(); i = path.find('%', i + 1)) {
    char hi = path[i + 1];
    char lo = static_cast<char>(std::tolower(static_cast<unsigned char>(path[i + 2])));
    refused = (hi == '2' && (lo == 'e' || lo == 'f')) || (hi == '5' && lo == 'c');
  }
  if (refused) {
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
// header the client could use to claim another identity. These fields of the client's request
// (the first of each), Last-Event-ID, and what ToSlice and the caller add.
constexpr bhttp::field kForwardedFields[] = {bhttp::field::content_type, bhttp::field::accept,
                                             bhttp::field::accept_language, bhttp::field::if_match,
                                             bhttp::field::if_none_match};
constexpr std::string_view kLastEventId = "Last-Event-ID";
// What the client gets of the slice's response head, besides its status and length.
constexpr bhttp::field kRelayedFields[] = {bhttp::field::content_type, bhttp::field::location,
                                           bhttp::field::cache_control, bhttp::field::retry_after,
                                           bhttp::field::etag};

http::Request Forwarded(const GatewayContext& gateway, http::Request& req, const Caller& caller) {
  http::Request out{req.method(), req.target(), 11};
  for (auto field : kForwardedFields) {
    if (auto it = req.find(field); it != req.end()) {
      out.set(field, it->value());
    }
  }
  if (auto it = req.find(kLastEventId); it != req.end()) {
    out.set(kLastEventId, it->value());
  }
  gateway.ToSlice(out, *caller.slice_id);
  out.set("X-Crm-User-Id", std::to_string(caller.user_id));
  out.body() = std::move(req.body());
  return out;
}

void AppendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void AppendField(std::string& out, std::string_view name, long long value) {
  char digits[24];
  char* end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  AppendField(out, name, std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

// The same request as Forwarded, written out as the slice reads it (Upstream::Pass): the
// client's fields are copied once, into the head, and no header container is built. The
// client's parser has checked every byte copied (no CR or LF in a value).
void WriteForwardHead(const GatewayContext& gateway, const http::Request& req, const Caller& caller,
                      std::string& out) {
  std::string_view method = req.method_string();
  std::string_view target = req.target();
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  // One walk of the client's (few) fields, in their order, the first of each forwarded name:
  // a lookup per name would search the field set with case-blind string comparisons.
  constexpr std::size_t kForwarded = std::size(kForwardedFields);
  std::uint32_t seen = 0;
  for (const auto& field : req) {
    const bhttp::field name = field.name();
    if (name == bhttp::field::unknown) {
      constexpr std::uint32_t kBit = 1u << kForwarded;
      if ((seen & kBit) == 0 && boost::beast::iequals(field.name_string(), kLastEventId)) {
        seen |= kBit;
        AppendField(out, kLastEventId, std::string_view(field.value()));
      }
      continue;
    }
    for (std::size_t i = 0; i < kForwarded; ++i) {
      if (name == kForwardedFields[i] && (seen & (1u << i)) == 0) {
        seen |= 1u << i;
        AppendField(out, std::string_view(bhttp::to_string(name)), std::string_view(field.value()));
      }
    }
  }
  gateway.ToSlice(out, *caller.slice_id);
  AppendField(out, "X-Crm-User-Id", caller.user_id);
  // As Beast frames a request: a length when there is a body, or when the method expects one.
  bhttp::verb verb = req.method();
  if (!req.body().empty() || verb == bhttp::verb::post || verb == bhttp::verb::put ||
      verb == bhttp::verb::options) {
    AppendField(out, "Content-Length", static_cast<long long>(req.body().size()));
  }
  out.append("\r\n");
}

// Why the caller's request does not go to its slice, if it does not.
std::optional<Response> Refusal(GatewayContext& gateway, const http::Request& req,
                                const Caller& caller) {
  CheckProxyPath(req.target());
  if (req.method() == bhttp::verb::unknown || req.method() == bhttp::verb::trace ||
      req.method() == bhttp::verb::connect) {
    throw http::ClientError(Status::not_implemented,
                            "method " + std::string(req.method_string()) + " is not supported");
  }
  gateway.browser.CheckOrigin(req);
  if (auto refused = Unservable(caller)) {
    return refused;
  }
  return OverQuota(caller, req);
}

// What a connection keeps from one request to the next (its connection note): the session its
// last request named, and the upstream of that caller's slice. Taking the upstream from
// SliceUpstreams on every request was a lock and a reference count that every event loop writes
// (docs/benchmarks.md, "Gateway proxy").
struct ConnectionMemo {
  SessionMemo session;
  std::shared_ptr<http::Upstream> upstream;
  long long slice_id = 0;
  std::string endpoint;  ///< the slice's endpoint `upstream` was made for
};

// The upstream of `caller`'s slice: the one the connection kept, when it is still that slice's
// at that endpoint.
http::Upstream& UpstreamFor(GatewayContext& gateway, Exchange& ex, const Caller& caller) {
  auto* memo = std::any_cast<ConnectionMemo>(&ex.connection_note());
  if (memo == nullptr) {
    memo = &ex.connection_note().emplace<ConnectionMemo>();
  }
  if (!memo->upstream || memo->slice_id != *caller.slice_id ||
      memo->endpoint != caller.slice_endpoint) {
    memo->upstream = gateway.upstreams.For(*caller.slice_id, caller.slice_endpoint);
    memo->slice_id = *caller.slice_id;
    memo->endpoint = caller.slice_endpoint;
  }
  return *memo->upstream;
}

// The caller the head check noted (always, for /api/), or nullptr.
const Caller* Noted(Exchange& ex) {
  const auto* noted = std::any_cast<const Caller*>(&ex.note());
  return noted != nullptr ? *noted : nullptr;
}

Reply ProxyStream(GatewayContext& gateway, Exchange& ex, http::Upstream::StreamEnd end);

// A stream whose caller the head check did not note: looked up and noted first.
Reply ProxyStreamLookingUp(GatewayContext& gateway, Exchange& ex, http::Upstream::StreamEnd end) {
  Caller caller = co_await gateway.route.RequireCaller(ex.request());
  ex.note() = static_cast<const Caller*>(&caller);
  co_return co_await ProxyStream(gateway, ex, end);
}

// Streams are relayed as they come, never held whole: live events, and the export (which can be
// far larger than any response the proxy buffers). The relay is the handler's whole answer: with
// the caller noted by the head check (always, for /api/), no coroutine of the proxy's own waits
// beside it while a stream is held for hours (docs/benchmarks.md, "Gateway").
Reply ProxyStream(GatewayContext& gateway, Exchange& ex, http::Upstream::StreamEnd end) {
  const Caller* caller = Noted(ex);
  if (caller == nullptr) {
    return ProxyStreamLookingUp(gateway, ex, end);
  }
  if (auto refused = Refusal(gateway, ex.request(), *caller)) {
    return http::Ready(std::move(*refused));
  }
  http::Request out = Forwarded(gateway, ex.request(), *caller);
  std::shared_ptr<http::Upstream> upstream =
      gateway.upstreams.For(*caller->slice_id, caller->slice_endpoint);
  ex.request().clear();  // forwarded: its header fields are not read again while it lasts
  // The connection's last request: what it remembered for the next ones is freed (the caller
  // pointed into it).
  ex.note().reset();
  ex.connection_note().reset();
  return upstream->Relay(std::move(out), ex, end);
}

Reply ProxyRequest(GatewayContext& gateway, Exchange& ex) {
  const Caller* caller = Noted(ex);
  std::optional<Caller> looked_up;
  if (caller == nullptr) {
    looked_up = co_await gateway.route.RequireCaller(ex.request());
    caller = &*looked_up;
  }
  http::Request& req = ex.request();
  if (auto refused = Refusal(gateway, req, *caller)) {
    co_return std::move(*refused);
  }
  std::string head;
  head.reserve(256);
  WriteForwardHead(gateway, req, *caller, head);
  std::string extra;
  if (caller->renewed) {
    extra.append("Set-Cookie: ")
        .append(gateway.browser.SessionCookie(TokenFrom(req)))
        .append("\r\n");
  }
  // Kept alive by the connection's memo, which nothing replaces while this request lasts.
  http::Upstream& upstream = UpstreamFor(gateway, ex, *caller);
  co_await upstream.Pass(ex, head, req.body(), kRelayedFields, extra);
  co_return std::nullopt;  // answered by Pass
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
      // The connection's last session, when the token is the same and nothing was forgotten
      // since; else the shared cache or the database. Proxy takes the caller from the note: a
      // second lookup would lose `renewed` (the cookie's refresh).
      std::any& kept = head.connection_note();
      auto* memo = std::any_cast<ConnectionMemo>(&kept);
      if (memo == nullptr) {
        memo = &kept.emplace<ConnectionMemo>();
      }
      const Caller* caller = gateway.sessions.Recall(TokenIn(head.request()), memo->session);
      if (caller == nullptr) {
        caller = co_await gateway.sessions.Resolve(head.request(), memo->session);
      }
      if (caller == nullptr) {
        throw Unauthenticated(http::kSignInFirst);
      }
      head.note() = caller;
    }
    co_return std::nullopt;
  };
}

http::QuickHeadCheck ProxyQuickCheck(GatewayContext& gateway) {
  return [&gateway](Exchange& head) {
    if (http::TargetPath(head.request().target()).rfind("/api/", 0) != 0) {
      return true;
    }
    auto* memo = std::any_cast<ConnectionMemo>(&head.connection_note());
    if (memo == nullptr) {
      return false;
    }
    const Caller* caller = gateway.sessions.Recall(TokenIn(head.request()), memo->session);
    if (caller == nullptr) {
      return false;
    }
    head.note() = caller;
    return true;
  };
}

void AddProxyRoutes(http::Router& router, GatewayContext& gateway) {
  router.AddPrefix("/api/", [&gateway](Exchange& ex) { return Proxy(gateway, ex); });
}

}  // namespace crm::gateway
