#include "crm/gateway/gateway.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/string.hpp>
#include <unordered_map>

#include "crm/config/logging.hpp"
#include "crm/db/migrations.hpp"
#include "crm/db/pool.hpp"
#include "crm/gateway/auth.hpp"
#include "crm/gateway/rate_limiter.hpp"
#include "crm/http/blocking.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/http/route_context.hpp"
#include "crm/http/server.hpp"
#include "crm/http/upstream.hpp"
#include "crm/orchestrator/orchestrator.hpp"
#include "whatsapp_webhook.hpp"

namespace crm::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Reply;
using http::Response;
using http::Status;
using nlohmann::json;
using orchestrator::SliceState;

constexpr const char* kCookie = "crm_session";
// The caller's slice: the live one, else the last destroyed one (so the API can say it is gone).
constexpr const char* kCallersSlice =
    "LEFT JOIN LATERAL (SELECT id, state, endpoint FROM gateway.slices WHERE user_id = u.id "
    "ORDER BY state IN ('destroying', 'destroyed'), id DESC LIMIT 1) sl ON true";
constexpr std::chrono::seconds kSessionCacheTtl{5};
constexpr std::chrono::hours kResetTokenTtl{1};

// What a valid session tells the gateway about its caller.
struct Caller {
  long long user_id = 0;
  std::string email;
  std::string role;
  std::optional<long long> slice_id;
  std::string slice_state;  ///< "" when the user has no slice yet
  std::string slice_endpoint;
  bool renewed = false;  ///< the expiry rolled forward: send the cookie again
};

struct CachedCaller {
  Caller caller;
  std::chrono::steady_clock::time_point fetched;
};

bool IsStateChanging(bhttp::verb method) {
  return method == bhttp::verb::post || method == bhttp::verb::put ||
         method == bhttp::verb::patch || method == bhttp::verb::delete_;
}

bool IsLoopback(const std::string& ip) {
  return ip == "127.0.0.1" || ip == "::1" || ip == "unix";
}

std::string TokenFrom(const http::Request& req) {
  auto auth = req[bhttp::field::authorization];
  if (auth.size() > 7 && beast::iequals(auth.substr(0, 7), "Bearer ")) {
    return std::string(auth.substr(7));
  }
  std::string_view cookies = req[bhttp::field::cookie];
  while (!cookies.empty()) {
    auto semi = cookies.find(';');
    std::string_view part = cookies.substr(0, semi);
    while (!part.empty() && part.front() == ' ') {
      part.remove_prefix(1);
    }
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == kCookie) {
      return std::string(part.substr(eq + 1));
    }
    if (semi == std::string_view::npos) {
      break;
    }
    cookies.remove_prefix(semi + 1);
  }
  return {};
}

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

// The body's "email", required, checked and lower-cased.
std::string EmailField(const json& body) {
  return NormalizeEmail(http::RequireString(body, "email", 3, 254));
}

long long ParseSliceId(const std::string& text) {
  if (text.empty() || text.size() > 17 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    throw InputError("id: expected a slice id (a positive whole number), got \"" + text + "\"",
                     "id");
  }
  return std::stoll(text);
}

json UserJson(const Caller& c) {
  json slice = nullptr;
  if (c.slice_id) {
    slice = {{"id", *c.slice_id}, {"state", c.slice_state}};
  }
  return {{"user", {{"id", c.user_id}, {"email", c.email}, {"role", c.role}}}, {"slice", slice}};
}

class Gateway {
 public:
  Gateway(const config::RuntimeConfig& config, asio::io_context& io, db::Pool& pool,
          http::BlockingPool& blocking, orchestrator::Orchestrator& orchestrator,
          http::Metrics& metrics)
      : config_(config),
        io_(io),
        pool_(pool),
        blocking_(blocking),
        db_(blocking, pool),
        orchestrator_(orchestrator),
        metrics_(metrics),
        login_limiter_(config.login_attempts_per_minute, std::chrono::seconds(60)),
        account_limiter_(std::max(20, config.login_attempts_per_minute), std::chrono::seconds(60)) {
    slices_gauge_ = &prometheus::BuildGauge()
                         .Name("crm_slices")
                         .Help("Slices by lifecycle state")
                         .Register(metrics_.registry());
  }

