// Billing end to end: a real crmd --role all with Stripe's stand-in (tests/support) as its API, a
// real PostgreSQL, signed webhook deliveries and a billing clock the test moves through a file.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "crm/clock.hpp"
#include "crm/testing/stripe_stand_in.hpp"
#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

const std::string kWebhookSecret = "whsec_stand_in_0123456789";

// How long a billing step may take to show (Eventually polls until then).
constexpr std::chrono::milliseconds kWait = 60s;

class BillingTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    clock_file_ = pg_->dir() / "billing-clock";
    SetClock(crm::SystemClock()());
    env["CRM_STRIPE_SECRET_KEY"] = stripe_.secret_key();
    env["CRM_STRIPE_WEBHOOK_SECRET"] = kWebhookSecret;
    env["CRM_STRIPE_API_URL"] = StripeUrl();
    env["CRM_STRIPE_PRICE_ID"] = "price_workspace_monthly";
    env["CRM_STRIPE_PROMOTION_CODE"] = "promo_launch50";
    env["CRM_BILLING_CLOCK_FILE"] = clock_file_.string();
  }
  virtual std::string StripeUrl() { return stripe_.url(); }

  void SetClock(crm::Time t) {
    now_ = t;
    std::ofstream(clock_file_) << crm::FormatIso(t) << "\n";
  }
  void Advance(std::chrono::seconds by) { SetClock(now_ + by); }

  // Signs up without a slice (pay first); returns the tenant with its user id.
  Tenant SignUp(const std::string& email) {
    auto r = Fetch("POST", Url("/auth/register"),
                   json{{"email", email}, {"password", kPassword}}.dump(), {kJson});
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_TRUE(r.Json()["slice"].is_null()) << r.body;
    Tenant t;
    t.token = CookieValue(r.headers["set-cookie"], "crm_session");
    t.user = r.Json()["user"]["id"].get<long long>();
    return t;
  }

  json Me(const Tenant& t) { return Fetch("GET", Url("/auth/me"), {}, t.Auth()).Json(); }
  json Status(const Tenant& t) { return Fetch("GET", Url("/billing/status"), {}, t.Auth()).Json(); }
  std::string StatusOf(const Tenant& t) { return Status(t).value("status", "?"); }

  // The API answers `code` and billing says `status`: the slice moves (and the gateways hear of
  // it at once) before the billing job commits the account's status, so both are awaited.
  bool Settled(const Tenant& t, long status_code, const std::string& status) {
    return Fetch("GET", Url("/api/contacts"), {}, t.Auth()).status == status_code &&
           StatusOf(t) == status;
  }

  HttpResult Send(const std::string& id, const std::string& type, const json& object,
                  long long created = 0) {
    return SendStripeEvent(crmd_->url(), kWebhookSecret,
                           StripeEvent(id, type, object, created == 0 ? UnixNow() : created));
  }
  json Checkout(const Tenant& t) {
    return {{"id", "cs_test_" + std::to_string(t.user)},
            {"object", "checkout.session"},
            {"mode", "subscription"},
            {"customer", Customer(t)},
            {"subscription", "sub_" + std::to_string(t.user)},
            {"client_reference_id", std::to_string(t.user)},
            {"payment_status", "paid"}};
  }
  json Invoice(const Tenant& t) {
    return {{"id", "in_" + std::to_string(t.user)},
            {"object", "invoice"},
            {"customer", Customer(t)},
            {"subscription", "sub_" + std::to_string(t.user)},
            {"amount_due", 450},
            {"lines", {{"data", {{{"period", {{"end", UnixNow() + 30 * 86400}}}}}}}}};
  }
  json Subscription(const Tenant& t, const std::string& status) {
    return {{"id", "sub_" + std::to_string(t.user)},
            {"object", "subscription"},
            {"customer", Customer(t)},
            {"status", status},
            {"cancel_at_period_end", false},
            {"current_period_end", UnixNow() + 30 * 86400},
            {"metadata", {{"user_id", std::to_string(t.user)}}}};
  }
  std::string Customer(const Tenant& t) {
    return Sql(pg_->ConnectionString(),
               "SELECT coalesce(stripe_customer_id, 'cus_none') FROM gateway.subscriptions WHERE "
               "user_id = " +
                   std::to_string(t.user));
  }
  std::string Count(const std::string& sql) { return Sql(pg_->ConnectionString(), sql); }

  StripeStandIn stripe_;
  fs::path clock_file_;
  crm::Time now_{};
};

