#include "crm/billing/billing_service.hpp"

#include <spdlog/spdlog.h>

#include <random>

#include "crm/billing/billing_store.hpp"
#include "crm/billing/signature.hpp"
#include "crm/error.hpp"
#include "crm/json.hpp"
#include "crm/mail/outbox.hpp"
#include "crm/orchestrator/slice_store.hpp"

namespace crm::billing {
namespace {

using nlohmann::json;
using orchestrator::SliceState;
using orchestrator::SliceStore;

json IsoOrNull(const std::optional<Time>& t) {
  return t ? json(FormatIso(*t)) : json(nullptr);
}

// Tells one checkout or portal request from the next; a retry of this one reuses it.
std::string AttemptId() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 16; ++i) {
    id.push_back(kHex[random() & 0xF]);
  }
  return id;
}

void NotEnabled() {
  throw NotFound("billing is not enabled");
}

}  // namespace

BillingService::BillingService(BillingOptions options, db::Pool& pool,
                               orchestrator::Orchestrator& slices,
                               std::unique_ptr<StripeApi> stripe, Clock clock)
    : options_(std::move(options)), pool_(pool), slices_(slices), stripe_(std::move(stripe)) {
  if (enabled() && options_.price_id.empty()) {
    // Every checkout would fail at Stripe; say so now rather than to the first paying tenant.
    throw InputError(
        "CRM_STRIPE_PRICE_ID: billing is on (a Stripe secret key is set) but no recurring price "
        "is configured (docs/operations.md, \"Billing\")");
  }
  if (enabled() && options_.webhook_secret.empty() && options_.webhook_secret_previous.empty()) {
    spdlog::error(
        "billing: no CRM_STRIPE_WEBHOOK_SECRET: Stripe's webhook is answered 503 until it is set");
  }
  if (!stripe_) {
    stripe_ = std::make_unique<StripeClient>(options_.stripe);
  }
  if (clock) {
    clock_ = std::move(clock);
  } else if (!options_.clock_file.empty()) {
    clock_ = FileClock(options_.clock_file);
    // A test moves the clock by writing the file: look often so it does not wait for the poll.
    options_.poll = std::min(options_.poll, std::chrono::milliseconds(500));
  } else {
    clock_ = SystemClock();
  }
}

BillingService::~BillingService() {
  Stop();
}

bool BillingService::OnSignUp(pqxx::work& tx, long long user_id) {
  if (!enabled()) {
    return true;
  }
  Decision d = SignUp(user_id, options_.policy, Now());
  Record(tx, d, false);
  return d.next.status == Status::kTrialing;
}

std::string BillingService::CreateCheckout(long long user_id, const std::string& origin) {
  if (!enabled()) {
    NotEnabled();
  }
  auto [current, email] = pool_.Read([&](pqxx::read_transaction& tx) {
    BillingStore store(tx);
    Subscription s = store.Load(user_id, false).value_or(Unpaid(user_id));
    return std::pair(s, store.EmailOf(user_id));
  });
  // A live Stripe subscription (active, or past due and suspended with an unpaid invoice) is
  // paid or changed in the portal: a second checkout would start a second subscription.
  const bool live = !current.subscription_id.empty() && current.status != Status::kCanceled;
  if (current.status == Status::kActive || live) {
    throw Conflict(
        "billing: this workspace already has a subscription; pay what is due or change it in "
        "the customer portal (Manage billing)");
  }
  std::string customer = current.customer_id;
  if (customer.empty()) {
    // The key names the account: a retry after a lost answer gets the same customer back.
    customer = stripe_->CreateCustomer(user_id, email, "customer-" + std::to_string(user_id));
    pool_.Write([&](pqxx::work& tx) {
      BillingStore store(tx);
      Subscription s = store.Load(user_id, true).value_or(Unpaid(user_id));
      if (s.customer_id.empty()) {
        s.customer_id = customer;
        store.Save(s);
      }
      customer = s.customer_id;
    });
  }
  CheckoutRequest request;
  request.user_id = user_id;
  request.customer_id = customer;
  request.price_id = options_.price_id;
  request.promotion_code = options_.promotion_code;
  request.success_url = origin + "/app/billing?checkout=success";
  request.cancel_url = origin + "/app/billing?checkout=cancel";
  request.idempotency_key = "checkout-" + std::to_string(user_id) + "-" + AttemptId();
  return stripe_->CreateCheckoutSession(request);
}