  void Register(http::Router& router);

 private:
  std::string ClientIp(Exchange& ex) const {
    // Behind our nginx (a loopback peer), the client is the last X-Forwarded-For entry: the one
    // nginx appended. Anything earlier in that header is what the client claimed.
    if (IsLoopback(ex.peer())) {
      std::string_view xff = ex.request()["X-Forwarded-For"];
      if (!xff.empty()) {
        auto comma = xff.rfind(',');
        std::string_view last = comma == std::string_view::npos ? xff : xff.substr(comma + 1);
        while (!last.empty() && last.front() == ' ') {
          last.remove_prefix(1);
        }
        if (!last.empty() && last.size() <= 45) {
          return std::string(last);
        }
      }
    }
    return ex.peer();
  }

  std::string ExpectedOrigin(const http::Request& req) const {
    if (!config_.public_url.empty()) {
      return config_.public_url;
    }
    return "http://" + std::string(req[bhttp::field::host]);
  }

  void CheckOrigin(const http::Request& req) const {
    if (!IsStateChanging(req.method())) {
      return;
    }
    auto origin = req[bhttp::field::origin];
    // No Origin: not a browser's cross-site request (browsers send it on every cross-origin
    // POST); API clients such as curl and crmctl omit it. A present Origin must be ours.
    if (req.find(bhttp::field::origin) != req.end() && origin != ExpectedOrigin(req)) {
      throw Forbidden("cross-origin request refused (Origin: " + std::string(origin) +
                      "; expected " + ExpectedOrigin(req) + ")");
    }
  }

  bool SecureCookies(const http::Request& req) const {
    if (config_.public_url.rfind("https://", 0) == 0) {
      return true;
    }
    std::string_view host = req[bhttp::field::host];
    host = host.substr(0, host.rfind(':') == std::string_view::npos || host.back() == ']'
                              ? host.size()
                              : host.rfind(':'));
    bool localhost = host == "localhost" || host == "127.0.0.1" || host == "[::1]";
    return !(localhost && config_.public_url.rfind("https://", 0) != 0);
  }

  std::string SessionCookie(const http::Request& req, const std::string& token) const {
    auto max_age = std::chrono::duration_cast<std::chrono::seconds>(config_.session_ttl).count();
    return std::string(kCookie) + "=" + token + "; Path=/; Max-Age=" + std::to_string(max_age) +
           "; HttpOnly; SameSite=Strict" + (SecureCookies(req) ? "; Secure" : "");
  }

  std::string ClearCookie(const http::Request& req) const {
    return std::string(kCookie) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" +
           (SecureCookies(req) ? "; Secure" : "");
  }

  void Limit(RateLimiter& limiter, Exchange& ex, const char* what) {
    auto wait = limiter.Attempt(ClientIp(ex), RateLimiter::Clock::now());
    if (wait.count() > 0) {
      throw Throttled(std::string("too many ") + what + " attempts from your address; retry in " +
                          std::to_string(wait.count()) + " s",
                      wait);
    }
  }