TEST_F(BillingTest, TheWholeLifeFromSignUpToDeletion) {
  Tenant t = SignUp("payer@example.com");
  json status = Status(t);
  EXPECT_EQ(status["enabled"], true) << status;
  EXPECT_EQ(status["status"], "none");
  EXPECT_EQ(status["plan"]["currency"], "USD");
  EXPECT_EQ(Me(t)["billing"]["status"], "none");
  EXPECT_EQ(Fetch("POST", Url("/billing/portal"), {}, t.AuthJson()).status, 409);

  // Checkout: one customer, one session with the price and the launch promotion code.
  auto checkout = Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson());
  ASSERT_EQ(checkout.status, 200) << checkout.body;
  EXPECT_TRUE(checkout.Json()["url"].get<std::string>().starts_with(
      "https://checkout.stripe.com/c/pay/cs_test_"));
  auto customers = stripe_.calls("/v1/customers");
  ASSERT_EQ(customers.size(), 1u);
  EXPECT_EQ(customers[0].Field("email"), "payer@example.com");
  EXPECT_EQ(customers[0].Field("metadata[user_id]"), std::to_string(t.user));
  EXPECT_EQ(customers[0].idempotency_key, "customer-" + std::to_string(t.user));
  auto sessions = stripe_.calls("/v1/checkout/sessions");
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].status, 200);
  EXPECT_EQ(sessions[0].Field("mode"), "subscription");
  EXPECT_EQ(sessions[0].Field("line_items[0][price]"), "price_workspace_monthly");
  EXPECT_EQ(sessions[0].Field("line_items[0][quantity]"), "1");
  EXPECT_EQ(sessions[0].Field("discounts[0][promotion_code]"), "promo_launch50");
  EXPECT_EQ(sessions[0].Field("client_reference_id"), std::to_string(t.user));
  EXPECT_TRUE(sessions[0].Field("success_url").ends_with("/app/billing?checkout=success"));
  EXPECT_TRUE(sessions[0].idempotency_key.starts_with("checkout-" + std::to_string(t.user)));
  // A second checkout reuses the customer.
  ASSERT_EQ(Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson()).status, 200);
  EXPECT_EQ(stripe_.calls("/v1/customers").size(), 1u);

  // Paid: the slice comes.
  auto done = Send("evt_checkout_1", "checkout.session.completed", Checkout(t));
  ASSERT_EQ(done.status, 200) << done.body;
  ASSERT_TRUE(Eventually([&] { return Me(t)["slice"].is_object(); }, kWait)) << Me(t);
  ASSERT_TRUE(Eventually(
      [&] { return Fetch("GET", Url("/api/contacts"), {}, t.Auth()).status == 200; }, kWait));
  t.slice = Me(t)["slice"]["id"].get<long long>();
  EXPECT_EQ(StatusOf(t), "active");
  CreateContact(t, "Kept", "+14155550123");
  EXPECT_EQ(Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson()).status, 409);
  auto portal = Fetch("POST", Url("/billing/portal"), {}, t.AuthJson());
  ASSERT_EQ(portal.status, 200) << portal.body;
  EXPECT_TRUE(portal.Json()["url"].get<std::string>().starts_with("https://billing.stripe.com/"));

  // The payment fails: grace, the banner, a dunning mail; the slice keeps running.
  ASSERT_EQ(Send("evt_failed_1", "invoice.payment_failed", Invoice(t)).status, 200);
  json me = Me(t);
  EXPECT_EQ(me["billing"]["status"], "past_due") << me;
  EXPECT_TRUE(me["billing"]["grace_ends_at"].is_string()) << me;
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, t.Auth()).status, 200);
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.outbox_emails WHERE template = 'payment_failed'"),
            "1");

  // Eight days later: suspended, the API answers 423. (The slice stops before the billing job
  // commits the account's new status: the gateways hear of the slice at once.)
  Advance(std::chrono::days(8));
  ASSERT_TRUE(Eventually([&] { return Settled(t, 423, "suspended"); }, kWait)) << crmd_->Log();
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.outbox_emails WHERE template = 'suspended'"), "1");

  // Paid again: resumed with the data.
  ASSERT_EQ(Send("evt_paid_2", "invoice.paid", Invoice(t)).status, 200);
  ASSERT_TRUE(Eventually([&] { return Settled(t, 200, "active"); }, kWait));
  EXPECT_NE(Fetch("GET", Url("/api/contacts"), {}, t.Auth()).body.find("Kept"), std::string::npos);

  // Canceled: still there (and exportable) for the retention period, with a mail saying so.
  ASSERT_EQ(
      Send("evt_deleted_3", "customer.subscription.deleted", Subscription(t, "canceled")).status,
      200);
  status = Status(t);
  EXPECT_EQ(status["status"], "canceled") << status;
  EXPECT_TRUE(status["data_deleted_at"].is_string()) << status;
  EXPECT_EQ(Fetch("GET", Url("/api/export"), {}, t.Auth()).status, 200);
  EXPECT_EQ(
      Count("SELECT count(*) FROM gateway.outbox_emails WHERE template = 'canceled_export_offer'"),
      "1");

  // Retention over: slice, schema, role and files gone; the account stays.
  std::string slice = std::to_string(t.slice);
  ASSERT_TRUE(fs::exists(data_ / "slices" / slice));
  Advance(std::chrono::days(8));
  ASSERT_TRUE(Eventually(
      [&] { return Count("SELECT state FROM gateway.slices WHERE id = " + slice) == "destroyed"; },
      kWait))
      << crmd_->Log();
  EXPECT_EQ(Count("SELECT count(*) FROM pg_namespace WHERE nspname = 'slice_" + slice + "'"), "0");
  EXPECT_EQ(Count("SELECT count(*) FROM pg_roles WHERE rolname = 'slice_" + slice + "'"), "0");
  EXPECT_FALSE(fs::exists(data_ / "slices" / slice));
  EXPECT_EQ(StatusOf(t), "canceled");
  // The gateway's session cache may still hold the slice as destroying for a few seconds.
  EXPECT_TRUE(Eventually(
      [&] { return Fetch("GET", Url("/api/contacts"), {}, t.Auth()).status == 410; }, 15s));
}

