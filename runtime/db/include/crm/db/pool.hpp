// A bounded pool of libpqxx connections: at most `max_size` open, callers wait (bounded) for a
// free one, every connection carries the statement timeout, and a connection the server dropped
// (restart, failover) is replaced transparently.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "crm/error.hpp"

namespace crm::db {

/// `url` (a postgresql:// URL or key=value conninfo) with `overrides` applied (user, password,
/// options, application_name…), as a key=value conninfo. Throws InputError when `url` does not
/// parse.
std::string BuildConnInfo(const std::string& url,
                          const std::map<std::string, std::string>& overrides);

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
      return work(tx);
    });
  }

  /// As Run, with `work(pqxx::work&)`, committed when it returns (rolled back when it throws).
  template <class F>
  auto Write(F&& work) {
    return Run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      if constexpr (std::is_void_v<std::invoke_result_t<F&, pqxx::work&>>) {
        work(tx);
        tx.commit();
      } else {
        auto result = work(tx);
        tx.commit();
        return result;
      }
    });
  }

  /// One statement in its own transaction, committed: `Execute("UPDATE … WHERE id = $1", id)`.
  template <class... Args>
  pqxx::result Execute(const std::string& sql, const Args&... args) {
    return Write([&](pqxx::work& tx) { return tx.exec_params(sql, args...); });
  }

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
  void DiscardIdle();
  void Release(std::unique_ptr<pqxx::connection> connection, bool discard);

  PoolOptions options_;
  std::string conninfo_;
  mutable std::mutex mutex_;
  std::condition_variable available_;
  struct Idle {
    std::unique_ptr<pqxx::connection> connection;
    std::chrono::steady_clock::time_point since;
  };
  std::vector<Idle> idle_;  ///< most recently used last
  std::size_t open_ = 0;
};

/// Quotes an SQL identifier we built ourselves ("slice_7"); refuses anything but [a-z0-9_].
std::string Identifier(const std::string& name);

}  // namespace crm::db