  // The caller of a request, or nullopt without a valid session. Cached for a few seconds so
  // proxied requests do not each cost a database round trip.
  asio::awaitable<std::optional<Caller>> Authenticate(const http::Request& req) {
    std::string token = TokenFrom(req);
    if (token.empty() || token.size() > 100) {
      co_return std::nullopt;
    }
    std::string hash = TokenHash(token);
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(cache_mutex_);
      auto it = cache_.find(hash);
      if (it != cache_.end() && now - it->second.fetched < kSessionCacheTtl) {
        Caller c = it->second.caller;
        c.renewed = false;
        co_return c;
      }
    }
    auto ttl_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(config_.session_ttl).count();
    std::optional<Caller> caller = co_await db_([&](pqxx::connection& c) -> std::optional<Caller> {
      pqxx::work tx(c);
      // Rolling expiry: pushed forward at most once an hour per session, to spare writes.
      auto rows = tx.exec_params(
          "WITH s AS (UPDATE gateway.sessions SET last_seen_at = now(), "
          "  expires_at = CASE WHEN expires_at < now() + make_interval(secs => $2) - interval '1 "
          "hour' "
          "               THEN now() + make_interval(secs => $2) ELSE expires_at END "
          "  WHERE token_hash = decode($1, 'hex') AND expires_at > now() "
          "  RETURNING user_id, expires_at, (expires_at > now() + make_interval(secs => $2) - "
          "interval '1 minute') AS renewed) "
          "SELECT u.id, u.email, u.role, u.status, s.renewed, sl.id AS slice_id, sl.state, "
          "sl.endpoint "
          "FROM s JOIN gateway.users u ON u.id = s.user_id " +
              std::string(kCallersSlice),
          hash, ttl_seconds);
      tx.commit();
      if (rows.empty() || rows[0]["status"].as<std::string>() != "active") {
        return std::nullopt;
      }
      Caller out;
      out.user_id = rows[0]["id"].as<long long>();
      out.email = rows[0]["email"].as<std::string>();
      out.role = rows[0]["role"].as<std::string>();
      out.renewed = rows[0]["renewed"].as<bool>();
      if (!rows[0]["slice_id"].is_null()) {
        out.slice_id = rows[0]["slice_id"].as<long long>();
        out.slice_state = rows[0]["state"].as<std::string>();
        out.slice_endpoint = rows[0]["endpoint"].as<std::string>();
      }
      return out;
    });
    std::lock_guard lock(cache_mutex_);
    if (caller) {
      if (cache_.size() > 100'000) {
        cache_.clear();
      }
      cache_[hash] = {*caller, now};
    } else {
      cache_.erase(hash);
    }
    co_return caller;
  }

  void ForgetSessions() {
    std::lock_guard lock(cache_mutex_);
    cache_.clear();
  }

  asio::awaitable<Caller> RequireCaller(const http::Request& req) {
    auto caller = co_await Authenticate(req);
    if (!caller) {
      throw Unauthenticated("sign in first: no valid session (it may have expired)");
    }
    co_return *caller;
  }

  asio::awaitable<Caller> RequireAdmin(const http::Request& req) {
    Caller caller = co_await RequireCaller(req);
    if (caller.role != "admin") {
      throw Forbidden("admin only");
    }
    co_return caller;
  }

  // Signs `user_id` in: a new session, answered with {user, slice} and the session cookie.
  asio::awaitable<Response> SignIn(long long user_id, Exchange& ex, Status status) {
    std::string token = NewToken();
    std::string hash = TokenHash(token);
    std::string ip = ClientIp(ex);
    std::string agent(ex.request()[bhttp::field::user_agent].substr(0, 300));
    auto ttl_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(config_.session_ttl).count();
    co_await db_([&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec_params(
          "INSERT INTO gateway.sessions (token_hash, user_id, expires_at, ip, user_agent) "
          "VALUES (decode($1, 'hex'), $2, now() + make_interval(secs => $3), $4, $5)",
          hash, user_id, ttl_seconds, ip, agent);
      tx.commit();
    });
    Caller caller = co_await LoadCaller(user_id);
    Response res = http::JsonResponse(status, UserJson(caller));
    res.set(bhttp::field::set_cookie, SessionCookie(ex.request(), token));
    co_return res;
  }

  asio::awaitable<Caller> LoadCaller(long long user_id) {
    co_return co_await db_([user_id](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto r = tx.exec_params1(
          "SELECT u.id, u.email, u.role, sl.id AS slice_id, sl.state, sl.endpoint FROM "
          "gateway.users u " +
              std::string(kCallersSlice) + " WHERE u.id = $1",
          user_id);
      Caller out;
      out.user_id = r["id"].as<long long>();
      out.email = r["email"].as<std::string>();
      out.role = r["role"].as<std::string>();
      if (!r["slice_id"].is_null()) {
        out.slice_id = r["slice_id"].as<long long>();
        out.slice_state = r["state"].as<std::string>();
        out.slice_endpoint = r["endpoint"].as<std::string>();
      }
      return out;
    });
  }

  std::shared_ptr<http::Upstream> UpstreamFor(long long slice_id, const std::string& endpoint) {
    std::lock_guard lock(upstream_mutex_);
    auto& up = upstreams_[slice_id];
    if (!up || up->endpoint().ToString() != endpoint) {
      up = std::make_shared<http::Upstream>(io_.get_executor(), http::ParseEndpoint(endpoint), 32,
                                            std::chrono::seconds(30));
    }
    return up;
  }

  Reply Proxy(Exchange& ex);
  Reply Health(Exchange& ex);
  Reply Metrics(Exchange& ex);

  const config::RuntimeConfig& config_;
  asio::io_context& io_;
  db::Pool& pool_;
  http::BlockingPool& blocking_;
  http::DbCall db_;
  orchestrator::Orchestrator& orchestrator_;
  http::Metrics& metrics_;
  prometheus::Family<prometheus::Gauge>* slices_gauge_;
  RateLimiter login_limiter_;
  RateLimiter account_limiter_;
  std::mutex cache_mutex_;
  std::unordered_map<std::string, CachedCaller> cache_;
  std::mutex upstream_mutex_;
  std::unordered_map<long long, std::shared_ptr<http::Upstream>> upstreams_;
};