TEST_F(BillingTest, DuplicateAndLateEventsApplyOnce) {
  Tenant t = SignUp("twice@example.com");
  ASSERT_EQ(Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson()).status, 200);
  long long created = UnixNow();
  ASSERT_EQ(Send("evt_c", "checkout.session.completed", Checkout(t), created).status, 200);
  auto again = Send("evt_c", "checkout.session.completed", Checkout(t), created);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.Json()["duplicate"], true);
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.billing_events WHERE id = 'evt_c'"), "1");
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.billing_jobs WHERE kind = 'slice_sync'"), "1");

  // A failure from before the last applied event: Stripe's current state wins (still active).
  stripe_.PutSubscription(Subscription(t, "active"));
  auto late = Send("evt_old_failure", "invoice.payment_failed", Invoice(t), created - 600);
  ASSERT_EQ(late.status, 200) << late.body;
  EXPECT_NE(late.Json()["outcome"].get<std::string>().find("out of order"), std::string::npos)
      << late.body;
  EXPECT_EQ(stripe_.calls("/v1/subscriptions/sub_" + std::to_string(t.user)).size(), 1u);
  EXPECT_EQ(StatusOf(t), "active");
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.outbox_emails WHERE template = 'payment_failed'"),
            "0");
}

TEST_F(BillingTest, BadSignaturesAreRefusedAndChangeNothing) {
  Tenant t = SignUp("forged@example.com");
  json event = StripeEvent("evt_forged", "checkout.session.completed", Checkout(t), UnixNow());
  std::string body = event.dump();
  auto forged = SendStripeEvent(crmd_->url(), "whsec_someone_else", event);
  EXPECT_EQ(forged.status, 400) << forged.body;
  auto missing = Fetch("POST", Url("/billing/webhook"), body, {kJson});
  EXPECT_EQ(missing.status, 400) << missing.body;
  EXPECT_NE(missing.body.find("Stripe-Signature"), std::string::npos) << missing.body;
  auto old = SendStripeEvent(crmd_->url(), kWebhookSecret, event, UnixNow() - 360);
  EXPECT_EQ(old.status, 400) << old.body;
  EXPECT_EQ(StatusOf(t), "none");
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.billing_events"), "0");
  EXPECT_TRUE(Me(t)["slice"].is_null());
}

