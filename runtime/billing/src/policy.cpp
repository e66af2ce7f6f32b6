#include "crm/billing/policy.hpp"

#include <algorithm>
#include <array>

#include "crm/error.hpp"

namespace crm::billing {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 6> kNames = {"none",     "trialing",  "active",
                                                    "past_due", "suspended", "canceled"};

// An id field that may be a string or an expanded object with "id".
std::string IdOf(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) {
    return {};
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  if (it->is_object() && it->contains("id") && (*it)["id"].is_string()) {
    return (*it)["id"].get<std::string>();
  }
  return {};
}

std::optional<Time> TimeAt(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) {
    return std::nullopt;
  }
  return Time{std::chrono::seconds(it->get<long long>())};
}

std::optional<long long> UserIdText(const std::string& text) {
  if (text.empty() || text.size() > 17 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoll(text);
}

std::optional<long long> MetadataUser(const json& object) {
  auto it = object.find("metadata");
  if (it == object.end() || !it->is_object()) {
    return std::nullopt;
  }
  auto user = it->find("user_id");
  return user != it->end() && user->is_string() ? UserIdText(user->get<std::string>())
                                                : std::nullopt;
}

// A subscription object's fields (customer.subscription.* and the re-read).
void ReadSubscription(const json& object, StripeEvent& e) {
  e.subscription = IdOf(object, "id");
  e.customer = IdOf(object, "customer");
  e.subscription_status = object.value("status", "");
  e.current_period_end = TimeAt(object, "current_period_end");
  // Newer API versions keep the period on the items.
  if (!e.current_period_end && object.contains("items") && object["items"].is_object() &&
      object["items"].contains("data") && object["items"]["data"].is_array() &&
      !object["items"]["data"].empty() && object["items"]["data"][0].is_object()) {
    e.current_period_end = TimeAt(object["items"]["data"][0], "current_period_end");
  }
  e.trial_end = TimeAt(object, "trial_end");
  e.cancel_at_period_end = object.value("cancel_at_period_end", false);
  e.user_id = MetadataUser(object);
}

std::string BillingLink(const std::string& app_url) {
  return app_url + "/app/billing";
}

void Activate(Decision& d) {
  Subscription& s = d.next;
  s.status = Status::kActive;
  s.grace_ends_at.reset();
  s.trial_ends_at.reset();
  s.canceled_at.reset();
  s.data_deleted_at.reset();
  d.sync_slice = true;
}

void StartGrace(Decision& d, const PolicyConfig& config, Time now, const std::string& app_url) {
  Subscription& s = d.next;
  s.status = Status::kPastDue;
  s.grace_ends_at = now + config.grace;
  d.mails.push_back(
      {"payment_failed",
       {{"grace_ends_at", MailDate(*s.grace_ends_at)}, {"link", BillingLink(app_url)}}});
  d.timers.push_back({"grace_expiry", *s.grace_ends_at});
}

void Cancel(Decision& d, const PolicyConfig& config, Time now, const std::string& app_url) {
  Subscription& s = d.next;
  s.status = Status::kCanceled;
  s.canceled_at = now;
  s.data_deleted_at = now + config.retention;
  s.grace_ends_at.reset();
  s.cancel_at_period_end = false;
  d.mails.push_back({"canceled_export_offer",
                     {{"data_deleted_at", MailDate(*s.data_deleted_at)},
                      {"link", app_url + "/app/settings"},
                      {"billing_link", BillingLink(app_url)}}});
  d.timers.push_back({"retention_expiry", *s.data_deleted_at});
  // A suspended slice runs again so the tenant can sign in and export.
  d.sync_slice = true;
}

void Suspend(Decision& d, const std::string& why, const std::string& app_url) {
  d.next.status = Status::kSuspended;
  d.next.grace_ends_at.reset();
  d.mails.push_back({"suspended", {{"reason", why}, {"link", BillingLink(app_url)}}});
  d.sync_slice = true;
}

bool Paying(Status s) {
  return s == Status::kActive || s == Status::kTrialing;
}

// customer.subscription.updated (and a re-read): Stripe's status moves ours.
void ApplySubscriptionState(Decision& d, const StripeEvent& e, const PolicyConfig& config, Time now,
                            const std::string& app_url) {
  Subscription& s = d.next;
  bool same_subscription = s.subscription_id.empty() || s.subscription_id == e.subscription;
  if (s.status == Status::kCanceled && same_subscription && !s.subscription_id.empty()) {
    d.note = "ignored: the subscription was canceled";
    return;
  }
  if (!e.subscription.empty()) {
    s.subscription_id = e.subscription;
  }
  if (e.current_period_end) {
    s.current_period_end = e.current_period_end;
  }
  s.cancel_at_period_end = e.cancel_at_period_end;
  const std::string& stripe = e.subscription_status;
  if (stripe == "active") {
    if (s.status != Status::kActive) {
      Activate(d);
    }
  } else if (stripe == "trialing") {
    if (s.status == Status::kNone) {
      s.status = Status::kTrialing;
      s.trial_ends_at = e.trial_end;
      d.sync_slice = true;
    }
  } else if (stripe == "past_due" || stripe == "unpaid") {
    if (Paying(s.status)) {
      StartGrace(d, config, now, app_url);
    }
  } else if (stripe == "canceled" || stripe == "incomplete_expired") {
    Cancel(d, config, now, app_url);
  } else {
    d.note = "subscription is " + stripe + ": nothing to do";
  }
}

}  // namespace

