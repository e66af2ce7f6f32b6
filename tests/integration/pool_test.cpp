// crm::db::Pool against a real PostgreSQL: bounded, statement timeout, idle connections closed.
#include "crm/db/pool.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "crm/testing/pg_cluster.hpp"
#include "runtime_fixture.hpp"

namespace crm::db {
namespace {

PoolOptions Options(const testing::PgCluster& pg) {
  PoolOptions o;
  o.url = pg.ConnectionString();
  o.max_size = 2;
  o.statement_timeout = std::chrono::milliseconds(1500);
  o.acquire_timeout = std::chrono::milliseconds(300);
  o.application_name = "pool-test";
  return o;
}

long long Backends(Pool& probe) {
  return probe.Run([](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool-test'")[0]
        .as<long long>();
  });
}

long long BackendPid(pqxx::connection& c) {
  return pqxx::nontransaction(c).exec1("SELECT pg_backend_pid()")[0].as<long long>();
}

TEST(PoolTest, EveryConnectionCarriesTheStatementTimeout) {
  auto pg = testing::PgCluster::Start();
  Pool pool(Options(*pg));
  EXPECT_EQ(pool.Run([](pqxx::connection& c) {
    return pqxx::read_transaction(c).exec1("SHOW statement_timeout")[0].as<std::string>();
  }),
            "1500ms");
  EXPECT_THROW(
      pool.Run([](pqxx::connection& c) { pqxx::read_transaction(c).exec("SELECT pg_sleep(5)"); }),
      pqxx::sql_error);
}

TEST(PoolTest, IsBoundedAndSaysSoWhenExhausted) {
  auto pg = testing::PgCluster::Start();
  Pool pool(Options(*pg));
  std::promise<void> hold;
  auto held = hold.get_future().share();
  auto a =
      std::async(std::launch::async, [&] { pool.Run([&](pqxx::connection&) { held.wait(); }); });
  auto b =
      std::async(std::launch::async, [&] { pool.Run([&](pqxx::connection&) { held.wait(); }); });
  while (pool.open_connections() < 2) {
    std::this_thread::yield();
  }
  try {
    pool.Run([](pqxx::connection&) {});
    ADD_FAILURE() << "a third connection was opened";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("pool exhausted"), std::string::npos) << e.what();
  }
  hold.set_value();
  a.get();
  b.get();
  EXPECT_EQ(pool.open_connections(), 2u);
}

TEST(PoolTest, ClosesIdleConnectionsSoAnIdleSliceHoldsNoBackend) {
  auto pg = testing::PgCluster::Start();
  Pool pool(Options(*pg));
  PoolOptions probe_options = Options(*pg);
  probe_options.application_name = "probe";
  Pool probe(probe_options);
  pool.Run([](pqxx::connection& c) { pqxx::nontransaction(c).exec("SELECT 1"); });
  EXPECT_EQ(Backends(probe), 1);
  EXPECT_EQ(pool.CloseIdle(std::chrono::hours(1)), 0u) << "not idle long enough";
  EXPECT_EQ(pool.CloseIdle(std::chrono::milliseconds(0)), 1u);
  EXPECT_EQ(pool.open_connections(), 0u);
  // The server ends a backend shortly after its client hangs up: wait for it, within a bound.
  EXPECT_TRUE(testing::Eventually([&] { return Backends(probe) == 0; })) << Backends(probe);
  pool.Run([](pqxx::connection& c) {
    pqxx::nontransaction(c).exec("SELECT 1");
  });  // and reopens on demand
  EXPECT_EQ(pool.open_connections(), 1u);
}

// DDL leaves its relations' catalog entries in the backend that ran it: a connection that has
// served kSessionsPerConnection RunSession works (a slice's schema each) is closed, not pooled,
// while plain Run work keeps its connection.
TEST(PoolTest, AConnectionIsClosedAfterItsShareOfSessionWorkAndPlainWorkKeepsIt) {
  auto pg = testing::PgCluster::Start();
  PoolOptions o = Options(*pg);
  o.max_size = 1;
  Pool pool(o);
  const long long first = pool.Run(BackendPid);
  for (unsigned i = 0; i < 3 * Pool::kSessionsPerConnection; ++i) {
    EXPECT_EQ(pool.Run(BackendPid), first) << "plain work " << i;
  }
  for (unsigned i = 1; i < Pool::kSessionsPerConnection; ++i) {
    EXPECT_EQ(pool.RunSession(BackendPid), first) << "session work " << i;
    EXPECT_EQ(pool.Run(BackendPid), first) << "plain work after session work " << i;
  }
  EXPECT_EQ(pool.RunSession(BackendPid), first) << "the last session work it serves";
  EXPECT_EQ(pool.open_connections(), 0u) << "closed when released";
  const long long second = pool.Run(BackendPid);
  EXPECT_NE(second, first);
  // The count starts again on the new connection, and a connection closed for another reason
  // (idle) takes its count with it.
  EXPECT_EQ(pool.RunSession(BackendPid), second);
  EXPECT_EQ(pool.CloseIdle(std::chrono::milliseconds(0)), 1u);
  const long long third = pool.RunSession(BackendPid);
  EXPECT_NE(third, second);
  for (unsigned i = 1; i < Pool::kSessionsPerConnection; ++i) {
    EXPECT_EQ(pool.RunSession(BackendPid), third) << "session work " << i;
  }
  EXPECT_NE(pool.Run(BackendPid), third);
}

// RunClosed: a backend of its own, gone when the work returns, outside the pool's count.
TEST(PoolTest, RunClosedWorksOnABackendOfItsOwnThatEndsWithIt) {
  auto pg = testing::PgCluster::Start();
  PoolOptions o = Options(*pg);
  o.max_size = 1;
  Pool pool(o);
  const long long pooled = pool.Run(BackendPid);
  const long long closed = pool.RunClosed([&](pqxx::connection& c) {
    EXPECT_EQ(pool.open_connections(), 1u) << "not one of the pool's";
    return BackendPid(c);
  });
  EXPECT_NE(closed, pooled);
  EXPECT_EQ(pool.Run(BackendPid), pooled);
  // Its backend ends when the connection closes (asynchronously on the server's side).
  Pool probe(Options(*pg));
  for (int i = 0; i < 500; ++i) {
    if (probe.Run([&](pqxx::connection& c) {
          return pqxx::nontransaction(c)
              .exec_params1("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", closed)[0]
              .as<long long>();
        }) == 0) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "backend " << closed << " still there 5 s after its work returned";
}

TEST(PoolTest, AnUnreachableServerIsARuntimeErrorWithoutThePassword) {
  PoolOptions o;
  o.url = "host=/nonexistent port=1 user=crm dbname=crm";
  o.password = "s3cret-value";
  Pool pool(o);
  try {
    pool.Run([](pqxx::connection&) {});
    FAIL();
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("database unavailable"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("s3cret-value"), std::string::npos) << e.what();
  }
  EXPECT_EQ(RedactedConnInfo("host=h user=u password=p").find("password"), std::string::npos);
}

TEST(PoolTest, PingChecksAnIdleConnectionWithoutOpeningOneOrMakingItYounger) {
  auto pg = testing::PgCluster::Start();
  Pool pool(Options(*pg));
  PoolOptions probe_options = Options(*pg);
  probe_options.application_name = "probe";
  Pool probe(probe_options);
  EXPECT_TRUE(pool.Ping()) << "nothing open: nothing to check";
  EXPECT_EQ(pool.open_connections(), 0u);
  EXPECT_EQ(Backends(probe), 0);

  pool.Run([](pqxx::connection& c) { pqxx::nontransaction(c).exec("SELECT 1"); });
  auto used = std::chrono::steady_clock::now();
  EXPECT_TRUE(pool.Ping());
  // Idle since before `used`: a close of what has been idle since then takes it, which it would
  // not had the ping counted as a use.
  auto since_used = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - used);
  EXPECT_EQ(pool.CloseIdle(since_used), 1u) << "the ping made the connection younger";

  // A connection the server ended fails the ping and is dropped.
  pool.Run([](pqxx::connection& c) { pqxx::nontransaction(c).exec("SELECT 1"); });
  probe.Run([](pqxx::connection& c) {
    pqxx::nontransaction(c).exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
        "'pool-test'");
  });
  EXPECT_TRUE(testing::Eventually([&] { return !pool.Ping(); }));
  EXPECT_EQ(pool.open_connections(), 0u);
}

