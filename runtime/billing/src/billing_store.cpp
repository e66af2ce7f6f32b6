#include "crm/billing/billing_store.hpp"

namespace crm::billing {
namespace {

constexpr const char* kColumns =
    "user_id, coalesce(stripe_customer_id, '') AS customer, coalesce(stripe_subscription_id, '') "
    "AS subscription, status, cancel_at_period_end, "
    "extract(epoch FROM current_period_end)::bigint AS current_period_end, "
    "extract(epoch FROM grace_ends_at)::bigint AS grace_ends_at, "
    "extract(epoch FROM trial_ends_at)::bigint AS trial_ends_at, "
    "extract(epoch FROM canceled_at)::bigint AS canceled_at, "
    "extract(epoch FROM data_deleted_at)::bigint AS data_deleted_at, "
    "extract(epoch FROM started_at)::bigint AS started_at, "
    "extract(epoch FROM last_event_created)::bigint AS last_event_created";

std::optional<Time> TimeField(const pqxx::field& f) {
  if (f.is_null()) {
    return std::nullopt;
  }
  return Time{std::chrono::seconds(f.as<long long>())};
}

std::optional<long long> Epoch(const std::optional<Time>& t) {
  if (!t) {
    return std::nullopt;
  }
  return t->time_since_epoch().count();
}

std::optional<std::string> NullIfEmpty(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional(s);
}

}  // namespace

std::optional<Subscription> BillingStore::Load(long long user_id, bool lock) {
  auto rows = tx_.exec_params(std::string("SELECT ") + kColumns +
                                  " FROM gateway.subscriptions WHERE user_id = $1" +
                                  (lock ? " FOR UPDATE" : ""),
                              user_id);
  if (rows.empty()) {
    return std::nullopt;
  }
  const auto& r = rows[0];
  Subscription s;
  s.user_id = r["user_id"].as<long long>();
  s.customer_id = r["customer"].as<std::string>();
  s.subscription_id = r["subscription"].as<std::string>();
  s.status = ParseStatus(r["status"].as<std::string>());
  s.cancel_at_period_end = r["cancel_at_period_end"].as<bool>();
  s.current_period_end = TimeField(r["current_period_end"]);
  s.grace_ends_at = TimeField(r["grace_ends_at"]);
  s.trial_ends_at = TimeField(r["trial_ends_at"]);
  s.canceled_at = TimeField(r["canceled_at"]);
  s.data_deleted_at = TimeField(r["data_deleted_at"]);
  s.started_at = TimeField(r["started_at"]);
  s.last_event_created = TimeField(r["last_event_created"]);
  return s;
}

void BillingStore::Save(const Subscription& s) {
  tx_.exec_params(
      "INSERT INTO gateway.subscriptions (user_id, stripe_customer_id, stripe_subscription_id, "
      "status, cancel_at_period_end, current_period_end, grace_ends_at, trial_ends_at, "
      "canceled_at, data_deleted_at, started_at, last_event_created, updated_at) VALUES ($1, $2, "
      "$3, $4, $5, to_timestamp($6), to_timestamp($7), to_timestamp($8), to_timestamp($9), "
      "to_timestamp($10), to_timestamp($11), to_timestamp($12), now()) "
      "ON CONFLICT (user_id) DO UPDATE SET stripe_customer_id = EXCLUDED.stripe_customer_id, "
      "stripe_subscription_id = EXCLUDED.stripe_subscription_id, status = EXCLUDED.status, "
      "cancel_at_period_end = EXCLUDED.cancel_at_period_end, current_period_end = "
      "EXCLUDED.current_period_end, grace_ends_at = EXCLUDED.grace_ends_at, trial_ends_at = "
      "EXCLUDED.trial_ends_at, canceled_at = EXCLUDED.canceled_at, data_deleted_at = "
      "EXCLUDED.data_deleted_at, started_at = EXCLUDED.started_at, last_event_created = "
      "EXCLUDED.last_event_created, updated_at = now()",
      s.user_id, NullIfEmpty(s.customer_id), NullIfEmpty(s.subscription_id),
      std::string(ToString(s.status)), s.cancel_at_period_end, Epoch(s.current_period_end),
      Epoch(s.grace_ends_at), Epoch(s.trial_ends_at), Epoch(s.canceled_at),
      Epoch(s.data_deleted_at), Epoch(s.started_at), Epoch(s.last_event_created));
}

std::optional<long long> BillingStore::UserOfCustomer(const std::string& customer_id) {
  auto rows = tx_.exec_params(
      "SELECT user_id FROM gateway.subscriptions WHERE stripe_customer_id = $1", customer_id);
  return rows.empty() ? std::nullopt : std::optional(rows[0][0].as<long long>());
}

std::optional<long long> BillingStore::UserOfSubscription(const std::string& subscription_id) {
  auto rows = tx_.exec_params(
      "SELECT user_id FROM gateway.subscriptions WHERE stripe_subscription_id = $1 LIMIT 1",
      subscription_id);
  return rows.empty() ? std::nullopt : std::optional(rows[0][0].as<long long>());
}

bool BillingStore::UserExists(long long user_id) {
  return !tx_.exec_params("SELECT 1 FROM gateway.users WHERE id = $1", user_id).empty();
}

std::string BillingStore::EmailOf(long long user_id) {
  return tx_.exec_params1("SELECT email FROM gateway.users WHERE id = $1", user_id)[0]
      .as<std::string>();
}

bool BillingStore::RecordEvent(const StripeEvent& e) {
  auto rows = tx_.exec_params(
      "INSERT INTO gateway.billing_events (id, type, created) VALUES ($1, $2, to_timestamp($3)) "
      "ON CONFLICT (id) DO NOTHING RETURNING id",
      e.id, e.type, e.created.time_since_epoch().count());
  return !rows.empty();
}

void BillingStore::MarkEventApplied(const std::string& id, std::optional<long long> user_id,
                                    const std::string& outcome) {
  tx_.exec_params(
      "UPDATE gateway.billing_events SET applied_at = now(), user_id = $2, outcome = $3 "
      "WHERE id = $1",
      id, user_id, outcome);
}

void BillingStore::AddJob(const std::string& kind, long long user_id, Time run_at) {
  tx_.exec_params(
      "INSERT INTO gateway.billing_jobs (kind, user_id, run_at) VALUES ($1, $2, to_timestamp($3))",
      kind, user_id, run_at.time_since_epoch().count());
}

std::optional<BillingJob> BillingStore::ClaimDue(Time now) {
  auto rows = tx_.exec_params(
      "SELECT id, kind, user_id, attempts FROM gateway.billing_jobs WHERE done_at IS NULL AND "
      "run_at <= to_timestamp($1) ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
      now.time_since_epoch().count());
  if (rows.empty()) {
    return std::nullopt;
  }
  return BillingJob{rows[0]["id"].as<long long>(), rows[0]["kind"].as<std::string>(),
                    rows[0]["user_id"].as<long long>(), rows[0]["attempts"].as<int>()};
}

void BillingStore::MarkDone(long long job_id) {
  tx_.exec_params("UPDATE gateway.billing_jobs SET done_at = now() WHERE id = $1", job_id);
}

void BillingStore::MarkFailed(long long job_id, const std::string& error, Time retry_at) {
  tx_.exec_params(
      "UPDATE gateway.billing_jobs SET attempts = attempts + 1, last_error = $2, run_at = "
      "to_timestamp($3) WHERE id = $1",
      job_id, error.substr(0, 1000), retry_at.time_since_epoch().count());
}

std::optional<Time> BillingStore::NextDue() {
  auto r = tx_.exec1(
      "SELECT extract(epoch FROM min(run_at))::bigint FROM gateway.billing_jobs WHERE done_at IS "
      "NULL");
  if (r[0].is_null()) {
    return std::nullopt;
  }
  return Time{std::chrono::seconds(r[0].as<long long>())};
}

void BillingStore::RecordFailedPayment(long long user_id, const StripeEvent& e) {
  tx_.exec_params(
      "INSERT INTO gateway.billing_failed_payments (user_id, event_id, amount_cents, created) "
      "VALUES ($1, $2, $3, to_timestamp($4)) ON CONFLICT (event_id) DO NOTHING",
      user_id, e.id, e.amount_cents, e.created.time_since_epoch().count());
}

nlohmann::json BillingStore::Revenue(long long monthly_cents, Time now) {
  long long epoch = now.time_since_epoch().count();
  nlohmann::json counts = {{"active", 0},    {"trialing", 0}, {"past_due", 0},
                           {"suspended", 0}, {"canceled", 0}, {"none", 0}};
  for (const auto& r :
       tx_.exec("SELECT status, count(*) FROM gateway.subscriptions GROUP BY status")) {
    counts[r[0].as<std::string>()] = r[1].as<long long>();
  }
  long long paying = counts["active"].get<long long>() + counts["past_due"].get<long long>();
  // Churn per calendar month: cancellations in it over subscriptions paid for at its start
  // (started before it, not canceled before it).
  nlohmann::json churn = nlohmann::json::array();
  for (const auto& r : tx_.exec_params(
           "WITH months AS (SELECT generate_series(date_trunc('month', to_timestamp($1) AT TIME "
           "ZONE 'UTC') - interval '11 months', date_trunc('month', to_timestamp($1) AT TIME ZONE "
           "'UTC'), interval '1 month') AT TIME ZONE 'UTC' AS start) "
           "SELECT to_char(m.start AT TIME ZONE 'UTC', 'YYYY-MM'), "
           "(SELECT count(*) FROM gateway.subscriptions s WHERE s.canceled_at >= m.start AND "
           "s.canceled_at < m.start + interval '1 month'), "
           "(SELECT count(*) FROM gateway.subscriptions s WHERE s.started_at < m.start AND "
           "(s.canceled_at IS NULL OR s.canceled_at >= m.start)) "
           "FROM months m ORDER BY m.start",
           epoch)) {
    long long canceled = r[1].as<long long>();
    long long at_start = r[2].as<long long>();
    double rate =
        at_start == 0 ? 0.0 : static_cast<double>(canceled) / static_cast<double>(at_start);
    churn.push_back({{"month", r[0].as<std::string>()},
                     {"canceled", canceled},
                     {"active_at_start", at_start},
                     {"rate", rate}});
  }
  long long failed = tx_.exec_params1(
                            "SELECT count(*) FROM gateway.billing_failed_payments WHERE created > "
                            "to_timestamp($1) - interval '30 days'",
                            epoch)[0]
                         .as<long long>();
  counts.erase("none");
  return {{"mrr_cents", paying * monthly_cents},
          {"subscriptions", counts},
          {"churn", churn},
          {"failed_payments_30d", failed}};
}

}  // namespace crm::billing
