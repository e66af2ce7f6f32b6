// The subscription policy (docs/operations.md, "Billing"), as pure functions: a Stripe event or
// the passing of time, with the account's subscription and the settings, gives the new
// subscription and what to do about it (mails, timers, the slice). No I/O here: BillingService
// loads, applies and stores in one transaction.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crm/clock.hpp"

namespace crm::billing {

enum class Status { kNone, kTrialing, kActive, kPastDue, kSuspended, kCanceled };

/// "none", "trialing", "active", "past_due", "suspended", "canceled".
std::string_view ToString(Status status);
/// The inverse of ToString; throws InputError.
Status ParseStatus(std::string_view text);

/// One account's subscription (gateway.subscriptions).
struct Subscription {
  long long user_id = 0;
  std::string customer_id;      ///< cus_…, once created
  std::string subscription_id;  ///< sub_…, once paid
  Status status = Status::kNone;
  std::optional<Time> current_period_end;
  std::optional<Time> grace_ends_at;    ///< past_due: suspended then
  std::optional<Time> trial_ends_at;    ///< trialing
  std::optional<Time> canceled_at;      ///< canceled
  std::optional<Time> data_deleted_at;  ///< canceled: the slice is destroyed then
  std::optional<Time> started_at;       ///< first paid (churn's denominator)
  std::optional<Time> last_event_created;
  bool cancel_at_period_end = false;
};

/// An account's subscription before anything happened: status none.
inline Subscription Unpaid(long long user_id) {
  Subscription s;
  s.user_id = user_id;
  return s;
}

struct PolicyConfig {
  std::chrono::days trial{0};  ///< 0: pay first, no slice before
  std::chrono::days grace{7};
  std::chrono::days retention{7};
};

/// What billing reads from a Stripe event (the rest of the payload is not needed).
struct StripeEvent {
  std::string id;  ///< evt_…
  std::string type;
  Time created{};
  std::string customer;              ///< cus_… the object belongs to
  std::string subscription;          ///< sub_… it is about
  std::optional<long long> user_id;  ///< client_reference_id or metadata[user_id]
  std::string subscription_status;   ///< customer.subscription.*: Stripe's status
  std::optional<Time> current_period_end;
  std::optional<Time> trial_end;
  bool cancel_at_period_end = false;
  long long amount_cents = 0;  ///< invoice.*: amount_due
};

/// Reads an event ({"id", "object": "event", "type", "created", "data": {"object": …}}). Throws
/// InputError naming the field for a payload that is not one.
StripeEvent ParseEvent(const nlohmann::json& event);

/// A customer.subscription.updated (or .deleted, when Stripe says canceled) built from the
/// subscription as the API has it now: what an event that arrived out of order is replaced by.
StripeEvent EventFromSubscription(const nlohmann::json& subscription, const StripeEvent& late);

/// A mail to the account (template in templates/mail/, its parameters).
struct MailToSend {
  std::string template_name;
  nlohmann::json params;
};

/// A timer: BillingService runs ApplyClock and converges the slice at `run_at`.
struct Timer {
  std::string kind;  ///< grace_expiry, retention_expiry, trial_expiry (for people reading jobs)
  Time run_at{};
};

/// What an event or a timer decided.
struct Decision {
  Subscription next;
  std::vector<MailToSend> mails;
  std::vector<Timer> timers;
  bool sync_slice = false;      ///< the slice must be brought in line with next.status
  bool failed_payment = false;  ///< counts in the revenue's failed payments
  std::string note;             ///< why nothing changed, for the log
};

/// Where an account's slice should be.
enum class SliceGoal { kLeave, kRunning, kSuspended, kDestroyed };
SliceGoal GoalOf(const Subscription& subscription, Time now);

/// A new account's subscription: none (pay first) or trialing with its trial's timer.
Decision SignUp(long long user_id, const PolicyConfig& config, Time now);

/// `event` applied to `current` at `now`. `app_url` is the web app's origin for mail links.
Decision ApplyEvent(const Subscription& current, const StripeEvent& event,
                    const PolicyConfig& config, Time now, const std::string& app_url);

/// Deadlines that passed by `now`: grace over → suspended; trial over unpaid → suspended;
/// retention over → the slice destroyed.
Decision ApplyClock(const Subscription& current, Time now, const std::string& app_url);

/// "2026-11-09 (UTC)": a date as mails write it.
std::string MailDate(Time t);

}  // namespace crm::billing