void BillingService::CancelForDeletion(long long user_id) {
  if (!enabled()) {
    return;
  }
  auto current =
      pool_.Read([&](pqxx::read_transaction& tx) { return BillingStore(tx).Load(user_id, false); });
  if (!current || current->subscription_id.empty() || current->status == Status::kCanceled) {
    return;
  }
  stripe_->CancelSubscription(current->subscription_id);
  spdlog::info("billing: account {} deleted: subscription {} canceled at Stripe", user_id,
               current->subscription_id);
}

std::string BillingService::CreatePortal(long long user_id, const std::string& origin) {
  if (!enabled()) {
    NotEnabled();
  }
  auto current =
      pool_.Read([&](pqxx::read_transaction& tx) { return BillingStore(tx).Load(user_id, false); });
  if (!current || current->customer_id.empty()) {
    throw Conflict("billing: this workspace has no subscription yet; subscribe first");
  }
  return stripe_->CreatePortalSession(current->customer_id, origin + "/app/billing",
                                      "portal-" + std::to_string(user_id) + "-" + AttemptId());
}

json BillingService::StatusJson(long long user_id) {
  Subscription s;
  if (enabled()) {
    s = pool_
            .Read([&](pqxx::read_transaction& tx) { return BillingStore(tx).Load(user_id, false); })
            .value_or(Unpaid(user_id));
  }
  return {{"enabled", enabled()},
          {"status", ToString(s.status)},
          {"current_period_end", IsoOrNull(s.current_period_end)},
          {"grace_ends_at", IsoOrNull(s.grace_ends_at)},
          {"trial_ends_at", IsoOrNull(s.trial_ends_at)},
          {"data_deleted_at", IsoOrNull(s.data_deleted_at)},
          {"cancel_at_period_end", s.cancel_at_period_end}};
}

json BillingService::BannerJson(long long user_id) {
  json status = StatusJson(user_id);
  return {{"enabled", status["enabled"]},
          {"status", status["status"]},
          {"grace_ends_at", status["grace_ends_at"]}};
}

json BillingService::AdminJson(long long user_id) {
  json out = StatusJson(user_id);
  auto s =
      pool_.Read([&](pqxx::read_transaction& tx) { return BillingStore(tx).Load(user_id, false); });
  out["user_id"] = user_id;
  out["stripe_customer_id"] = s && !s->customer_id.empty() ? json(s->customer_id) : json(nullptr);
  out["stripe_subscription_id"] =
      s && !s->subscription_id.empty() ? json(s->subscription_id) : json(nullptr);
  out["canceled_at"] = s ? IsoOrNull(s->canceled_at) : json(nullptr);
  return out;
}

json BillingService::RevenueJson() {
  json out = pool_.Read([&](pqxx::read_transaction& tx) {
    return BillingStore(tx).Revenue(options_.monthly_cents, Now());
  });
  out["currency"] = options_.currency;
  return out;
}

