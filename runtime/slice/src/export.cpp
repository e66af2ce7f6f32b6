#include "crm/slice/export.hpp"

#include <nlohmann/json.hpp>

#include "crm/queue/store.hpp"
#include "crm/slice/contact_store.hpp"
#include "crm/slice/conversation_store.hpp"

namespace crm::slice {
namespace {

using nlohmann::json;

constexpr const char* kTypes[] = {"contact", "conversation", "message", "broadcast"};
constexpr int kSections = 4;
constexpr int kBroadcasts = 3;

// {"type":…, then the object's own fields}: "type" first so that a reader (or grep) sees it at
// once. Text the database stored is valid UTF-8 in a UTF-8 database; any other byte is replaced
// rather than ending the export half-way.
std::string Line(const char* type, const json& object) {
  std::string fields = object.dump(-1, ' ', false, json::error_handler_t::replace);
  return std::string("{\"type\":\"") + type + "\"" + (fields.size() > 2 ? "," : "") +
         fields.substr(1) + "\n";
}

}  // namespace

void SliceExport::Begin(pqxx::transaction_base& tx) {
  auto row = tx.exec1(
      "SELECT to_json(now())::text, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "
      "(SELECT coalesce(max(id), 0) FROM contacts), "
      "(SELECT coalesce(max(id), 0) FROM conversations), "
      "(SELECT coalesce(max(id), 0) FROM messages)");
  created_at_ = row[0].c_str();
  date_ = row[1].c_str();
  for (int i = 0; i < kBroadcasts; ++i) {
    last_[i] = row[i + 2].as<long long>();
  }
  section_ = 0;
  cursor_ = 0;
}

void SliceExport::BeginQueue(pqxx::transaction_base& queue_tx) {
  last_[kBroadcasts] =
      queue_tx.exec1("SELECT coalesce(max(id), 0) FROM broadcasts")[0].as<long long>();
}

bool SliceExport::in_queue() const {
  return section_ == kBroadcasts;
}

bool SliceExport::done() const {
  return section_ >= kSections;
}

std::string SliceExport::HeaderLine(long long slice_id) const {
  return "{\"type\":\"export\",\"format\":1,\"slice\":" + std::to_string(slice_id) +
         ",\"created_at\":" + created_at_ + "}\n";
}

std::string SliceExport::FileName() const {
  return "crm-export-" + date_ + ".jsonl";
}

std::string SliceExport::NextPage(pqxx::transaction_base& tx) {
  std::string out;
  while (out.empty() && section_ < kSections) {
    const long long last = last_[section_];
    json rows = json::array();
    if (last > 0) {
      switch (section_) {
        case 0:
          rows = ContactStore(tx).Range(cursor_, last, kPageRows);
          break;
        case 1:
          rows = ConversationStore(tx).Range(cursor_, last, kPageRows);
          break;
        case 2:
          rows = ConversationStore(tx).MessageRange(cursor_, last, kPageRows);
          break;
        default:
          // Broadcasts page newest first, as their list does (progress is counted there).
          rows = queue::ListBroadcasts(tx, cursor_ == 0 ? last + 1 : cursor_, kPageRows);
          break;
      }
    }
    for (const auto& row : rows) {
      out += Line(kTypes[section_], row);
      cursor_ = row["id"].get<long long>();
    }
    bool done = rows.size() < static_cast<std::size_t>(kPageRows) ||
                (section_ != kBroadcasts && cursor_ >= last);
    if (done) {
      ++section_;
      cursor_ = 0;
      if (section_ == kBroadcasts) {
        break;  // read in the queue's database (in_queue())
      }
    }
  }
  return out;
}

}  // namespace crm::slice