Reply Gateway::Proxy(Exchange& ex) {
  http::Request& req = ex.request();
  CheckProxyPath(req.target());
  Caller caller = co_await RequireCaller(req);
  CheckOrigin(req);
  if (!caller.slice_id) {
    Response res = http::ErrorResponse(Status::service_unavailable,
                                       "your workspace is being prepared; retry in a few seconds");
    res.set(bhttp::field::retry_after, "2");
    co_return res;
  }
  if (caller.slice_state == "destroyed" || caller.slice_state == "destroying") {
    co_return http::ErrorResponse(Status::gone, "your workspace was deleted, with its data");
  }
  if (caller.slice_state == "suspended") {
    co_return http::ErrorResponse(
        Status::locked,
        "your workspace is suspended (billing or an administrator): your data is kept "
        "and nothing is sent; it comes back as soon as it is resumed");
  }
  if (caller.slice_state != "assigned") {
    Response res =
        http::ErrorResponse(Status::service_unavailable,
                            "your workspace is " + caller.slice_state + "; retry in a few seconds");
    res.set(bhttp::field::retry_after, "2");
    co_return res;
  }
  // Only what the slice needs crosses: never the caller's cookies or credentials, and never a
  // header the client could use to claim another identity.
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
  out.set(bhttp::field::host, "slice-" + std::to_string(*caller.slice_id));
  out.set("X-Crm-User-Id", std::to_string(caller.user_id));
  out.body() = std::move(req.body());
  auto upstream = UpstreamFor(*caller.slice_id, caller.slice_endpoint);
  Response res;
  if (http::TargetPath(req.target()) == "/api/events" && req.method() == bhttp::verb::get) {
    co_await upstream->Relay(out, ex);
    co_return std::nullopt;
  }
  Response up = co_await upstream->Send(out);
  res.result(up.result());
  for (auto field : {bhttp::field::content_type, bhttp::field::location,
                     bhttp::field::cache_control, bhttp::field::retry_after, bhttp::field::etag}) {
    if (up.find(field) != up.end()) {
      res.set(field, up[field]);
    }
  }
  res.body() = std::move(up.body());
  if (caller.renewed) {
    res.set(bhttp::field::set_cookie, SessionCookie(req, TokenFrom(req)));
  }
  co_return res;
}

Reply Gateway::Health(Exchange&) {
  try {
    co_await db_([](pqxx::connection& c) { pqxx::nontransaction(c).exec("SELECT 1"); });
  } catch (const std::exception& e) {
    co_return http::ErrorResponse(Status::service_unavailable,
                                  std::string("database: ") + e.what());
  }
  co_return http::JsonResponse(Status::ok, {{"status", "ok"}, {"database", "ok"}});
}

Reply Gateway::Metrics(Exchange&) {
  auto counts = co_await db_([](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<std::pair<std::string, double>> out;
    for (const auto& r : tx.exec("SELECT state, count(*) FROM gateway.slices GROUP BY state")) {
      out.emplace_back(r[0].as<std::string>(), r[1].as<double>());
    }
    return out;
  });
  for (auto state :
       {"provisioning", "available", "assigned", "suspended", "destroying", "destroyed"}) {
    double value = 0;
    for (const auto& [name, count] : counts) {
      if (name == state) {
        value = count;
      }
    }
    slices_gauge_->Add({{"state", state}}).Set(value);
  }
  Response res{Status::ok, 11};
  res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
  res.body() = metrics_.Serialize();
  co_return res;
}

