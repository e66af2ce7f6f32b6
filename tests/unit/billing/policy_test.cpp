#include "crm/billing/policy.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::billing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const Time kNow = *ParseIso("2026-11-02T09:00:00Z");
const std::string kApp = "https://crm.test";

StripeEvent Event(const std::string& type, Time created = kNow) {
  StripeEvent e;
  e.id = "evt_" + type;
  e.type = type;
  e.created = created;
  e.customer = "cus_1";
  e.subscription = "sub_1";
  return e;
}

Subscription With(Status status) {
  Subscription s = Unpaid(7);
  s.customer_id = "cus_1";
  s.subscription_id = status == Status::kNone ? "" : "sub_1";
  s.status = status;
  return s;
}

TEST(PolicyTest, PayFirstSignUpHasNoTrialAndNoSlice) {
  Decision d = SignUp(7, PolicyConfig{}, kNow);
  EXPECT_EQ(d.next.status, Status::kNone);
  EXPECT_TRUE(d.timers.empty());
  EXPECT_EQ(GoalOf(d.next, kNow), SliceGoal::kLeave);
}

TEST(PolicyTest, ATrialStartsAtSignUpWithItsExpiry) {
  PolicyConfig config;
  config.trial = std::chrono::days(14);
  Decision d = SignUp(7, config, kNow);
  EXPECT_EQ(d.next.status, Status::kTrialing);
  ASSERT_EQ(d.timers.size(), 1u);
  EXPECT_EQ(d.timers[0].run_at, kNow + std::chrono::days(14));
  EXPECT_EQ(GoalOf(d.next, kNow), SliceGoal::kRunning);
  // Unpaid at its end: suspended.
  Decision later = ApplyClock(d.next, kNow + std::chrono::days(14), kApp);
  EXPECT_EQ(later.next.status, Status::kSuspended);
  EXPECT_EQ(ApplyClock(d.next, kNow + std::chrono::days(13), kApp).next.status, Status::kTrialing);
}

TEST(PolicyTest, CheckoutCompletedActivatesAndAssignsTheSlice) {
  Decision d = ApplyEvent(Unpaid(7), Event("checkout.session.completed"), {}, kNow, kApp);
  EXPECT_EQ(d.next.status, Status::kActive);
  EXPECT_EQ(d.next.subscription_id, "sub_1");
  EXPECT_EQ(d.next.customer_id, "cus_1");
  EXPECT_TRUE(d.sync_slice);
  EXPECT_EQ(d.next.started_at, kNow);
  EXPECT_EQ(GoalOf(d.next, kNow), SliceGoal::kRunning);
}

TEST(PolicyTest, AFailedPaymentStartsGraceWithADunningMailThenSuspends) {
  Decision d = ApplyEvent(With(Status::kActive), Event("invoice.payment_failed"), {}, kNow, kApp);
  EXPECT_EQ(d.next.status, Status::kPastDue);
  EXPECT_EQ(d.next.grace_ends_at, kNow + std::chrono::days(7));
  EXPECT_TRUE(d.failed_payment);
  ASSERT_EQ(d.mails.size(), 1u);
  EXPECT_EQ(d.mails[0].template_name, "payment_failed");
  EXPECT_EQ(d.mails[0].params["grace_ends_at"], "2026-11-09 (UTC)");
  EXPECT_EQ(d.mails[0].params["link"], "https://crm.test/app/billing");
  ASSERT_EQ(d.timers.size(), 1u);
  EXPECT_EQ(d.timers[0].kind, "grace_expiry");
  EXPECT_EQ(GoalOf(d.next, kNow), SliceGoal::kRunning);  // the slice keeps running in grace

  // A second failure does not push the grace end back.
  Decision again =
      ApplyEvent(d.next, Event("invoice.payment_failed", kNow + 3 * 24h), {}, kNow + 3 * 24h, kApp);
  EXPECT_EQ(again.next.grace_ends_at, d.next.grace_ends_at);
  EXPECT_TRUE(again.mails.empty());

  EXPECT_EQ(ApplyClock(d.next, kNow + std::chrono::days(7) - 1s, kApp).next.status,
            Status::kPastDue);
  Decision over = ApplyClock(d.next, kNow + std::chrono::days(8), kApp);
  EXPECT_EQ(over.next.status, Status::kSuspended);
  EXPECT_TRUE(over.sync_slice);
  ASSERT_EQ(over.mails.size(), 1u);
  EXPECT_EQ(over.mails[0].template_name, "suspended");
  EXPECT_EQ(GoalOf(over.next, kNow), SliceGoal::kSuspended);
}

TEST(PolicyTest, PaymentRestoredResumes) {
  Subscription suspended = With(Status::kSuspended);
  Decision d = ApplyEvent(suspended, Event("invoice.paid"), {}, kNow, kApp);
  EXPECT_EQ(d.next.status, Status::kActive);
  EXPECT_FALSE(d.next.grace_ends_at);
  EXPECT_TRUE(d.sync_slice);
}

