#include "crm/db/pool.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
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
    if (!options_.role_settings) {
      enter_sql_ = "SELECT set_config('statement_timeout', '" + timeout + "', true)";
      if (!options_.role.empty()) {
        enter_sql_ += ", set_config('role', '" + options_.role + "', true)";
      }
      if (!options_.search_path.empty()) {
        enter_sql_ += ", set_config('search_path', '" + options_.search_path + "', true)";
      }
    }
  } else {
    conninfo_ = BuildConnInfo(options_.url, overrides);
    session_conninfo_ = conninfo_;
  }
  if (!options_.replica_url.empty()) {
    PoolOptions replica = options_;
    replica.url = options_.replica_url;
    replica.replica_url.clear();
    replica.direct_url.clear();  // not pooled: its settings are startup options
    // The primary's login, whatever user the replica's URL names (a slice's is its own role).
    replica.user = options_.user.empty() ? ConnInfoValue(options_.url, "user") : options_.user;
    replica.application_name += "-replica";
    replica.acquire_timeout = std::min(options_.acquire_timeout, std::chrono::milliseconds(1'000));
    replica_ = std::make_unique<Pool>(std::move(replica));
  }
}

void Pool::Enter(pqxx::transaction_base& tx) const {
  if (!enter_sql_.empty()) {
    tx.exec(enter_sql_);
  }
}

namespace {

// The newest WAL position a Write of this process committed at (0 before any): a slice is one
// process, so this is the slice's last write, whichever of its pools made it.
std::atomic<std::uint64_t> last_write_lsn{0};
constexpr std::uint64_t kUnknownLsn = ~std::uint64_t{0};  ///< no replica has replayed it

std::uint64_t ParseLsn(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos) {
    return 0;
  }
  return (std::stoull(text.substr(0, slash), nullptr, 16) << 32) |
         std::stoull(text.substr(slash + 1), nullptr, 16);
}

std::string FormatLsn(std::uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xFFFFFFFFU));
  return buf;
}

}  // namespace

void Pool::NoteWrite(pqxx::connection& c) {
  if (replica_ == nullptr) {
    return;  // nobody reads elsewhere: no round trip
  }
  try {
    // After the commit: the write position is at or past the commit record.
    auto lsn = ParseLsn(pqxx::nontransaction(c).exec1("SELECT pg_current_wal_lsn()")[0].c_str());
    auto seen = last_write_lsn.load();
    while ((lsn > seen || seen == kUnknownLsn) &&
           !last_write_lsn.compare_exchange_weak(seen, lsn)) {
    }
  } catch (const std::exception& e) {
    // Committed, position unknown: reads go to the primary until one is known again.
    spdlog::warn("database pool: cannot read the WAL position after a write: {}", e.what());
    last_write_lsn.store(kUnknownLsn);
  }
}

bool Pool::ReplicaFresh(pqxx::read_transaction& tx) const {
  auto lag_ms = static_cast<long long>(options_.replica_max_lag.count());
  // Replayed our last write, and either replayed all it received or its last replayed
  // transaction is recent: a paused or stuck replay ages out after replica_max_lag.
  return tx
      .exec_params1(
          "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn AND "
          "(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() OR "
          "now() - pg_last_xact_replay_timestamp() <= $2 * interval '1 millisecond'), false)",
          FormatLsn(last_write_lsn.load()), lag_ms)[0]
      .as<bool>();
}

bool Pool::ReplicaMayServe() const {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() >=
         replica_down_until_.load();
}

void Pool::ReplicaFailed(const std::string& why) {
  auto retry =
      std::chrono::steady_clock::now() +
      std::max<std::chrono::milliseconds>(options_.replica_max_lag, std::chrono::seconds(1));
  replica_down_until_.store(
      std::chrono::duration_cast<std::chrono::nanoseconds>(retry.time_since_epoch()).count());
  spdlog::warn("database pool: the read replica is bypassed for {} ms: {}",
               std::max<long long>(options_.replica_max_lag.count(), 1000), why);
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
    ForgetSessions(idle_.begin(), fresh);
    std::move(idle_.begin(), fresh, std::back_inserter(closing));
    idle_.erase(idle_.begin(), fresh);
    open_ -= closing.size();
    available_.notify_all();
  }
  std::size_t replica_closed = replica_ != nullptr ? replica_->CloseIdle(age) : 0;
  return closing.size() + replica_closed;  // the connections close here, outside the lock
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
    sessions_.erase(taken.connection.get());
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
  ForgetSessions(idle_.begin(), idle_.end());
  open_ -= idle_.size();
  idle_.clear();
  available_.notify_all();
}

void Pool::CountSession(const pqxx::connection& c) {
  std::lock_guard lock(mutex_);
  ++sessions_[&c];
}

void Pool::ForgetSessions(std::vector<Idle>::const_iterator from,
                          std::vector<Idle>::const_iterator to) {
  for (; !sessions_.empty() && from != to; ++from) {
    sessions_.erase(from->connection.get());
  }
}

void Pool::Release(std::unique_ptr<pqxx::connection> connection, bool discard) {
  std::lock_guard lock(mutex_);
  if (!sessions_.empty() && connection) {
    const auto served = sessions_.find(connection.get());
    if (served != sessions_.end() &&
        (discard || served->second >= kSessionsPerConnection || !connection->is_open())) {
      sessions_.erase(served);
      discard = true;
    }
  }
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