void Gateway::Register(http::Router& router) {
  using bhttp::verb;
  router.AddPrefix("/api/", [this](Exchange& ex) { return Proxy(ex); });
  RegisterWhatsAppWebhook(
      router, config_, pool_, blocking_,
      [this](long long id, const std::string& endpoint) { return UpstreamFor(id, endpoint); });
  router.Add(verb::get, "/health", [this](Exchange& ex) { return Health(ex); });
  router.Add(verb::get, "/ready", [this](Exchange&) -> Reply {
    long long available = co_await db_([](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      return tx.exec1("SELECT count(*) FROM gateway.slices WHERE state = 'available'")[0]
          .as<long long>();
    });
    co_return http::JsonResponse(
        available > 0 ? Status::ok : Status::service_unavailable,
        {{"status", available > 0 ? "ready" : "warming"}, {"warm_slices", available}});
  });
  router.Add(verb::get, "/metrics", [this](Exchange& ex) { return Metrics(ex); });

  router.Add(verb::post, "/auth/register", [this](Exchange& ex) -> Reply {
    CheckOrigin(ex.request());
    Limit(account_limiter_, ex, "sign-up");
    json body = http::ParseJsonBody(ex.request());
    std::string email = EmailField(body);
    std::string password = http::RequireString(body, "password", 1, 256);
    CheckPassword(password);
    long long user_id = co_await blocking_.Run([&] {
      std::string hash = HashPassword(password);
      return pool_.Run([&](pqxx::connection& c) {
        pqxx::work tx(c);
        auto rows = tx.exec_params(
            "INSERT INTO gateway.users (email, password_hash) VALUES ($1, $2) ON CONFLICT DO "
            "NOTHING RETURNING id",
            email, hash);
        if (rows.empty()) {
          throw Conflict("email: an account with this address already exists; sign in instead",
                         "email");
        }
        tx.commit();
        return rows[0][0].as<long long>();
      });
    });
    // Until billing exists, every new account starts a trial on a warm slice, at once.
    co_await blocking_.Run([this, user_id] { return orchestrator_.AssignNow(user_id); });
    co_return co_await SignIn(user_id, ex, Status::created);
  });

  router.Add(verb::post, "/auth/login", [this](Exchange& ex) -> Reply {
    CheckOrigin(ex.request());
    Limit(login_limiter_, ex, "sign-in");
    json body = http::ParseJsonBody(ex.request());
    std::string email = EmailField(body);
    std::string password = http::RequireString(body, "password", 1, 256);
    std::optional<long long> user_id = co_await blocking_.Run([&]() -> std::optional<long long> {
      auto rows = pool_.Run([&](pqxx::connection& c) {
        pqxx::read_transaction tx(c);
        return tx.exec_params(
            "SELECT id, password_hash, status FROM gateway.users WHERE lower(email) = $1", email);
      });
      if (rows.empty()) {
        // Same work as a real check, so timing does not tell which addresses have accounts.
        static const std::string kDummy = HashPassword("not-a-real-password");
        VerifyPassword(password, kDummy);
        return std::nullopt;
      }
      if (!VerifyPassword(password, rows[0]["password_hash"].as<std::string>())) {
        return std::nullopt;
      }
      if (rows[0]["status"].as<std::string>() != "active") {
        throw Forbidden("this account is suspended; contact support");
      }
      return rows[0]["id"].as<long long>();
    });
    if (!user_id) {
      throw Unauthenticated("email or password is incorrect");
    }
    co_return co_await SignIn(*user_id, ex, Status::ok);
  });

  router.Add(verb::post, "/auth/logout", [this](Exchange& ex) -> Reply {
    CheckOrigin(ex.request());
    std::string token = TokenFrom(ex.request());
    if (!token.empty()) {
      std::string hash = TokenHash(token);
      co_await db_([&hash](pqxx::connection& c) {
        pqxx::work tx(c);
        tx.exec_params("DELETE FROM gateway.sessions WHERE token_hash = decode($1, 'hex')", hash);
        tx.commit();
      });
      std::lock_guard lock(cache_mutex_);
      cache_.erase(hash);
    }
    Response res{Status::no_content, 11};
    res.set(bhttp::field::set_cookie, ClearCookie(ex.request()));
    co_return res;
  });

  router.Add(verb::get, "/auth/me", [this](Exchange& ex) -> Reply {
    Caller caller = co_await RequireCaller(ex.request());
    Caller fresh = co_await LoadCaller(caller.user_id);
    Response res = http::JsonResponse(Status::ok, UserJson(fresh));
    if (caller.renewed) {
      res.set(bhttp::field::set_cookie, SessionCookie(ex.request(), TokenFrom(ex.request())));
    }
    co_return res;
  });

  router.Add(verb::post, "/auth/forgot-password", [this](Exchange& ex) -> Reply {
    CheckOrigin(ex.request());
    Limit(account_limiter_, ex, "password reset");
    json body = http::ParseJsonBody(ex.request());
    std::string email = EmailField(body);
    std::string token = NewToken();
    std::string link =
        (config_.public_url.empty() ? ExpectedOrigin(ex.request()) : config_.public_url) +
        "/reset-password?token=" + token;
    co_await db_([&](pqxx::connection& c) {
      pqxx::work tx(c);
      auto rows = tx.exec_params(
          "SELECT id FROM gateway.users WHERE lower(email) = $1 AND status = 'active'", email);
      if (rows.empty()) {
        return;  // same answer either way: no account enumeration
      }
      tx.exec_params(
          "INSERT INTO gateway.password_resets (token_hash, user_id, expires_at) "
          "VALUES (decode($1, 'hex'), $2, now() + make_interval(hours => $3))",
          TokenHash(token), rows[0][0].as<long long>(), static_cast<int>(kResetTokenTtl.count()));
      tx.exec_params(
          "INSERT INTO gateway.outbox_emails (to_address, subject, body) VALUES ($1, $2, $3)",
          email, "Reset your password",
          "Someone asked to reset the password of this account. If it was you, open this link "
          "within an hour:\n\n" +
              link + "\n\nIf it was not you, ignore this message: your password stays as it is.\n");
      tx.commit();
    });
    co_return http::JsonResponse(
        Status::accepted,
        {{"status", "if an account uses this address, a reset link is on its way"}});
  });

  router.Add(verb::post, "/auth/reset-password", [this](Exchange& ex) -> Reply {
    CheckOrigin(ex.request());
    Limit(account_limiter_, ex, "password reset");
    json body = http::ParseJsonBody(ex.request());
    std::string token = http::RequireString(body, "token", 1, 100);
    std::string password = http::RequireString(body, "password", 1, 256);
    CheckPassword(password);
    co_await blocking_.Run([&] {
      std::string hash = HashPassword(password);
      pool_.Run([&](pqxx::connection& c) {
        pqxx::work tx(c);
        auto rows = tx.exec_params(
            "UPDATE gateway.password_resets SET used_at = now() "
            "WHERE token_hash = decode($1, 'hex') AND used_at IS NULL AND expires_at > now() "
            "RETURNING user_id",
            TokenHash(token));
        if (rows.empty()) {
          throw InputError("token: this reset link is invalid, used or expired; ask for a new one",
                           "token");
        }
        long long user_id = rows[0][0].as<long long>();
        tx.exec_params("UPDATE gateway.users SET password_hash = $2 WHERE id = $1", user_id, hash);
        // Every session of the account ends: whoever knew the old password is signed out.
        tx.exec_params("DELETE FROM gateway.sessions WHERE user_id = $1", user_id);
        tx.commit();
      });
    });
    ForgetSessions();
    co_return http::JsonResponse(Status::ok,
                                 {{"status", "password changed; sign in with the new one"}});
  });

  // --- admin ----------------------------------------------------------------------------------
  router.Add(verb::get, "/admin/slices", [this](Exchange& ex) -> Reply {
    co_await RequireAdmin(ex.request());
    auto slices = co_await blocking_.Run([this] { return orchestrator_.List(); });
    json items = json::array();
    for (const auto& s : slices) {
      items.push_back(s.ToJson());
    }
    co_return http::JsonResponse(
        Status::ok, {{"items", items}, {"limit_mechanism", orchestrator_.limiter().name()}});
  });
  router.Add(verb::post, "/admin/slices", [this](Exchange& ex) -> Reply {
    co_await RequireAdmin(ex.request());
    CheckOrigin(ex.request());
    auto info = co_await blocking_.Run([this] { return orchestrator_.Provision(); });
    co_return http::JsonResponse(Status::created, info.ToJson());
  });
  router.Add(verb::get, "/admin/slices/{id}", [this](Exchange& ex) -> Reply {
    co_await RequireAdmin(ex.request());
    long long id = ParseSliceId(ex.params()["id"]);
    auto info = co_await blocking_.Run([this, id] { return orchestrator_.Get(id); });
    co_return http::JsonResponse(Status::ok, info.ToJson());
  });
  router.Add(verb::post, "/admin/slices/{id}/{action}", [this](Exchange& ex) -> Reply {
    co_await RequireAdmin(ex.request());
    CheckOrigin(ex.request());
    std::string id_text = ex.params()["id"];
    std::string action = ex.params()["action"];
    long long id = ParseSliceId(id_text);
    json body = http::ParseOptionalJsonBody(ex.request());
    std::string reason =
        http::OptionalString(body, "reason", 1, 500).value_or("by an administrator");
    orchestrator::SliceInfo info;
    if (action == "suspend") {
      info = co_await blocking_.Run([&] { return orchestrator_.Suspend(id, reason); });
    } else if (action == "resume") {
      info = co_await blocking_.Run([&] { return orchestrator_.Resume(id); });
    } else if (action == "destroy") {
      info = co_await blocking_.Run([&] { return orchestrator_.Destroy(id, reason); });
    } else if (action == "assign") {
      long long user_id = 0;
      if (auto it = body.find("user_id"); it != body.end() && it->is_number_integer()) {
        user_id = it->get<long long>();
      } else if (auto email = http::OptionalString(body, "email", 3, 254)) {
        std::string normalized = NormalizeEmail(*email);
        user_id = co_await db_([&normalized](pqxx::connection& c) {
          pqxx::read_transaction tx(c);
          auto rows =
              tx.exec_params("SELECT id FROM gateway.users WHERE lower(email) = $1", normalized);
          if (rows.empty()) {
            throw NotFound("email: no account with this address", "email");
          }
          return rows[0][0].as<long long>();
        });
      } else {
        throw InputError("give user_id or email of the account to assign the slice to");
      }
      info = co_await blocking_.Run([&] { return orchestrator_.Assign(id, user_id); });
    } else {
      throw NotFound("unknown slice action '" + action +
                     "' (expected assign, suspend, resume or destroy)");
    }
    ForgetSessions();
    co_return http::JsonResponse(Status::ok, info.ToJson());
  });
  router.Add(verb::put, "/admin/slices/{id}/channel", [this](Exchange& ex) -> Reply {
    co_await RequireAdmin(ex.request());
    CheckOrigin(ex.request());
    long long id = ParseSliceId(ex.params()["id"]);
    json body = http::ParseJsonBody(ex.request());
    std::string kind = http::RequireString(body, "channel", 1, 20);
    std::optional<std::string> number = http::OptionalString(body, "phone_number_id", 1, 32);
    auto info = co_await blocking_.Run(
        [this, id, &kind, &number] { return orchestrator_.SetChannel(id, kind, number); });
    co_return http::JsonResponse(Status::ok, info.ToJson());
  });
  router.Add(verb::delete_, "/admin/slices/{id}", [this](Exchange& ex) -> Reply {
    co_await RequireAdmin(ex.request());
    CheckOrigin(ex.request());
    long long id = ParseSliceId(ex.params()["id"]);
    auto info = co_await blocking_.Run(
        [&] { return orchestrator_.Destroy(id, "destroyed by an administrator"); });
    ForgetSessions();
    co_return http::JsonResponse(Status::ok, info.ToJson());
  });
  router.Add(verb::post, "/admin/slices/restart", [this](Exchange& ex) -> Reply {
    co_await RequireAdmin(ex.request());
    CheckOrigin(ex.request());
    json body = http::ParseOptionalJsonBody(ex.request());
    int batch = 5;
    if (auto it = body.find("batch"); it != body.end()) {
      if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 1000) {
        throw InputError("batch: expected a whole number from 1 to 1000", "batch");
      }
      batch = it->get<int>();
    }
    auto result = co_await blocking_.Run([&] { return orchestrator_.RollingRestart(batch); });
    co_return http::JsonResponse(Status::ok, result);
  });
  router.Add(verb::get, "/admin/users", [this](Exchange& ex) -> Reply {
    co_await RequireAdmin(ex.request());
    json items = co_await db_([](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto r = tx.exec1(
          "SELECT coalesce(json_agg(t ORDER BY t.id), '[]')::text FROM (SELECT u.id, u.email, "
          "u.role, u.status, "
          "u.created_at, sl.id AS slice_id, sl.state AS slice_state FROM gateway.users u LEFT JOIN "
          "gateway.slices sl "
          "ON sl.user_id = u.id AND sl.state NOT IN ('destroying', 'destroyed')) t");
      return json::parse(r[0].c_str());
    });
    co_return http::JsonResponse(Status::ok, {{"items", items}});
  });
}