TEST_F(BillingTest, AKillBetweenReceiptAndApplyIsAppliedOnceOnRedelivery) {
  Tenant t = SignUp("crash@example.com");
  ASSERT_EQ(Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson()).status, 200);
  ASSERT_EQ(Send("evt_paid", "checkout.session.completed", Checkout(t)).status, 200);
  ASSERT_TRUE(Eventually([&] { return Me(t)["slice"].is_object(); }, kWait));
  // Sent, and crmd killed before (or while) it answers: Stripe saw no 2xx and delivers again.
  json failed = StripeEvent("evt_failed_crash", "invoice.payment_failed", Invoice(t), UnixNow());
  SendStripeEvent(crmd_->url(), kWebhookSecret, failed, 0, 5);
  ASSERT_EQ(::kill(crmd_->pid(), SIGKILL), 0);
  crmd_.reset();
  crmd_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, env_, pg_->dir() / "crmd2.log");
  auto redelivered = SendStripeEvent(crmd_->url(), kWebhookSecret, failed);
  ASSERT_EQ(redelivered.status, 200) << redelivered.body;
  EXPECT_EQ(StatusOf(t), "past_due");
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.billing_events WHERE id = 'evt_failed_crash'"),
            "1");
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.billing_failed_payments"), "1");
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.outbox_emails WHERE template = 'payment_failed'"),
            "1");
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.billing_jobs WHERE kind = 'grace_expiry'"), "1");

  std::string admin = Admin();
  auto revenue = Fetch("GET", Url("/admin/revenue"), {}, {"Cookie: crm_session=" + admin});
  ASSERT_EQ(revenue.status, 200) << revenue.body;
  json r = revenue.Json();
  EXPECT_EQ(r["currency"], "USD");
  EXPECT_EQ(r["mrr_cents"], 450) << r;  // one past_due subscription at the launch price
  EXPECT_EQ(r["subscriptions"]["past_due"], 1) << r;
  EXPECT_EQ(r["failed_payments_30d"], 1) << r;
  EXPECT_EQ(r["churn"].size(), 12u) << r;

  // The operator's view: crmctl over the admin API.
  std::map<std::string, std::string> cli_env = {{"CRM_URL", crmd_->url()},
                                                {"CRM_ADMIN_TOKEN", admin}};
  auto [code, out] = RunCommand({CRM_CRMCTL_BINARY, "billing", "status"}, cli_env, "");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("MRR: 4.50 USD"), std::string::npos) << out;
  EXPECT_NE(out.find("1 past due"), std::string::npos) << out;
  EXPECT_NE(out.find("failed payments (30 days): 1"), std::string::npos) << out;
  auto [one_code, one] = RunCommand(
      {CRM_CRMCTL_BINARY, "billing", "status", "--email", "crash@example.com"}, cli_env, "");
  EXPECT_EQ(one_code, 0) << one;
  EXPECT_NE(one.find("crash@example.com (user " + std::to_string(t.user) + "): past_due"),
            std::string::npos)
      << one;
  EXPECT_NE(one.find("stripe subscription: sub_" + std::to_string(t.user)), std::string::npos)
      << one;
  auto [unknown_code, unknown] = RunCommand(
      {CRM_CRMCTL_BINARY, "billing", "status", "--email", "nobody@example.com"}, cli_env, "");
  EXPECT_EQ(unknown_code, 2) << unknown;
}