std::string_view ToString(Status status) {
  return kNames[static_cast<std::size_t>(status)];
}

Status ParseStatus(std::string_view text) {
  auto it = std::find(kNames.begin(), kNames.end(), text);
  if (it == kNames.end()) {
    throw InputError("status: unknown subscription status \"" + std::string(text) + "\"", "status");
  }
  return static_cast<Status>(it - kNames.begin());
}

std::string MailDate(Time t) {
  return FormatIso(t).substr(0, 10) + " (UTC)";
}

StripeEvent ParseEvent(const json& event) {
  if (!event.is_object()) {
    throw InputError("event: expected a JSON object");
  }
  StripeEvent e;
  if (!event.contains("id") || !event["id"].is_string() || event["id"].get<std::string>().empty() ||
      event["id"].get<std::string>().size() > 255) {
    throw InputError("id: expected the event's id (evt_…)", "id");
  }
  e.id = event["id"].get<std::string>();
  if (!event.contains("type") || !event["type"].is_string()) {
    throw InputError("type: expected the event's type", "type");
  }
  e.type = event["type"].get<std::string>();
  auto created = TimeAt(event, "created");
  if (!created) {
    throw InputError("created: expected a Unix time", "created");
  }
  e.created = *created;
  if (!event.contains("data") || !event["data"].is_object() || !event["data"].contains("object") ||
      !event["data"]["object"].is_object()) {
    throw InputError("data.object: expected the event's object", "data.object");
  }
  const json& object = event["data"]["object"];
  if (e.type.starts_with("customer.subscription.")) {
    ReadSubscription(object, e);
  } else if (e.type == "checkout.session.completed") {
    e.customer = IdOf(object, "customer");
    e.subscription = IdOf(object, "subscription");
    e.user_id = UserIdText(object.value("client_reference_id", json()).is_string()
                               ? object["client_reference_id"].get<std::string>()
                               : std::string());
    if (!e.user_id) {
      e.user_id = MetadataUser(object);
    }
  } else if (e.type.starts_with("invoice.")) {
    e.customer = IdOf(object, "customer");
    e.subscription = IdOf(object, "subscription");
    // Newer API versions: parent.subscription_details.subscription.
    if (e.subscription.empty() && object.contains("parent") && object["parent"].is_object() &&
        object["parent"].contains("subscription_details") &&
        object["parent"]["subscription_details"].is_object()) {
      e.subscription = IdOf(object["parent"]["subscription_details"], "subscription");
    }
    if (object.contains("amount_due") && object["amount_due"].is_number_integer()) {
      e.amount_cents = object["amount_due"].get<long long>();
    }
    if (object.contains("lines") && object["lines"].is_object() &&
        object["lines"].contains("data") && object["lines"]["data"].is_array() &&
        !object["lines"]["data"].empty()) {
      const json& line = object["lines"]["data"][0];
      if (line.is_object() && line.contains("period") && line["period"].is_object()) {
        e.current_period_end = TimeAt(line["period"], "end");
      }
    }
  }
  return e;
}