// Pooled (a direct URL given), as behind a transaction-pooling PgBouncer: the settings hold in
// every transaction and end with it; the connection itself carries none, so the pooler's next
// client of that server connection inherits nothing. A whole session carries them instead.
TEST(PoolTest, PooledTheSettingsAreMadeInEachTransactionAndNeverOnTheConnection) {
  auto pg = testing::PgCluster::Start();
  testing::Sql(pg->ConnectionString(),
               "CREATE ROLE login LOGIN NOINHERIT; CREATE ROLE slice_1 NOLOGIN; "
               "GRANT slice_1 TO login; CREATE SCHEMA slice_1 AUTHORIZATION slice_1; "
               "SET ROLE slice_1; CREATE TABLE slice_1.notes (text text); "
               "INSERT INTO slice_1.notes VALUES ('mine')");
  PoolOptions o = Options(*pg);
  o.user = "login";
  o.role = "slice_1";
  o.search_path = "slice_1";
  o.max_size = 1;  // one connection: every transaction below runs on it
  o.direct_url = pg->ConnectionString();
  Pool pool(o);
  ASSERT_TRUE(pool.pooled());
  const std::string settings =
      "SELECT current_user || ' ' || current_setting('search_path') || ' ' || "
      "current_setting('statement_timeout')";
  EXPECT_EQ(pool.Read([&](pqxx::read_transaction& tx) {
    return std::string(tx.exec1(settings)[0].c_str());
  }),
            std::string("slice_1 slice_1 1500ms"));
  EXPECT_EQ(pool.Write([](pqxx::work& tx) {
    return std::string(tx.exec1("SELECT text FROM notes")[0].c_str());
  }),
            std::string("mine"));
  EXPECT_THROW(pool.Read([](pqxx::read_transaction& tx) { tx.exec("SELECT pg_sleep(5)"); }),
               pqxx::sql_error);
  // The same connection outside a transaction of the pool's, as a pooler's next client gets it.
  std::string bare = pool.Run([&](pqxx::connection& c) {
    return std::string(pqxx::nontransaction(c).exec1(settings)[0].c_str());
  });
  EXPECT_EQ(bare.substr(0, bare.find(' ')), "login") << bare;
  EXPECT_EQ(bare.find("1500ms"), std::string::npos) << bare;
  // Work that begins its own transaction enters it itself.
  EXPECT_EQ(pool.Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    pool.Enter(tx);
    return std::string(tx.exec1(settings)[0].c_str());
  }),
            "slice_1 slice_1 1500ms");
  // A whole session (LISTEN, advisory locks) carries the settings from its start.
  pqxx::connection session(pool.session_conninfo());
  EXPECT_EQ(std::string(pqxx::nontransaction(session).exec1(settings)[0].c_str()),
            "slice_1 slice_1 1500ms");
  EXPECT_EQ(pool.RunSession([&](pqxx::connection& c) {
    return std::string(pqxx::nontransaction(c).exec1(settings)[0].c_str());
  }),
            "slice_1 slice_1 1500ms");
}