WebhookResult BillingService::HandleWebhook(std::string_view signature_header,
                                            std::string_view body) {
  if (!enabled()) {
    NotEnabled();
  }
  if (options_.webhook_secret.empty() && options_.webhook_secret_previous.empty()) {
    // Stripe retries what is not answered 2xx, so nothing is lost while this is fixed.
    throw Unavailable(
        "the Stripe webhook is not configured: set CRM_STRIPE_WEBHOOK_SECRET (or "
        "CRM_STRIPE_WEBHOOK_SECRET_FILE)");
  }
  // Stripe's t is wall-clock time: the test clock does not apply here.
  VerifyStripeSignature(signature_header, body,
                        {options_.webhook_secret, options_.webhook_secret_previous},
                        std::chrono::system_clock::now());
  json payload = ParseJson(body, "body");
  return Apply(ParseEvent(payload));
}

WebhookResult BillingService::Apply(const StripeEvent& event) {
  bool sync = false;
  WebhookResult result = pool_.Write([&](pqxx::work& tx) -> WebhookResult {
    BillingStore store(tx);
    // The id goes in with what it does, in this transaction: a crash before the commit leaves
    // neither, and Stripe's next delivery applies it.
    if (!store.RecordEvent(event)) {
      return {true, "duplicate"};
    }
    if (options_.test_apply_delay.count() > 0) {
      std::this_thread::sleep_for(options_.test_apply_delay);
    }
    std::optional<long long> user_id;
    if (event.user_id && store.UserExists(*event.user_id)) {
      user_id = event.user_id;
    }
    if (!user_id && !event.customer.empty()) {
      user_id = store.UserOfCustomer(event.customer);
    }
    if (!user_id && !event.subscription.empty()) {
      user_id = store.UserOfSubscription(event.subscription);
    }
    if (!user_id) {
      std::string outcome = "ignored: no account for customer " + event.customer;
      store.MarkEventApplied(event.id, std::nullopt, outcome);
      spdlog::warn("billing: event {} ({}) {}", event.id, event.type, outcome);
      return {false, outcome};
    }
    Subscription current = store.Load(*user_id, true).value_or(Unpaid(*user_id));
    StripeEvent effective = event;
    std::string subscription =
        !event.subscription.empty() ? event.subscription : current.subscription_id;
    bool late = current.last_event_created && event.created < *current.last_event_created &&
                !subscription.empty();
    if (late) {
      // Stripe does not promise order: what the subscription is now says more than a stale event.
      effective = EventFromSubscription(stripe_->GetSubscription(subscription), event);
      if (effective.customer.empty()) {
        effective.customer = event.customer;
      }
    }
    Decision d = ApplyEvent(current, effective, options_.policy, Now(), options_.app_url);
    if (event.type == "invoice.payment_failed") {
      store.RecordFailedPayment(*user_id, event);
    }
    Record(tx, d, true);
    sync = d.sync_slice;
    std::string outcome = d.note.empty() ? "applied" : d.note;
    if (late) {
      outcome += " (arrived out of order: applied the subscription's current state)";
    }
    store.MarkEventApplied(event.id, user_id, outcome);
    spdlog::info("billing: event {} ({}) for account {}: {}; now {}", event.id, event.type,
                 *user_id, outcome, ToString(d.next.status));
    return {false, outcome};
  });
  if (sync) {
    Wake();
  }
  return result;
}

void BillingService::Record(pqxx::work& tx, const Decision& d, bool queue_sync) {
  BillingStore store(tx);
  store.Save(d.next);
  if (!d.mails.empty()) {
    std::string email = store.EmailOf(d.next.user_id);
    for (const auto& mail : d.mails) {
      mail::MailOutbox(tx).Queue(email, mail.template_name, mail.params);
    }
  }
  for (const auto& timer : d.timers) {
    store.AddJob(timer.kind, d.next.user_id, timer.run_at);
  }
  if (queue_sync && d.sync_slice) {
    store.AddJob("slice_sync", d.next.user_id, Now());
  }
}