StripeEvent EventFromSubscription(const json& subscription, const StripeEvent& late) {
  StripeEvent e;
  e.id = late.id;
  e.created = late.created;
  ReadSubscription(subscription, e);
  e.type = e.subscription_status == "canceled" ? "customer.subscription.deleted"
                                               : "customer.subscription.updated";
  if (!e.user_id) {
    e.user_id = late.user_id;
  }
  return e;
}

SliceGoal GoalOf(const Subscription& s, Time now) {
  switch (s.status) {
    case Status::kNone:
      return SliceGoal::kLeave;
    case Status::kTrialing:
    case Status::kActive:
    case Status::kPastDue:
      return SliceGoal::kRunning;
    case Status::kSuspended:
      return SliceGoal::kSuspended;
    case Status::kCanceled:
      return s.data_deleted_at && *s.data_deleted_at <= now ? SliceGoal::kDestroyed
                                                            : SliceGoal::kRunning;
  }
  return SliceGoal::kLeave;
}

Decision SignUp(long long user_id, const PolicyConfig& config, Time now) {
  Decision d;
  d.next.user_id = user_id;
  if (config.trial.count() > 0) {
    d.next.status = Status::kTrialing;
    d.next.trial_ends_at = now + config.trial;
    d.timers.push_back({"trial_expiry", *d.next.trial_ends_at});
  }
  return d;
}

Decision ApplyEvent(const Subscription& current, const StripeEvent& e, const PolicyConfig& config,
                    Time now, const std::string& app_url) {
  Decision d{current, {}, {}, false, false, {}};
  Subscription& s = d.next;
  if (!e.customer.empty() && s.customer_id.empty()) {
    s.customer_id = e.customer;
  }
  if (!s.last_event_created || *s.last_event_created < e.created) {
    s.last_event_created = e.created;
  }
  if (e.type == "checkout.session.completed") {
    if (!e.subscription.empty()) {
      s.subscription_id = e.subscription;
    }
    if (s.status == Status::kActive) {
      d.note = "already active";
      return d;
    }
    Activate(d);
    if (!s.started_at) {
      s.started_at = now;
    }
  } else if (e.type == "invoice.paid") {
    if (s.status == Status::kCanceled && !s.subscription_id.empty() &&
        (e.subscription.empty() || e.subscription == s.subscription_id)) {
      d.note = "ignored: an invoice of the canceled subscription";
      return d;
    }
    if (!e.subscription.empty()) {
      s.subscription_id = e.subscription;
    }
    if (e.current_period_end) {
      s.current_period_end = e.current_period_end;
    }
    if (s.status != Status::kActive) {
      Activate(d);
    }
    if (!s.started_at) {
      s.started_at = now;
    }
  } else if (e.type == "invoice.payment_failed") {
    d.failed_payment = true;
    if (Paying(s.status)) {
      StartGrace(d, config, now, app_url);
    } else {
      d.note = "payment failed while " + std::string(ToString(s.status));
    }
  } else if (e.type == "customer.subscription.updated") {
    ApplySubscriptionState(d, e, config, now, app_url);
  } else if (e.type == "customer.subscription.deleted") {
    if (s.status == Status::kCanceled) {
      d.note = "already canceled";
      return d;
    }
    if (!s.subscription_id.empty() && !e.subscription.empty() &&
        s.subscription_id != e.subscription) {
      d.note = "ignored: another subscription than the account's";
      return d;
    }
    Cancel(d, config, now, app_url);
  } else if (e.type == "customer.subscription.trial_will_end") {
    d.mails.push_back(
        {"trial_will_end",
         {{"trial_ends_at", MailDate(e.trial_end.value_or(now))}, {"link", BillingLink(app_url)}}});
  } else {
    d.note = "ignored: billing does not use " + e.type;
  }
  return d;
}

Decision ApplyClock(const Subscription& current, Time now, const std::string& app_url) {
  Decision d{current, {}, {}, false, false, {}};
  const Subscription& s = current;
  if (s.status == Status::kPastDue && s.grace_ends_at && *s.grace_ends_at <= now) {
    Suspend(d, "the payment is still missing after the grace period", app_url);
  } else if (s.status == Status::kTrialing && s.subscription_id.empty() && s.trial_ends_at &&
             *s.trial_ends_at <= now) {
    Suspend(d, "the trial ended without a subscription", app_url);
  } else if (GoalOf(s, now) == SliceGoal::kDestroyed) {
    d.sync_slice = true;
  } else {
    d.note = "nothing due";
  }
  return d;
}

}  // namespace crm::billing
