#include "crm/db/pool.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <memory>

namespace crm::db {
namespace {

std::string QuoteValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "'";
}

std::map<std::string, std::string> ParseConnInfo(const std::string& url) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(url.c_str(), &error), &PQconninfoFree);
  if (!options) {
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!message.empty() && message.back() == '\n') {
      message.pop_back();
    }
    throw InputError("database_url: " + message);
  }
  std::map<std::string, std::string> values;
  for (PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val != nullptr && *o->val != '\0') {
      values[o->keyword] = o->val;
    }
  }
  return values;
}

}  // namespace

std::string ConnInfoValue(const std::string& url, const std::string& keyword) {
  auto values = ParseConnInfo(url);
  auto it = values.find(keyword);
  return it == values.end() ? std::string() : it->second;
}

std::string BuildConnInfo(const std::string& url,
                          const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> values = ParseConnInfo(url);
  for (const auto& [key, value] : overrides) {
    if (value.empty()) {
      values.erase(key);
    } else {
      values[key] = value;
    }
  }
  std::string out;
  for (const auto& [key, value] : values) {
    out += (out.empty() ? "" : " ") + key + "=" + QuoteValue(value);
  }
  return out;
}

std::string RedactedConnInfo(const std::string& conninfo) {
  try {
    return BuildConnInfo(conninfo, {{"password", ""}});
  } catch (const InputError&) {
    return "(unparsable connection string)";
  }
}

std::string Identifier(const std::string& name) {
  if (name.empty() || name.size() > 63 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
    throw RuntimeError("refusing SQL identifier \"" + name + "\"");
  }
  return "\"" + name + "\"";
}

Pool::Pool(PoolOptions options) : options_(std::move(options)) {
  // The settings go into SQL literals and startup options as they are: our own names only.
  Identifier(options_.role.empty() ? "none" : options_.role);
  Identifier(options_.search_path.empty() ? "none" : options_.search_path);
  std::string timeout = std::to_string(options_.statement_timeout.count());
  std::string server_options = "-c statement_timeout=" + timeout;
  if (!options_.search_path.empty()) {
    server_options += " -c search_path=" + options_.search_path;
  }
  if (!options_.role.empty()) {
    server_options += " -c role=" + options_.role;
  }
  std::map<std::string, std::string> overrides = {{"options", server_options},
                                                  {"application_name", options_.application_name},
                                                  {"connect_timeout", "5"}};
  if (!options_.password.empty()) {
    overrides["password"] = options_.password;
  }
  if (!options_.user.empty()) {
    overrides["user"] = options_.user;
  }
  if (pooled()) {
    session_conninfo_ = BuildConnInfo(options_.direct_url, overrides);
    // PgBouncer in transaction mode hands a server connection to another client after every
    // transaction: startup options would be dropped (ignore_startup_parameters) or apply to
    // whoever comes next, so the settings are made inside each transaction instead.
    overrides.erase("options");
    conninfo_ = BuildConnInfo(options_.url, overrides);
    enter_sql_ = "SELECT set_config('statement_timeout', '" + timeout + "', true)";
    if (!options_.role.empty()) {
      enter_sql_ += ", set_config('role', '" + options_.role + "', true)";
    }
    if (!options_.search_path.empty()) {
      enter_sql_ += ", set_config('search_path', '" + options_.search_path + "', true)";
    }
  } else {
    conninfo_ = BuildConnInfo(options_.url, overrides);
    session_conninfo_ = conninfo_;
  }
}

void Pool::Enter(pqxx::transaction_base& tx) const {
  if (!enter_sql_.empty()) {
    tx.exec(enter_sql_);
  }
}

std::unique_ptr<pqxx::connection> Pool::OpenSession() const {
  try {
    return std::make_unique<pqxx::connection>(session_conninfo_);
  } catch (const std::exception& e) {
    std::string what = e.what();
    while (!what.empty() && what.back() == '\n') {
      what.pop_back();
    }
    throw RuntimeError("database unavailable: " + what);
  }
}

Pool::~Pool() = default;

std::size_t Pool::open_connections() const {
  std::lock_guard lock(mutex_);
  return open_;
}

std::unique_ptr<pqxx::connection> Pool::Acquire() {
  std::unique_lock lock(mutex_);
  if (!available_.wait_for(lock, options_.acquire_timeout,
                           [&] { return !idle_.empty() || open_ < options_.max_size; })) {
    throw RuntimeError("database pool exhausted: all " + std::to_string(options_.max_size) +
                       " connections busy for " + std::to_string(options_.acquire_timeout.count()) +
                       " ms");
  }
  if (!idle_.empty()) {
    auto connection = std::move(idle_.back().connection);
    idle_.pop_back();
    return connection;
  }
  ++open_;
  lock.unlock();
  try {
    return std::make_unique<pqxx::connection>(conninfo_);
  } catch (const std::exception& e) {
    lock.lock();
    --open_;
    available_.notify_one();
    std::string what = e.what();
    while (!what.empty() && what.back() == '\n') {
      what.pop_back();
    }
    throw RuntimeError("database unavailable: " + what);
  }
}

std::size_t Pool::CloseIdle(std::chrono::milliseconds age) {
  std::vector<Idle> closing;
  {
    std::lock_guard lock(mutex_);
    auto cutoff = std::chrono::steady_clock::now() - age;
    // idle_ is ordered by release time: the stale ones are at the front.
    auto fresh =
        std::find_if(idle_.begin(), idle_.end(), [&](const Idle& i) { return i.since >= cutoff; });
    std::move(idle_.begin(), fresh, std::back_inserter(closing));
    idle_.erase(idle_.begin(), fresh);
    open_ -= closing.size();
    available_.notify_all();
  }
  return closing.size();  // the connections close here, outside the lock
}

bool Pool::Ping() {
  Idle taken;
  {
    std::lock_guard lock(mutex_);
    if (idle_.empty()) {
      return true;
    }
    taken = std::move(idle_.back());
    idle_.pop_back();
  }
  bool ok = true;
  try {
    pqxx::nontransaction(*taken.connection).exec("SELECT 1");
  } catch (const std::exception& e) {
    spdlog::warn("database pool: an idle connection failed its check: {}", e.what());
    ok = false;
  }
  std::lock_guard lock(mutex_);
  if (!ok || !taken.connection->is_open()) {
    --open_;
  } else {
    // Back in its place by age, as old as it was.
    auto at = std::upper_bound(idle_.begin(), idle_.end(), taken.since,
                               [](auto since, const Idle& i) { return since < i.since; });
    idle_.insert(at, std::move(taken));
  }
  available_.notify_one();
  return ok;
}

void Pool::DiscardIdle() {
  std::lock_guard lock(mutex_);
  open_ -= idle_.size();
  idle_.clear();
  available_.notify_all();
}

void Pool::Release(std::unique_ptr<pqxx::connection> connection, bool discard) {
  std::lock_guard lock(mutex_);
  if (discard || !connection || !connection->is_open()) {
    --open_;
  } else {
    idle_.push_back({std::move(connection), std::chrono::steady_clock::now()});
  }
  available_.notify_one();
}

Pool::Lease::Lease(Pool& pool) : pool_(pool), connection_(pool.Acquire()) {}

Pool::Lease::~Lease() {
  pool_.Release(std::move(connection_), discard_);
}

}  // namespace crm::db
