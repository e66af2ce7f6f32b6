#include "crm/testing/pg_cluster.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>
#include <string>

namespace crm::testing {
namespace {

// The query's single value, or the server's error.
std::string QueryOne(const std::string& conninfo, const char* sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return std::string("connect failed: ") + PQerrorMessage(conn.get());
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn.get(), sql), &PQclear);
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    return std::string("query failed: ") + PQerrorMessage(conn.get());
  }
  return PQgetvalue(res.get(), 0, 0);
}

TEST(PgClusterTest, StartsARealPostgres15AndRemovesItAfterwards) {
  std::filesystem::path dir;
  {
    const auto cluster = PgCluster::Start();
    dir = cluster->dir();
    EXPECT_EQ(QueryOne(cluster->ConnectionString(), "SHOW server_version_num").substr(0, 2), "15");
    EXPECT_EQ(QueryOne(cluster->ConnectionString(), "SHOW listen_addresses"), "");
    EXPECT_TRUE(std::filesystem::exists(dir / "data" / "PG_VERSION"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(PgClusterTest, TwoClustersRunSideBySide) {
  const auto a = PgCluster::Start();
  const auto b = PgCluster::Start();
  EXPECT_NE(a->dir(), b->dir());
  EXPECT_EQ(QueryOne(a->ConnectionString(), "SELECT 1"), "1");
  EXPECT_EQ(QueryOne(b->ConnectionString(), "SELECT 2"), "2");
}

TEST(PgClusterTest, StoppedClusterRefusesConnections) {
  const auto cluster = PgCluster::Start();
  const std::string conninfo = cluster->ConnectionString();
  cluster->Stop();
  EXPECT_EQ(QueryOne(conninfo, "SELECT 1").rfind("connect failed", 0), 0U);
}

}  // namespace
}  // namespace crm::testing
