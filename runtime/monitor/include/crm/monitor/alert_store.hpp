// The alert log's SQL (gateway.alerts): at most one open alert per subject and kind, opened
// while its condition holds and resolved when it stops; who gets told. Runs inside the caller's
// transaction; the caller commits.
#pragma once

#include <pqxx/pqxx>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "crm/monitor/checks.hpp"

namespace crm::monitor {

/// An alert this pass opened.
struct OpenedAlert {
  long long id = 0;
  Condition condition;
};

/// The open alerts of one subject, by severity.
struct OpenSeverities {
  bool critical = false;
  bool warning = false;
};

/// Whether another notification for a subject and kind may go out: none went out within
/// `interval` before `now` (`last`: when the latest went out, if ever).
bool MayNotify(const std::optional<TimePoint>& last, TimePoint now, std::chrono::seconds interval);

class AlertStore {
 public:
  explicit AlertStore(pqxx::transaction_base& tx) : tx_(tx) {}

  /// Opens an alert for each condition in `holding` that has none open (an open one keeps its
  /// row, its message updated), and resolves at `now` the open alerts of `kinds` whose condition
  /// is not in `holding`. Returns the alerts it opened.
  std::vector<OpenedAlert> Reconcile(const std::vector<std::string>& kinds,
                                     const std::vector<Condition>& holding, TimePoint now);
  /// When the latest notification for (subject, kind) went out.
  std::optional<TimePoint> LastNotified(const std::string& subject, const std::string& kind);
  void MarkNotified(long long id, TimePoint now);

  /// GET /admin/alerts: newest first, at most `limit`; open ones only when `open_only`.
  nlohmann::json ListJson(bool open_only, int limit);
  long long CountOpen();
  /// Open alerts by (kind, severity): /metrics' crm_alerts_open.
  std::map<std::pair<std::string, std::string>, long long> CountOpenByKind();
  std::map<std::string, OpenSeverities> OpenBySubject();

  /// Active administrators' addresses.
  std::vector<std::string> AdminEmails();
  /// The address of the tenant a slice is assigned to.
  std::optional<std::string> TenantEmail(long long slice_id);

 private:
  pqxx::transaction_base& tx_;
};

}  // namespace crm::monitor
