// The SQL of a slice's contacts (its own schema, reached through search_path), answered as the
// API's JSON. Runs inside the caller's transaction; the caller commits.
#pragma once

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crm/slice/validation.hpp"

namespace crm::slice {

class ContactStore {
 public:
  explicit ContactStore(pqxx::transaction_base& tx) : tx_(tx) {}

  /// Inserts a contact (`in` has name and phone). Throws Conflict naming "phone" when another
  /// contact has the number.
  nlohmann::json Create(const ContactInput& in);
  /// Inserts `contacts` (validated), skipping those whose phone is already a contact's (or an
  /// earlier one's in the list). Returns how many were created.
  long long Import(const std::vector<ContactInput>& contacts);
  /// Up to `limit` contacts with ids above `cursor`, oldest first; `query` ("" = all) matches
  /// the name (case-insensitive), the phone, or a tag exactly.
  nlohmann::json List(long long cursor, const std::string& query, int limit);
  /// Up to `limit` contacts with ids in (`after`, `upto`], oldest first (an export's pages).
  nlohmann::json Range(long long after, long long upto, int limit);
  /// Throws NotFound.
  nlohmann::json Get(long long id);
  /// Changes the fields `in` has. Throws NotFound, or Conflict naming "phone".
  nlohmann::json Update(long long id, const ContactInput& in);
  /// Throws NotFound.
  void Delete(long long id);
  /// The phones of the contacts carrying `tag` (exactly), oldest contact first; at most `limit`
  /// of them, so that a caller capping a broadcast asks for one more than its cap.
  std::vector<std::string> PhonesTagged(const std::string& tag, long long limit);
  /// True when the contact exists.
  bool Exists(long long id);

 private:
  pqxx::transaction_base& tx_;
};

}  // namespace crm::slice