// A batch's statement is planned without its values, in its own transaction only. What shows it:
// a plan made with the values folds 1 / $1 into a constant while planning, and with $1 = 0 fails
// even where no row reaches it (PostgreSQL's docs, "Conditional Expressions"); a plan without
// them leaves $1 a parameter, evaluated only for a row that needs it.
TEST(PoolTest, ABatchStatementIsPlannedWithoutItsValuesAndOnlyInItsTransaction) {
  auto pg = testing::PgCluster::Start();
  testing::Sql(pg->ConnectionString(),
               "CREATE TABLE items (id bigint PRIMARY KEY); "
               "INSERT INTO items SELECT generate_series(1, 100)");
  PoolOptions o = Options(*pg);
  o.max_size = 1;  // one connection: a setting left behind would show in the next transaction
  Pool pool(o);
  const std::string folds =
      "SELECT count(*) FROM items WHERE CASE WHEN id < 0 THEN 1 / $1::integer = 1 ELSE true END";
  auto mode = [](pqxx::transaction_base& tx) {
    return std::string(tx.exec1("SHOW plan_cache_mode")[0].c_str());
  };

  EXPECT_THROW(pool.Execute(folds, 0), pqxx::sql_error);  // division by zero, while planning
  EXPECT_EQ(pool.ExecuteBatch(folds, 0)[0][0].as<int>(), 100);
  EXPECT_EQ(pool.Read(mode), "auto");  // the next transaction, on the same connection
  EXPECT_THROW(pool.Execute(folds, 0), pqxx::sql_error);
  EXPECT_EQ(pool.Write([&](pqxx::work& tx) {
    PlanWithoutValues(tx);
    std::string without = mode(tx) + " " + tx.exec_params1(folds, 0)[0].c_str();
    PlanWithValues(tx);
    return without + ", then " + mode(tx);
  }),
            "force_generic_plan 100, then auto");
}

}  // namespace
}  // namespace crm::db