db::PoolOptions GatewayPoolOptions(const config::RuntimeConfig& config, std::size_t size) {
  db::PoolOptions options;
  options.url = config.database_url;
  options.password = config.database_password;
  options.max_size = size;
  options.statement_timeout = config.statement_timeout;
  options.application_name = "crmd-gateway";
  return options;
}

}  // namespace

std::vector<std::string> MigrateAll(const config::RuntimeConfig& config) {
  db::Pool pool(GatewayPoolOptions(config, 1));
  return pool.Run([](pqxx::connection& c) { return db::MigrateEverything(c); });
}

long long CreateAdmin(const config::RuntimeConfig& config, const std::string& email,
                      const std::string& password) {
  if (sodium_init() < 0) {
    throw RuntimeError("libsodium failed to initialise");
  }
  std::string normalized = NormalizeEmail(email);
  CheckPassword(password, "password (stdin)");
  MigrateAll(config);
  db::Pool pool(GatewayPoolOptions(config, 1));
  std::string hash = HashPassword(password);
  return pool.Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params1(
        "INSERT INTO gateway.users (email, password_hash, role) VALUES ($1, $2, 'admin') "
        "ON CONFLICT (lower(email)) DO UPDATE SET role = 'admin', password_hash = "
        "EXCLUDED.password_hash RETURNING id",
        normalized, hash);
    tx.commit();
    return r[0].as<long long>();
  });
}

