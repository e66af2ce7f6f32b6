// The SQL of billing: gateway.subscriptions (one row per account), billing_events (every Stripe
// event id seen, for deduplication), billing_jobs (the durable timers, claimed FOR UPDATE SKIP
// LOCKED so with several gateways each runs once) and billing_failed_payments. Runs inside the
// caller's transaction; the caller commits.
#pragma once

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "crm/billing/policy.hpp"

namespace crm::billing {

/// A due job, claimed.
struct BillingJob {
  long long id = 0;
  std::string kind;
  long long user_id = 0;
  int attempts = 0;
};

class BillingStore {
 public:
  explicit BillingStore(pqxx::transaction_base& tx) : tx_(tx) {}

  /// The account's subscription, its row locked FOR UPDATE when `lock`; nullopt without one.
  std::optional<Subscription> Load(long long user_id, bool lock);
  /// Inserts or updates the row.
  void Save(const Subscription& subscription);
  /// The account a Stripe customer or subscription id belongs to.
  std::optional<long long> UserOfCustomer(const std::string& customer_id);
  std::optional<long long> UserOfSubscription(const std::string& subscription_id);
  /// Whether the account exists (an event may name a deleted one).
  bool UserExists(long long user_id);
  std::string EmailOf(long long user_id);

  /// Records event `id` as received; false when it was already (a duplicate delivery).
  bool RecordEvent(const StripeEvent& event);
  /// Marks it applied, with what became of it.
  void MarkEventApplied(const std::string& id, std::optional<long long> user_id,
                        const std::string& outcome);

  /// A job for `user_id` at `run_at`.
  void AddJob(const std::string& kind, long long user_id, Time run_at);
  /// The oldest job due at `now`, locked (others skip it until this transaction ends).
  std::optional<BillingJob> ClaimDue(Time now);
  void MarkDone(long long job_id);
  /// One more failed try; the next no sooner than `retry_at`.
  void MarkFailed(long long job_id, const std::string& error, Time retry_at);
  /// When the next job is due; nullopt when none waits.
  std::optional<Time> NextDue();

  void RecordFailedPayment(long long user_id, const StripeEvent& event);

  /// GET /admin/revenue's numbers but the currency: mrr_cents (`monthly_cents` per active or
  /// past_due subscription), subscriptions by state, churn by month for the 12 months up to
  /// `now`, failed payments in the 30 days before `now`.
  nlohmann::json Revenue(long long monthly_cents, Time now);

 private:
  pqxx::transaction_base& tx_;
};

}  // namespace crm::billing
