// A bounded pool of libpqxx connections: at most `max_size` open, callers wait (bounded) for a
// free one, every transaction runs with the statement timeout (and the slice's role and schema),
// and a connection the server dropped (restart, failover) is replaced transparently. Behind a
// transaction-pooling PgBouncer (docs/operations.md, "PostgreSQL behind PgBouncer") nothing
// relies on session state: the settings are made again inside every transaction.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "crm/db/plans.hpp"
#include "crm/error.hpp"

namespace crm::db {

/// `url` (a postgresql:// URL or key=value conninfo) with `overrides` applied (user, password,
/// options, application_name…), as a key=value conninfo. Throws InputError when `url` does not
/// parse.
std::string BuildConnInfo(const std::string& url,
                          const std::map<std::string, std::string>& overrides);

/// The value of `keyword` ("password", "user") in `url`, empty when it has none. Throws
/// InputError when `url` does not parse.
std::string ConnInfoValue(const std::string& url, const std::string& keyword);

/// The conninfo with its password removed, for logs and error messages.
std::string RedactedConnInfo(const std::string& conninfo);

struct PoolOptions {
  std::string url;
  std::string password;  ///< overrides the URL's password when not empty
  std::string user;      ///< overrides the URL's user when not empty
  std::size_t max_size = 10;
  std::chrono::milliseconds statement_timeout{30'000};
  std::chrono::milliseconds acquire_timeout{5'000};
  std::string application_name = "crmd";
  /// search_path for every connection ("slice_7"); empty leaves the server's default.
  std::string search_path;
  /// The role the work runs as ("slice_7"), the login user being a member of it; empty = the
  /// login user itself. Only with `direct_url` (the login user is then shared by every slice).
  std::string role;
  /// The PostgreSQL server itself when `url` is a transaction-pooling PgBouncer in front of it
  /// (CRM_DATABASE_DIRECT_URL). Set, it makes the pool pooled: role, search_path and
  /// statement_timeout are set at the start of every transaction (set_config(…, true)), never
  /// per connection, and whole sessions (LISTEN, advisory locks, migrations) connect here.
  std::string direct_url;
  /// Pooled, the login's own role carries search_path and statement_timeout (ALTER ROLE … SET:
  /// a slice logging in as its role through its host's pooler), so no transaction sets them.
  bool role_settings = false;
  /// A streaming replica for ReadReplica (DB_READ_REPLICA_URL); empty: none. Reached as the same
  /// user with the same password, the settings as startup options (a replica is not pooled).
  std::string replica_url;
  /// A replica further behind than this is bypassed (db_replica_max_lag).
  std::chrono::milliseconds replica_max_lag{5'000};
};

class Pool {
 public:
  explicit Pool(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Runs `work(pqxx::connection&)` on a pooled connection. A connection found broken is
  /// replaced and `work` retried once (never when the outcome of a commit is unknown). Throws
  /// RuntimeError "database unavailable: …" when no connection can be made, and "database pool
  /// exhausted" after waiting acquire_timeout for a free one.
  template <class F>
  auto Run(F&& work) -> decltype(work(std::declval<pqxx::connection&>())) {
    for (int attempt = 0;; ++attempt) {
      Lease lease(*this);
      try {
        return work(lease.connection());
      } catch (const pqxx::in_doubt_error&) {
        lease.Discard();
        throw;
      } catch (const pqxx::broken_connection& e) {
        lease.Discard();
        // The server restarted or failed over: every idle connection is as dead as this one.
        DiscardIdle();
        if (attempt > 0) {
          throw RuntimeError(std::string("database unavailable: ") + e.what());
        }
      }
    }
  }

  /// As Run, with `work(pqxx::read_transaction&)`.
  template <class F>
  auto Read(F&& work) {
    return Run([&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      Enter(tx);
      return work(tx);
    });
  }

  /// As Run, with `work(pqxx::work&)`, committed when it returns (rolled back when it throws).
  template <class F>
  auto Write(F&& work) {
    return Run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      Enter(tx);
      if constexpr (std::is_void_v<std::invoke_result_t<F&, pqxx::work&>>) {
        work(tx);
        tx.commit();
        NoteWrite(c);
      } else {
        auto result = work(tx);
        tx.commit();
        NoteWrite(c);
        return result;
      }
    });
  }

  /// As Read, on the replica (replica_url) when there is one, it answered its last use, it is no
  /// more than replica_max_lag behind, and it has replayed this process's last Write
  /// (read-your-writes: a slice is one process); else, or when it cannot be reached, on the
  /// primary. For read-only queries that may be a few seconds stale otherwise (lists, search,
  /// progress). Exceptions of `work` propagate as Read's.
  template <class F>
  auto ReadReplica(F&& work) {
    using Result = std::invoke_result_t<F&, pqxx::read_transaction&>;
    static_assert(!std::is_void_v<Result>, "ReadReplica is for queries");
    if (replica_ != nullptr && ReplicaMayServe()) {
      try {
        auto result = replica_->Run([&](pqxx::connection& c) -> std::optional<Result> {
          pqxx::read_transaction tx(c);
          if (!ReplicaFresh(tx)) {
            return std::nullopt;
          }
          return work(tx);
        });
        if (result) {
          return std::move(*result);
        }
      } catch (const RuntimeError& e) {
        ReplicaFailed(e.what());  // unreachable or its pool exhausted: the primary serves
      }
    }
    return Read(std::forward<F>(work));
  }

  /// One statement in its own transaction, committed: `Execute("UPDATE … WHERE id = $1", id)`.
  template <class... Args>
  pqxx::result Execute(const std::string& sql, const Args&... args) {
    return Write([&](pqxx::work& tx) { return tx.exec_params(sql, args...); });
  }

  /// As Execute, for a statement that takes a whole batch and finds its rows by key: planned
  /// without its parameters' values (plans.hpp PlanWithoutValues).
  template <class... Args>
  pqxx::result ExecuteBatch(const std::string& sql, const Args&... args) {
    return Write([&](pqxx::work& tx) {
      PlanWithoutValues(tx);
      return tx.exec_params(sql, args...);
    });
  }

  /// Makes `tx`, just begun on a connection of this pool, run with the pool's settings (role,
  /// search_path, statement_timeout). Read and Write call it; work given to Run that begins its
  /// own transactions must call it first thing in each. A no-op unless pooled (the connection
  /// carries the settings then).
  void Enter(pqxx::transaction_base& tx) const;

  /// Runs `work(pqxx::connection&)` on a whole session of its own: a new connection to the
  /// direct URL, closed afterwards (the work's transactions need no Enter: the session carries
  /// the settings). For migrations and DDL. Unpooled it is Run, on a connection that is closed
  /// after its kSessionsPerConnection-th such work: a backend keeps the catalog entries of every
  /// relation its DDL created (about 1 MiB per slice schema), so a pool connection that created
  /// a thousand schemas held a gigabyte of PostgreSQL's memory for as long as it lived
  /// (docs/benchmarks.md, "Density"). Throws as Run.
  template <class F>
  auto RunSession(F&& work) -> decltype(work(std::declval<pqxx::connection&>())) {
    if (!pooled()) {
      return Run([&](pqxx::connection& c) {
        CountSession(c);
        return work(c);
      });
    }
    return RunClosed(std::forward<F>(work));
  }

  /// Runs `work(pqxx::connection&)` on a connection of its own to the direct URL (the pool's own
  /// unpooled), outside the pool's bound and closed afterwards: for periodic work that opens
  /// every slice's relations (sizing their schemas), each of which stays in the backend's
  /// relation cache for as long as the backend lives (~220 MiB at 1,000 slices). Throws as Run.
  template <class F>
  auto RunClosed(F&& work) -> decltype(work(std::declval<pqxx::connection&>())) {
    auto session = OpenSession();
    return work(*session);
  }

  /// How many RunSession works an unpooled connection serves before it is closed: the catalog
  /// memory it can hold stays near this many schemas' worth, and a new backend (a few ms) is paid
  /// once per this many provisionings.
  static constexpr unsigned kSessionsPerConnection = 8;

  /// Whether a transaction-pooling PgBouncer is between the pool and PostgreSQL (direct_url set).
  bool pooled() const { return !options_.direct_url.empty(); }
  /// Pooled with the login's role carrying its settings: a whole session through the pool's own
  /// conninfo needs nothing set in its transactions either (only LISTEN cannot go that way).
  bool pooled_with_role_settings() const { return pooled() && options_.role_settings; }

  std::size_t open_connections() const;
  /// Checks the most recently used idle connection with `SELECT 1` without opening one and
  /// without making it any younger: a health probe must not keep an idle tenant's backend
  /// alive. True when the check passed or there was nothing to check; false when the connection
  /// was broken (it is dropped). Blocking.
  bool Ping();
  /// Closes connections idle for longer than `age` (an idle slice then holds no PostgreSQL
  /// backend). Returns how many were closed.
  std::size_t CloseIdle(std::chrono::milliseconds age);
  /// The conninfo the pool connects with (password included: never log it).
  const std::string& conninfo() const { return conninfo_; }
  /// The conninfo of a whole session with the pool's settings (role, search_path,
  /// statement_timeout): the direct URL when pooled, else the pool's own. For LISTEN and
  /// session-level advisory locks (password included: never log it).
  const std::string& session_conninfo() const { return session_conninfo_; }

 private:
  class Lease {
   public:
    explicit Lease(Pool& pool);
    ~Lease();
    pqxx::connection& connection() { return *connection_; }
    void Discard() { discard_ = true; }

   private:
    Pool& pool_;
    std::unique_ptr<pqxx::connection> connection_;
    bool discard_ = false;
  };

  std::unique_ptr<pqxx::connection> Acquire();
  std::unique_ptr<pqxx::connection> OpenSession() const;
  /// After a commit on `c`: remembers the WAL position it reached, for ReadReplica.
  void NoteWrite(pqxx::connection& c);
  /// In a read transaction on the replica: whether it has replayed our last write and is not
  /// too far behind.
  bool ReplicaFresh(pqxx::read_transaction& tx) const;
  bool ReplicaMayServe() const;
  void ReplicaFailed(const std::string& why);
  void DiscardIdle();
  void Release(std::unique_ptr<pqxx::connection> connection, bool discard);
  /// Notes one more RunSession work on `c` (leased, unpooled): after the
  /// kSessionsPerConnection-th it is closed when released.
  void CountSession(const pqxx::connection& c);

  PoolOptions options_;
  std::string conninfo_;
  std::string session_conninfo_;
  std::string enter_sql_;  ///< the per-transaction settings when pooled, else empty
  mutable std::mutex mutex_;
  std::condition_variable available_;
  struct Idle {
    std::unique_ptr<pqxx::connection> connection;
    std::chrono::steady_clock::time_point since;
  };
  std::vector<Idle> idle_;  ///< most recently used last
  /// Forgets the RunSession counts of idle connections [from, to) about to close (mutex_ held).
  void ForgetSessions(std::vector<Idle>::const_iterator from, std::vector<Idle>::const_iterator to);
  std::size_t open_ = 0;
  /// RunSession works served by each open connection that has served any (unpooled); the
  /// entry goes with the connection, whichever way it is closed.
  std::map<const pqxx::connection*, unsigned> sessions_;
  std::unique_ptr<Pool> replica_;  ///< on replica_url; null without one
  /// Until when the replica is skipped after it failed (steady clock, ns since its epoch).
  std::atomic<std::int64_t> replica_down_until_{0};
};

/// Quotes an SQL identifier we built ourselves ("slice_7"); refuses anything but [a-z0-9_].
std::string Identifier(const std::string& name);

}  // namespace crm::db
