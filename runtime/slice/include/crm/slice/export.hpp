// A tenant's CRM as JSON lines (docs/api.md, GET /api/export), produced a page at a time so that
// memory stays bounded however large the slice is.
#pragma once

#include <pqxx/pqxx>

#include <string>

namespace crm::slice {

/// One export: Begin fixes what it covers, then NextPage hands out its lines. Each call runs in
/// the caller's transaction; pages may come from different transactions.
class SliceExport {
 public:
  /// Rows read per page (and per transaction).
  static constexpr int kPageRows = 500;

  /// Fixes the export's time and its extent: the rows that exist now (later ones are left out;
  /// rows deleted meanwhile are missing; a row changed meanwhile shows its state when its page
  /// is read).
  void Begin(pqxx::transaction_base& tx);
  /// The same for the broadcasts, in the queue's database (the slice's own, or
  /// QUEUE_DATABASE_URL's).
  void BeginQueue(pqxx::transaction_base& queue_tx);
  /// The first line: {"type":"export","format":1,"slice":<id>,"created_at":…}.
  std::string HeaderLine(long long slice_id) const;
  /// "crm-export-YYYY-MM-DD.jsonl" (the day in UTC).
  std::string FileName() const;
  /// The next lines, one per row, "\n"-terminated, of at most kPageRows rows: every contact,
  /// then every conversation, every message (each by id) and every broadcast (newest first),
  /// each line the API's object with "type" ("contact", "conversation", "message",
  /// "broadcast") in front. "" at the end of the CRM's sections (then in_queue(): the next page
  /// is read in the queue's database) and once everything was handed out (done()).
  std::string NextPage(pqxx::transaction_base& tx);
  /// Whether the next page comes from the queue's database (the broadcasts).
  bool in_queue() const;
  bool done() const;

 private:
  std::string created_at_;  // a JSON string, as the database writes timestamps
  std::string date_;
  long long last_[4] = {0, 0, 0, 0};  // the highest id of each section when the export began
  int section_ = 0;
  long long cursor_ = 0;  // the last id handed out in the current section (0: none yet)
};

}  // namespace crm::slice