int BillingService::RunDueJobs() {
  int ran = 0;
  for (;;) {
    std::optional<BillingJob> claimed;
    try {
      bool any = pool_.Run([&](pqxx::connection& c) {
        pqxx::work tx(c);
        pool_.Enter(tx);
        BillingStore store(tx);
        claimed = store.ClaimDue(Now());
        if (!claimed) {
          return false;
        }
        RunJob(tx, *claimed);
        store.MarkDone(claimed->id);
        tx.commit();
        return true;
      });
      if (!any) {
        return ran;
      }
      ++ran;
    } catch (const std::exception& e) {
      if (!claimed) {
        throw;
      }
      int attempts = claimed->attempts + 1;
      auto delay = std::chrono::seconds(std::min(3600, 30 << std::min(attempts - 1, 7)));
      spdlog::warn("billing: job {} ({} for account {}) failed, try {} in {} s: {}", claimed->id,
                   claimed->kind, claimed->user_id, attempts + 1, delay.count(), e.what());
      pool_.Write([&](pqxx::work& tx) {
        BillingStore(tx).MarkFailed(claimed->id, e.what(), Now() + delay);
      });
    }
  }
}

void BillingService::RunJob(pqxx::work& tx, const BillingJob& job) {
  BillingStore store(tx);
  auto current = store.Load(job.user_id, true);
  if (!current) {
    return;  // the account was deleted
  }
  Time now = Now();
  Decision d = ApplyClock(*current, now, options_.app_url);
  if (d.next.status != current->status) {
    spdlog::info("billing: account {} is now {} ({})", job.user_id, ToString(d.next.status),
                 job.kind);
  }
  Record(tx, d, false);
  // The slice moves while this job and the row stay locked; if that fails, the state change
  // and its mail roll back with it and the job runs again.
  SyncSlice(job.user_id, GoalOf(d.next, now));
}

void BillingService::SyncSlice(long long user_id, SliceGoal goal) {
  if (goal == SliceGoal::kLeave) {
    return;
  }
  auto live = pool_.Read([&](pqxx::read_transaction& tx) -> std::optional<orchestrator::SliceInfo> {
    SliceStore store(tx);
    auto id = store.LiveSliceOf(user_id);
    return id ? std::optional(store.Get(*id)) : std::nullopt;
  });
  switch (goal) {
    case SliceGoal::kRunning:
      if (!live) {
        long long id = slices_.AssignNow(user_id);
        spdlog::info("billing: account {} paid: slice {} assigned", user_id, id);
      } else if (live->state == SliceState::kSuspended) {
        slices_.Resume(live->id);
        spdlog::info("billing: account {}: slice {} resumed", user_id, live->id);
      }
      break;
    case SliceGoal::kSuspended:
      if (live && live->state == SliceState::kAssigned) {
        slices_.Suspend(live->id, "billing: payment overdue");
      }
      break;
    case SliceGoal::kDestroyed:
      if (live) {
        slices_.Destroy(live->id, "billing: canceled, the retention period is over");
        spdlog::info("billing: account {}: slice {} destroyed with its data", user_id, live->id);
      }
      break;
    case SliceGoal::kLeave:
      break;
  }
}

void BillingService::Start() {
  if (!enabled() || running_.exchange(true)) {
    return;
  }
  thread_ = std::thread([this] { Loop(); });
}

void BillingService::Stop() {
  if (!running_.exchange(false)) {
    return;
  }
  Wake();
  thread_.join();
}

void BillingService::Wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_all();
}

void BillingService::Loop() {
  while (running_) {
    std::chrono::milliseconds wait = options_.poll;
    try {
      RunDueJobs();
      if (auto next =
              pool_.Read([](pqxx::read_transaction& tx) { return BillingStore(tx).NextDue(); })) {
        auto until = std::chrono::duration_cast<std::chrono::milliseconds>(*next - Now());
        wait = std::clamp(until, std::chrono::milliseconds(0), options_.poll);
      }
    } catch (const std::exception& e) {
      spdlog::warn("billing: scheduler: {}", e.what());
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, wait, [this] { return woken_ || !running_; });
    woken_ = false;
  }
}

}  // namespace crm::billing