// The webhook's transaction waits 3 s after recording the event id: the kill lands between
// receipt and commit for certain.
class SlowApplyBillingTest : public BillingTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    BillingTest::Configure(env);
    env["CRM_BILLING_TEST_APPLY_DELAY"] = "3s";
  }
};

TEST_F(SlowApplyBillingTest, AKillBeforeTheCommitLeavesNothingAndTheRetryAppliesOnce) {
  Tenant t = SignUp("midway@example.com");
  ASSERT_EQ(Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson()).status, 200);
  json paid = StripeEvent("evt_paid_midway", "checkout.session.completed", Checkout(t), UnixNow());
  auto cut = SendStripeEvent(crmd_->url(), kWebhookSecret, paid, 0, 1'000);
  EXPECT_EQ(cut.status, 0) << "answered before the delay: " << cut.body;
  ASSERT_EQ(::kill(crmd_->pid(), SIGKILL), 0);
  crmd_.reset();
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.billing_events"), "0");
  EXPECT_EQ(
      Count("SELECT status FROM gateway.subscriptions WHERE user_id = " + std::to_string(t.user)),
      "none");
  crmd_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, env_, pg_->dir() / "crmd2.log");
  auto retried = SendStripeEvent(crmd_->url(), kWebhookSecret, paid);
  ASSERT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(retried.Json()["duplicate"], false);
  auto repeat = SendStripeEvent(crmd_->url(), kWebhookSecret, paid);
  EXPECT_EQ(repeat.Json()["duplicate"], true) << repeat.body;
  EXPECT_EQ(StatusOf(t), "active");
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.billing_jobs WHERE kind = 'slice_sync'"), "1");
  ASSERT_TRUE(Eventually([&] { return Me(t)["slice"].is_object(); }, kWait));
}

TEST_F(BillingTest, StripeRateLimitingIsA503) {
  Tenant t = SignUp("busy@example.com");
  stripe_.SetRateLimited(true);
  auto r = Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_GE(stripe_.calls("/v1/customers").size(), 2u) << "429 is retried";
  EXPECT_EQ(Customer(t), "cus_none");
}

class TrialBillingTest : public BillingTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    BillingTest::Configure(env);
    env["CRM_BILLING_TRIAL_DAYS"] = "14";
  }
};

TEST_F(TrialBillingTest, ATrialHasASliceAtSignUpAndIsSuspendedUnpaidAtItsEnd) {
  Tenant t = Register("trial@example.com");
  ASSERT_GT(t.slice, 0);
  json status = Status(t);
  EXPECT_EQ(status["status"], "trialing") << status;
  EXPECT_EQ(status["trial_ends_at"], crm::FormatIso(now_ + std::chrono::days(14))) << status;
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), {}, t.Auth()).status, 200);
  // No Stripe subscription yet: paying during the trial is allowed.
  EXPECT_EQ(Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson()).status, 200);

  Advance(std::chrono::days(15));
  ASSERT_TRUE(Eventually([&] { return Settled(t, 423, "suspended"); }, kWait)) << crmd_->Log();

  ASSERT_EQ(Send("evt_trial_paid", "checkout.session.completed", Checkout(t)).status, 200);
  ASSERT_TRUE(Eventually([&] { return Settled(t, 200, "active"); }, kWait));
  EXPECT_EQ(Me(t)["slice"]["id"], t.slice);  // the same slice, resumed
}

