#include "account_routes.hpp"

#include "attempt_limits.hpp"

#include <spdlog/spdlog.h>

#include "crm/gateway/account_store.hpp"
#include "crm/gateway/auth.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/response.hpp"

namespace crm::gateway {
namespace {

namespace asio = boost::asio;

// The preamble: a session, our own Origin, the address's share of sign-in attempts (each of
// these routes checks a password, so a stolen session cannot guess it faster than a sign-in
// could), and a JSON body.
asio::awaitable<std::pair<Caller, json>> AccountCall(GatewayContext& gateway, Exchange& ex) {
  Caller caller = co_await gateway.route.RequireCaller(ex.request());
  gateway.browser.CheckOrigin(ex.request());
  co_await LimitAttempts(gateway, gateway.login_limiter, ex, "password");
  co_return std::pair{caller, http::ParseJsonBody(ex.request())};
}

// The account's stored hash, once `password` is checked against it (on the hashing pool);
// InputError naming `field` when it is not the account's password. `field` is a plain pointer:
// a std::string temporary in a co_await expression is destroyed twice by GCC 12.
asio::awaitable<std::string> CheckCurrentPassword(GatewayContext& gateway, const Caller& caller,
                                                  const std::string& password, const char* field) {
  const std::string& email = caller.email;
  std::optional<Credentials> account = co_await gateway.route.db().Read(
      [&email](pqxx::read_transaction& tx) { return UserStore(tx).CredentialsOf(email); });
  std::string stored = account ? account->password_hash : std::string();
  bool match = co_await gateway.passwords.Verify(password, stored);
  if (!match) {
    throw InputError(std::string(field) + ": this is not your current password", field);
  }
  co_return stored;
}

Reply ChangePassword(GatewayContext& gateway, Exchange& ex) {
  auto [caller, body] = co_await AccountCall(gateway, ex);
  std::string current = http::RequireString(body, "current_password", 1, 256);
  std::string next = http::RequireString(body, "new_password", 1, 256);
  CheckPassword(next, "new_password");
  std::string keep = TokenHash(TokenFrom(ex.request()));
  std::string checked = co_await CheckCurrentPassword(gateway, caller, current, "current_password");
  std::string hash = co_await gateway.passwords.Hash(next);
  co_await gateway.route.db().Write([&](pqxx::work& tx) {
    UserStore users(tx);
    // The hashes ran outside this transaction: the password checked must still be the one stored.
    auto account = users.CredentialsOf(caller.email);
    if (!account || account->password_hash != checked) {
      throw Conflict("current_password: the password changed meanwhile; try again",
                     "current_password");
    }
    users.SetPasswordHash(caller.user_id, hash);
    // Whoever knew the old password is signed out; this browser stays in.
    SessionStore(tx).DeleteAllOfExcept(caller.user_id, keep);
  });
  gateway.sessions.ForgetAll();
  co_return http::JsonResponse(
      Status::ok, {{"status", "password changed; your other sessions are signed out"}});
}

Reply LogoutEverywhere(GatewayContext& gateway, Exchange& ex) {
  Caller caller = co_await gateway.route.RequireCaller(ex.request());
  gateway.browser.CheckOrigin(ex.request());
  long long user_id = caller.user_id;
  co_await gateway.route.db().Write(
      [user_id](pqxx::work& tx) { SessionStore(tx).DeleteAllOf(user_id); });
  gateway.sessions.ForgetAll();
  Response res{Status::no_content, 11};
  res.set(bhttp::field::set_cookie, gateway.browser.ClearCookie());
  co_return res;
}

Reply DeleteAccount(GatewayContext& gateway, Exchange& ex) {
  auto [caller, body] = co_await AccountCall(gateway, ex);
  std::string password = http::RequireString(body, "password", 1, 256);
  if (caller.role == "admin") {
    throw Forbidden("an administrator account cannot delete itself here; ask another admin");
  }
  co_await CheckCurrentPassword(gateway, caller, password, "password");
  co_await gateway.route.db().Blocking([&] {
    // Nothing more is charged for an account that is gone: when Stripe cannot be reached this
    // throws (503) and nothing is deleted.
    gateway.billing.CancelForDeletion(caller.user_id);
    // The workspace first: its process, schema, role and files. Should that fail, the account
    // stays and the tenant can try again; the reverse would orphan a slice.
    if (caller.slice_id) {
      gateway.orchestrator.Destroy(*caller.slice_id, "the tenant deleted the account");
    }
    gateway.route.db().pool().Write([&](pqxx::work& tx) { UserStore(tx).Delete(caller.user_id); });
  });
  gateway.sessions.ForgetAll();
  spdlog::info("account {} deleted by its owner (slice {})", caller.user_id,
               caller.slice_id ? std::to_string(*caller.slice_id) : "none");
  Response res = http::JsonResponse(Status::ok, {{"status", "deleted"}});
  res.set(bhttp::field::set_cookie, gateway.browser.ClearCookie());
  co_return res;
}

}  // namespace

void AddAccountRoutes(http::Router& router, GatewayContext& gateway) {
  using bhttp::verb;
  router.Add(verb::post, "/auth/change-password",
             [&gateway](Exchange& ex) { return ChangePassword(gateway, ex); });
  router.Add(verb::post, "/auth/logout-all",
             [&gateway](Exchange& ex) { return LogoutEverywhere(gateway, ex); });
  router.Add(verb::post, "/auth/delete-account",
             [&gateway](Exchange& ex) { return DeleteAccount(gateway, ex); });
}

}  // namespace crm::gateway