TEST(PolicyTest, CancelKeepsTheDataForTheRetentionThenDestroys) {
  Subscription suspended = With(Status::kSuspended);
  Decision d = ApplyEvent(suspended, Event("customer.subscription.deleted"), {}, kNow, kApp);
  EXPECT_EQ(d.next.status, Status::kCanceled);
  EXPECT_EQ(d.next.data_deleted_at, kNow + std::chrono::days(7));
  EXPECT_TRUE(d.sync_slice);  // a suspended slice runs again for the export
  EXPECT_EQ(GoalOf(d.next, kNow), SliceGoal::kRunning);
  ASSERT_EQ(d.mails.size(), 1u);
  EXPECT_EQ(d.mails[0].template_name, "canceled_export_offer");
  EXPECT_EQ(d.mails[0].params["link"], "https://crm.test/app/settings");
  EXPECT_EQ(GoalOf(d.next, kNow + std::chrono::days(8)), SliceGoal::kDestroyed);
  EXPECT_TRUE(ApplyClock(d.next, kNow + std::chrono::days(8), kApp).sync_slice);
  // A late invoice of the canceled subscription changes nothing; a new subscription does.
  EXPECT_EQ(ApplyEvent(d.next, Event("invoice.paid"), {}, kNow, kApp).next.status,
            Status::kCanceled);
  StripeEvent renewed = Event("checkout.session.completed");
  renewed.subscription = "sub_2";
  Decision back = ApplyEvent(d.next, renewed, {}, kNow + 24h, kApp);
  EXPECT_EQ(back.next.status, Status::kActive);
  EXPECT_FALSE(back.next.data_deleted_at);
  EXPECT_EQ(GoalOf(back.next, kNow + std::chrono::days(30)), SliceGoal::kRunning);
}

TEST(PolicyTest, SubscriptionUpdatesFollowStripesStatus) {
  StripeEvent past_due = Event("customer.subscription.updated");
  past_due.subscription_status = "past_due";
  past_due.cancel_at_period_end = true;
  Decision d = ApplyEvent(With(Status::kActive), past_due, {}, kNow, kApp);
  EXPECT_EQ(d.next.status, Status::kPastDue);
  EXPECT_TRUE(d.next.cancel_at_period_end);
  StripeEvent active = past_due;
  active.subscription_status = "active";
  EXPECT_EQ(ApplyEvent(d.next, active, {}, kNow, kApp).next.status, Status::kActive);
  StripeEvent canceled = past_due;
  canceled.subscription_status = "canceled";
  EXPECT_EQ(ApplyEvent(d.next, canceled, {}, kNow, kApp).next.status, Status::kCanceled);
}

TEST(PolicyTest, TheLastEventTimeOnlyMovesForward) {
  Subscription s = With(Status::kActive);
  s.last_event_created = kNow;
  Decision d = ApplyEvent(s, Event("invoice.paid", kNow - 60s), {}, kNow, kApp);
  EXPECT_EQ(d.next.last_event_created, kNow);
}

TEST(PolicyTest, ParsesStripesEventShapes) {
  json checkout = {{"id", "evt_1"},
                   {"object", "event"},
                   {"type", "checkout.session.completed"},
                   {"created", 1780000000},
                   {"data",
                    {{"object",
                      {{"id", "cs_1"},
                       {"object", "checkout.session"},
                       {"customer", "cus_9"},
                       {"subscription", "sub_9"},
                       {"client_reference_id", "42"}}}}}};
  StripeEvent e = ParseEvent(checkout);
  EXPECT_EQ(e.user_id, 42);
  EXPECT_EQ(e.customer, "cus_9");
  EXPECT_EQ(e.subscription, "sub_9");
  EXPECT_EQ(e.created.time_since_epoch().count(), 1780000000);

  json invoice = {{"id", "evt_2"},
                  {"type", "invoice.payment_failed"},
                  {"created", 1780000000},
                  {"data",
                   {{"object",
                     {{"customer", {{"id", "cus_9"}}},
                      {"amount_due", 450},
                      {"parent", {{"subscription_details", {{"subscription", "sub_9"}}}}},
                      {"lines", {{"data", {{{"period", {{"end", 1782600000}}}}}}}}}}}}};
  StripeEvent i = ParseEvent(invoice);
  EXPECT_EQ(i.customer, "cus_9");
  EXPECT_EQ(i.subscription, "sub_9");
  EXPECT_EQ(i.amount_cents, 450);
  EXPECT_EQ(i.current_period_end->time_since_epoch().count(), 1782600000);

  EXPECT_THROW(ParseEvent(json::array()), InputError);
  EXPECT_THROW(ParseEvent({{"id", "evt"}, {"type", "x"}, {"created", "soon"}}), InputError);
  EXPECT_THROW(ParseEvent({{"id", "evt"}, {"type", "x"}, {"created", 1}}), InputError);
}

TEST(PolicyTest, ALateEventIsReplacedByTheSubscriptionsState) {
  json subscription = {{"id", "sub_1"},
                       {"customer", "cus_1"},
                       {"status", "active"},
                       {"current_period_end", 1782600000}};
  StripeEvent late = Event("invoice.payment_failed", kNow - 3600s);
  StripeEvent e = EventFromSubscription(subscription, late);
  EXPECT_EQ(e.type, "customer.subscription.updated");
  EXPECT_EQ(e.id, late.id);
  Decision d = ApplyEvent(With(Status::kActive), e, {}, kNow, kApp);
  EXPECT_EQ(d.next.status, Status::kActive);
  EXPECT_TRUE(d.mails.empty());
}

TEST(PolicyTest, IsoTimesRoundTrip) {
  EXPECT_EQ(FormatIso(kNow), "2026-11-02T09:00:00Z");
  EXPECT_EQ(ParseIso("2026-11-02T09:00:00.123Z"), kNow);
  EXPECT_EQ(ParseIso("2026-11-02T09:00:00+00:00\n"), kNow);
  EXPECT_FALSE(ParseIso("2026-13-02T09:00:00Z"));
  EXPECT_FALSE(ParseIso("yesterday"));
}

}  // namespace
}  // namespace crm::billing
