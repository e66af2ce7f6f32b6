#include "crm/monitor/alert_store.hpp"

#include <set>

#include "crm/clock.hpp"
#include "crm/db/json.hpp"

namespace crm::monitor {

bool MayNotify(const std::optional<TimePoint>& last, TimePoint now, std::chrono::seconds interval) {
  return !last || now - *last >= interval;
}

std::vector<OpenedAlert> AlertStore::Reconcile(const std::vector<std::string>& kinds,
                                               const std::vector<Condition>& holding,
                                               TimePoint now) {
  std::string at = crm::FormatIso(now);
  std::vector<OpenedAlert> opened;
  std::set<std::pair<std::string, std::string>> held;
  for (const auto& c : holding) {
    if (!held.insert({c.subject, c.kind}).second) {
      continue;
    }
    // The partial unique index alerts_open makes a second open row impossible, even from a
    // second monitor that wrongly believed it was the leader.
    auto rows = tx_.exec_params(
        "INSERT INTO gateway.alerts (subject, kind, severity, message, opened_at) "
        "VALUES ($1, $2, $3, $4, $5::timestamptz) "
        "ON CONFLICT (subject, kind) WHERE resolved_at IS NULL DO UPDATE "
        "SET message = EXCLUDED.message, severity = EXCLUDED.severity "
        "RETURNING id, (xmax = 0) AS inserted",
        c.subject, c.kind, ToString(c.severity), c.message, at);
    if (rows[0][1].as<bool>()) {
      opened.push_back({rows[0][0].as<long long>(), c});
    }
  }
  for (const auto& kind : kinds) {
    auto open = tx_.exec_params(
        "SELECT id, subject FROM gateway.alerts WHERE kind = $1 AND resolved_at IS NULL", kind);
    for (const auto& row : open) {
      if (!held.contains({row[1].as<std::string>(), kind})) {
        tx_.exec_params(
            "UPDATE gateway.alerts SET resolved_at = greatest($2::timestamptz, opened_at) "
            "WHERE id = $1",
            row[0].as<long long>(), at);
      }
    }
  }
  return opened;
}

std::optional<TimePoint> AlertStore::LastNotified(const std::string& subject,
                                                  const std::string& kind) {
  auto r = tx_.exec_params1(
      "SELECT extract(epoch FROM max(notified_at))::bigint FROM gateway.alerts "
      "WHERE subject = $1 AND kind = $2",
      subject, kind);
  if (r[0].is_null()) {
    return std::nullopt;
  }
  return TimePoint(std::chrono::seconds(r[0].as<long long>()));
}

void AlertStore::MarkNotified(long long id, TimePoint now) {
  tx_.exec_params("UPDATE gateway.alerts SET notified_at = $2::timestamptz WHERE id = $1", id,
                  crm::FormatIso(now));
}

nlohmann::json AlertStore::ListJson(bool open_only, int limit) {
  auto r = tx_.exec_params1(
      "SELECT coalesce(json_agg(t ORDER BY t.opened_at DESC, t.id DESC), '[]')::text FROM ("
      "SELECT id, subject, kind, severity, message, opened_at, resolved_at FROM gateway.alerts "
      "WHERE NOT $1 OR resolved_at IS NULL ORDER BY opened_at DESC, id DESC LIMIT $2) t",
      open_only, limit);
  return db::JsonOf(r[0]);
}

long long AlertStore::CountOpen() {
  return tx_.exec1("SELECT count(*) FROM gateway.alerts WHERE resolved_at IS NULL")[0]
      .as<long long>();
}

std::map<std::pair<std::string, std::string>, long long> AlertStore::CountOpenByKind() {
  std::map<std::pair<std::string, std::string>, long long> out;
  for (const auto& row : tx_.exec("SELECT kind, severity, count(*) FROM gateway.alerts "
                                  "WHERE resolved_at IS NULL GROUP BY kind, severity")) {
    out[{row[0].as<std::string>(), row[1].as<std::string>()}] = row[2].as<long long>();
  }
  return out;
}

std::map<std::string, OpenSeverities> AlertStore::OpenBySubject() {
  std::map<std::string, OpenSeverities> out;
  for (const auto& row :
       tx_.exec("SELECT subject, severity FROM gateway.alerts WHERE resolved_at IS NULL")) {
    auto& s = out[row[0].as<std::string>()];
    (row[1].as<std::string>() == "critical" ? s.critical : s.warning) = true;
  }
  return out;
}

std::vector<std::string> AlertStore::AdminEmails() {
  std::vector<std::string> out;
  for (const auto& row : tx_.exec("SELECT email FROM gateway.users WHERE role = 'admin' AND status "
                                  "= 'active' ORDER BY id")) {
    out.push_back(row[0].as<std::string>());
  }
  return out;
}

std::optional<std::string> AlertStore::TenantEmail(long long slice_id) {
  auto rows = tx_.exec_params(
      "SELECT u.email FROM gateway.slices s JOIN gateway.users u ON u.id = s.user_id "
      "WHERE s.id = $1",
      slice_id);
  if (rows.empty()) {
    return std::nullopt;
  }
  return rows[0][0].as<std::string>();
}

}  // namespace crm::monitor