int RunGateway(const config::RuntimeConfig& config) {
  config::SetupLogging("gateway", config.log_level);
  http::BlockStopSignals();  // before the worker and orchestrator threads start
  if (sodium_init() < 0) {
    throw RuntimeError("libsodium failed to initialise");
  }
  for (const auto& line : MigrateAll(config)) {
    spdlog::info("migrations: {}", line);
  }
  db::Pool pool(GatewayPoolOptions(config, static_cast<std::size_t>(config.db_max_open_conns)));
  spdlog::info("database: {}", db::RedactedConnInfo(pool.conninfo()));
  http::BlockingPool blocking(static_cast<std::size_t>(config.worker_concurrency));
  orchestrator::Orchestrator orchestrator(config, pool);
  orchestrator.Start();
  asio::io_context io(config.io_threads);
  http::Metrics metrics;
  Gateway gateway(config, io, pool, blocking, orchestrator, metrics);
  http::Router router;
  gateway.Register(router);
  http::Server server(
      io, http::LimitsFrom(config), [&router](Exchange& ex) { return router.Dispatch(ex); },
      &metrics);
  auto bound = server.Listen(http::ParseEndpoint(config.listen));
  server.Start();
  spdlog::info("gateway serving on http://{} (data in {})", bound.ToString(),
               config.data_dir.string());
  // Requests drain first (they may need their slices), then the slices stop.
  http::ServeUntilSignal(io, server, config.io_threads, config.drain_timeout);
  orchestrator.Stop();
  return 0;
}

}  // namespace crm::gateway