TEST_F(BillingTest, DeletingAPayingAccountCancelsItsSubscriptionFirst) {
  Tenant t = SignUp("leaver@example.com");
  ASSERT_EQ(Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson()).status, 200);
  stripe_.PutSubscription(Subscription(t, "active"));
  ASSERT_EQ(Send("evt_leaver_paid", "checkout.session.completed", Checkout(t)).status, 200);
  ASSERT_TRUE(Eventually([&] { return Me(t)["slice"].is_object(); }, kWait)) << Me(t);

  // Stripe busy: nothing is deleted, so the tenant is neither charged for a deleted account nor
  // left without one.
  stripe_.SetRateLimited(true);
  auto busy = Fetch("POST", Url("/auth/delete-account"), json{{"password", kPassword}}.dump(),
                    t.AuthJson());
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_EQ(Fetch("GET", Url("/auth/me"), {}, t.Auth()).status, 200);
  stripe_.SetRateLimited(false);

  auto gone = Fetch("POST", Url("/auth/delete-account"), json{{"password", kPassword}}.dump(),
                    t.AuthJson());
  ASSERT_EQ(gone.status, 200) << gone.body;
  bool canceled = false;
  for (const auto& call : stripe_.calls("/v1/subscriptions/sub_" + std::to_string(t.user))) {
    canceled = canceled || (call.method == "DELETE" && call.status == 200);
  }
  EXPECT_TRUE(canceled) << "DELETE /v1/subscriptions/sub_" << t.user << " was not sent";
  EXPECT_EQ(Count("SELECT count(*) FROM gateway.users WHERE email = 'leaver@example.com'"), "0");
}

TEST_F(BillingTest, APastDueTenantPaysInThePortalNotWithASecondSubscription) {
  Tenant t = SignUp("late@example.com");
  ASSERT_EQ(Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson()).status, 200);
  ASSERT_EQ(Send("evt_late_paid", "checkout.session.completed", Checkout(t)).status, 200);
  ASSERT_EQ(Send("evt_late_failed", "invoice.payment_failed", Invoice(t)).status, 200);
  ASSERT_TRUE(Eventually([&] { return StatusOf(t) == "past_due"; }, kWait)) << Status(t);
  auto again = Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson());
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_NE(again.body.find("customer portal"), std::string::npos) << again.body;
  EXPECT_EQ(Fetch("POST", Url("/billing/portal"), {}, t.AuthJson()).status, 200);
}

class UnreachableStripeTest : public BillingTest {
 protected:
  std::string StripeUrl() override { return "http://127.0.0.1:1"; }
};

TEST_F(UnreachableStripeTest, CheckoutIs503WithNothingCreated) {
  Tenant t = SignUp("offline@example.com");
  auto r = Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.Json()["error"],
            "billing is unavailable: Stripe did not answer; nothing was charged, try again in a "
            "minute");
  EXPECT_EQ(Customer(t), "cus_none");
  EXPECT_EQ(StatusOf(t), "none");
}

// Without a Stripe key nothing changes: a slice at sign-up, billing reported off.
TEST_F(RuntimeTest, BillingOffSignUpAssignsASliceAtOnce) {
  Tenant t = Register("free@example.com");
  EXPECT_GT(t.slice, 0);
  auto me = Fetch("GET", Url("/auth/me"), {}, t.Auth()).Json();
  EXPECT_EQ(me["billing"]["enabled"], false) << me;
  EXPECT_EQ(Fetch("GET", Url("/billing/status"), {}, t.Auth()).Json()["enabled"], false);
  auto checkout = Fetch("POST", Url("/billing/create-checkout"), {}, t.AuthJson());
  EXPECT_EQ(checkout.status, 404) << checkout.body;
  EXPECT_EQ(checkout.Json()["error"], "billing is not enabled");
}

}  // namespace
}  // namespace crm::testing
