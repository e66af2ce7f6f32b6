// Billing as the gateway uses it (docs/architecture.md, "Billing"): sign-up, checkout and portal
// sessions, the status, Stripe's webhook (verified, deduplicated, applied exactly once in one
// transaction), the revenue; and the scheduler thread running billing_jobs (grace and retention
// expiry, and bringing slices in line) at their time by an injectable clock. Every member blocks
// (database, Stripe, the orchestrator): call it from blocking work.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "crm/billing/billing_store.hpp"
#include "crm/billing/policy.hpp"
#include "crm/billing/stripe_client.hpp"
#include "crm/clock.hpp"
#include "crm/db/pool.hpp"
#include "crm/orchestrator/orchestrator.hpp"

namespace crm::billing {

struct BillingOptions {
  /// Stripe's secret key; empty: billing is off (sign-up assigns a slice at once).
  StripeOptions stripe;
  /// The endpoint's signing secrets (whsec_…): the current one and the one being rotated out.
  std::string webhook_secret;
  std::string webhook_secret_previous;
  std::string price_id;        ///< the recurring Price (price_…)
  std::string promotion_code;  ///< promo_… applied to every checkout; empty: none
  PolicyConfig policy;
  long long monthly_cents = 900;  ///< what one subscription brings in a month (MRR)
  std::string currency = "USD";
  /// The web app's origin for links in mails ("https://crm.example.com").
  std::string app_url = "http://localhost:8080";
  /// For tests only: "now" is the time written in this file (FileClock).
  std::filesystem::path clock_file;
  std::chrono::milliseconds poll{30'000};  ///< the scheduler looks at least this often
  /// For tests only: a webhook's transaction waits this long after recording the event id, so a
  /// test can kill crmd between receipt and commit.
  std::chrono::milliseconds test_apply_delay{0};

  bool enabled() const { return !stripe.secret_key.empty(); }
};

/// What a webhook delivery came to.
struct WebhookResult {
  bool duplicate = false;
  std::string outcome;  ///< "applied", "ignored: …"
};

class BillingService {
 public:
  /// `stripe` null: a StripeClient over options.stripe. Throws InputError when billing is on
  /// without a price.
  BillingService(BillingOptions options, db::Pool& pool, orchestrator::Orchestrator& slices,
                 std::unique_ptr<StripeApi> stripe = nullptr, Clock clock = nullptr);
  ~BillingService();
  BillingService(const BillingService&) = delete;
  BillingService& operator=(const BillingService&) = delete;

  bool enabled() const { return options_.enabled(); }
  const BillingOptions& options() const { return options_; }
  Time Now() const { return clock_(); }

  /// A new account's row, in the sign-up's transaction. True when its slice is due now (billing
  /// off, or a trial).
  bool OnSignUp(pqxx::work& tx, long long user_id);

  /// A Checkout Session for the account: its Stripe customer made once, then the session.
  /// Throws NotFound when billing is off, Conflict when it has a live subscription (pay what is
  /// due or change it in the portal: a second one would charge twice), Unavailable when Stripe
  /// cannot be reached (nothing recorded).
  std::string CreateCheckout(long long user_id, const std::string& origin);
  /// A Customer Portal session; Conflict when the account has no Stripe customer yet.
  std::string CreatePortal(long long user_id, const std::string& origin);
  /// Before the account is deleted: its Stripe subscription canceled at once, so a deleted
  /// account is never charged again. Nothing to do when billing is off or nothing is paid for.
  /// Throws Unavailable (503) when Stripe cannot be reached: the caller must not delete then.
  void CancelForDeletion(long long user_id);
  /// GET /billing/status without "plan" (the gateway's).
  nlohmann::json StatusJson(long long user_id);
  /// {"enabled", "status", "grace_ends_at"}: /auth/me's "billing".
  nlohmann::json BannerJson(long long user_id);
  /// One account's subscription with its Stripe ids (admin).
  nlohmann::json AdminJson(long long user_id);
  /// GET /admin/revenue.
  nlohmann::json RevenueJson();

  /// A delivery of Stripe's webhook: the signature checked on the raw body before anything is
  /// parsed (InputError: 400, nothing changes), then the event applied once.
  WebhookResult HandleWebhook(std::string_view signature_header, std::string_view body);

  /// Runs every job due now; returns how many ran. The scheduler calls it; tests may.
  int RunDueJobs();

  /// Starts and stops the scheduler thread.
  void Start();
  void Stop();
  /// Makes the scheduler look now (a job was just added).
  void Wake();

 private:
  WebhookResult Apply(const StripeEvent& event);
  /// Stores a decision: the row, its mails, its timers, a slice job.
  /// `queue_sync`: a slice_sync job when the decision moves the slice.
  void Record(pqxx::work& tx, const Decision& decision, bool queue_sync);
  void RunJob(pqxx::work& tx, const BillingJob& job);
  void SyncSlice(long long user_id, SliceGoal goal);
  void Loop();

  BillingOptions options_;
  db::Pool& pool_;
  orchestrator::Orchestrator& slices_;
  std::unique_ptr<StripeApi> stripe_;
  Clock clock_;

  std::atomic<bool> running_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace crm::billing
