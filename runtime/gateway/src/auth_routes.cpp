#include "auth_routes.hpp"

#include "attempt_limits.hpp"

#include "crm/gateway/account_store.hpp"
#include "crm/gateway/auth.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/response.hpp"
#include "crm/mail/outbox.hpp"
#include "region_routes.hpp"

namespace crm::gateway {
namespace {

namespace asio = boost::asio;

constexpr std::chrono::hours kResetTokenTtl{1};

// The body's "email", required, checked and lower-cased.
std::string EmailField(const json& body) {
  return NormalizeEmail(http::RequireString(body, "email", 3, 254));
}

// The preamble of the account routes a browser posts: our Origin, the address's share of
// `limiter`, a JSON body.
asio::awaitable<json> AccountRequest(GatewayContext& gateway, RateLimiter& limiter, Exchange& ex,
                                     const char* what) {
  gateway.browser.CheckOrigin(ex.request());
  co_await LimitAttempts(gateway, limiter, ex, what);
  co_return http::ParseJsonBody(ex.request());
}

// The body's new "password", checked.
std::string NewPassword(const json& body) {
  std::string password = http::RequireString(body, "password", 1, 256);
  CheckPassword(password);
  return password;
}

// Signs `user_id` in: a new session, answered with {user, slice} and the session cookie.
asio::awaitable<Response> SignIn(GatewayContext& gateway, long long user_id, Exchange& ex,
                                 Status status) {
  std::string token = NewSessionToken(gateway.regions.options());
  std::string hash = TokenHash(token);
  std::string ip = gateway.browser.ClientIp(ex.request(), ex.peer());
  std::string agent(ex.request()[bhttp::field::user_agent].substr(0, 300));
  std::chrono::seconds ttl = gateway.options.session_ttl;
  Caller caller = co_await gateway.route.db().Write([&](pqxx::work& tx) {
    SessionStore sessions(tx);
    sessions.Create(hash, user_id, ttl, ip, agent);
    return sessions.Load(user_id);
  });
  Response res = http::JsonResponse(status, UserJson(caller));
  res.set(bhttp::field::set_cookie, gateway.browser.SessionCookie(token));
  co_return res;
}

Reply Register(GatewayContext& gateway, Exchange& ex) {
  json body = co_await AccountRequest(gateway, gateway.account_limiter, ex, "sign-up");
  std::string email = EmailField(body);
  std::string password = NewPassword(body);
  // One account per address across regions: its data lives in one region only.
  if (auto elsewhere = co_await ElsewhereAnswer(gateway, email, "/login",
                                                "this address already has an account in region")) {
    co_return std::move(*elsewhere);
  }
  std::string hash = co_await gateway.passwords.Hash(password);
  bool slice_now = true;
  long long user_id = co_await gateway.route.db().Write([&](pqxx::work& tx) {
    long long id = UserStore(tx).Create(email, hash);
    slice_now = gateway.billing.OnSignUp(tx, id);
    return id;
  });
  // Billing off or a trial: a warm slice at once. Pay first: the slice comes with the payment.
  if (slice_now) {
    co_await gateway.route.db().Blocking(
        [&gateway, user_id] { return gateway.orchestrator.AssignNow(user_id); });
  }
  co_return co_await SignIn(gateway, user_id, ex, Status::created);
}

Reply Login(GatewayContext& gateway, Exchange& ex) {
  json body = co_await AccountRequest(gateway, gateway.login_limiter, ex, "sign-in");
  std::string email = EmailField(body);
  std::string password = http::RequireString(body, "password", 1, 256);
  std::optional<Credentials> account = co_await gateway.route.db().Read(
      [&email](pqxx::read_transaction& tx) { return UserStore(tx).CredentialsOf(email); });
  // Without an account the hasher checks a dummy: the same work, so timing tells nothing.
  std::string stored = account ? account->password_hash : std::string();
  bool match = co_await gateway.passwords.Verify(password, stored);
  if (!account) {
    if (auto elsewhere =
            co_await ElsewhereAnswer(gateway, email, "/login", "this account lives in region")) {
      co_return std::move(*elsewhere);
    }
  }
  if (!account || !match) {
    throw Unauthenticated("email or password is incorrect");
  }
  if (!account->active) {
    throw Forbidden("this account is suspended; contact support");
  }
  co_return co_await SignIn(gateway, account->user_id, ex, Status::ok);
}

Reply Logout(GatewayContext& gateway, Exchange& ex) {
  gateway.browser.CheckOrigin(ex.request());
  std::string token = TokenFrom(ex.request());
  if (!token.empty()) {
    std::string hash = TokenHash(token);
    co_await gateway.route.db().Write([&hash](pqxx::work& tx) { SessionStore(tx).Delete(hash); });
    gateway.sessions.Forget(hash);
  }
  Response res{Status::no_content, 11};
  res.set(bhttp::field::set_cookie, gateway.browser.ClearCookie());
  co_return res;
}

Reply Me(GatewayContext& gateway, Exchange& ex) {
  Caller caller = co_await gateway.route.RequireCaller(ex.request());
  long long user_id = caller.user_id;
  Caller fresh = co_await gateway.route.db().Read(
      [&user_id](pqxx::read_transaction& tx) { return SessionStore(tx).Load(user_id); });
  json me = UserJson(fresh);
  me["billing"] = co_await gateway.route.db().Blocking(
      [&gateway, user_id] { return gateway.billing.BannerJson(user_id); });
  Response res = http::JsonResponse(Status::ok, me);
  if (caller.renewed) {
    res.set(bhttp::field::set_cookie, gateway.browser.SessionCookie(TokenFrom(ex.request())));
  }
  co_return res;
}

Reply ForgotPassword(GatewayContext& gateway, Exchange& ex) {
  json body = co_await AccountRequest(gateway, gateway.account_limiter, ex, "password reset");
  std::string email = EmailField(body);
  std::string token = NewToken();
  // From configuration, never from the request: a Host of evil.example must not reach a mail.
  std::string link = gateway.browser.PublicUrl() + "/reset-password?token=" + token;
  std::string expiry =
      std::to_string(kResetTokenTtl.count()) + (kResetTokenTtl.count() == 1 ? " hour" : " hours");
  bool here = co_await gateway.route.db().Write([&](pqxx::work& tx) {
    auto user_id = UserStore(tx).ActiveIdOf(email);
    if (!user_id) {
      return false;  // the same 202 as for an account here, unless another region holds it
    }
    PasswordResetStore(tx).Create(TokenHash(token), *user_id, kResetTokenTtl);
    mail::MailOutbox(tx).Queue(email, "password_reset", {{"link", link}, {"expires_in", expiry}});
    return true;
  });
  // The reset link must come from the region holding the account (its mailer, its database).
  if (!here) {
    if (auto elsewhere = co_await ElsewhereAnswer(gateway, email, "/forgot-password",
                                                  "this account lives in region")) {
      co_return std::move(*elsewhere);
    }
  }
  co_return http::JsonResponse(
      Status::accepted,
      {{"status", "if an account uses this address, a reset link is on its way"}});
}

Reply ResetPassword(GatewayContext& gateway, Exchange& ex) {
  json body = co_await AccountRequest(gateway, gateway.account_limiter, ex, "password reset");
  std::string token = http::RequireString(body, "token", 1, 100);
  std::string password = NewPassword(body);
  std::string hash = co_await gateway.passwords.Hash(password);
  co_await gateway.route.db().Write([&](pqxx::work& tx) {
    auto user_id = PasswordResetStore(tx).Use(TokenHash(token));
    if (!user_id) {
      throw InputError("token: this reset link is invalid, used or expired; ask for a new one",
                       "token");
    }
    UserStore(tx).SetPasswordHash(*user_id, hash);
    // Every session of the account ends: whoever knew the old password is signed out.
    SessionStore(tx).DeleteAllOf(*user_id);
  });
  gateway.sessions.ForgetAll();
  co_return http::JsonResponse(Status::ok,
                               {{"status", "password changed; sign in with the new one"}});
}

}  // namespace

void AddAuthRoutes(http::Router& router, GatewayContext& gateway) {
  using bhttp::verb;
  router.Add(verb::post, "/auth/register",
             [&gateway](Exchange& ex) { return Register(gateway, ex); });
  router.Add(verb::post, "/auth/login", [&gateway](Exchange& ex) { return Login(gateway, ex); });
  router.Add(verb::post, "/auth/logout", [&gateway](Exchange& ex) { return Logout(gateway, ex); });
  router.Add(verb::get, "/auth/me", [&gateway](Exchange& ex) { return Me(gateway, ex); });
  router.Add(verb::post, "/auth/forgot-password",
             [&gateway](Exchange& ex) { return ForgotPassword(gateway, ex); });
  router.Add(verb::post, "/auth/reset-password",
             [&gateway](Exchange& ex) { return ResetPassword(gateway, ex); });
}

}  // namespace crm::gateway
