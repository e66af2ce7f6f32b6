// A real PostgreSQL with the gateway's schema, a pool on it and an Orchestrator that is not
// started: for tests of what the orchestrator (and what runs beside it in a gateway) does to the
// database, without crmd processes or HTTP.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <pqxx/pqxx>

#include "crm/db/migrations.hpp"
#include "crm/db/pool.hpp"
#include "crm/orchestrator/orchestrator.hpp"
#include "crm/testing/pg_cluster.hpp"

namespace crm::testing {

class OrchestratorDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = PgCluster::Start();
    {
      pqxx::connection admin(pg_->ConnectionString());
      db::Migrate(admin, "gateway", "gateway");
    }
    db::PoolOptions pool;
    pool.url = pg_->ConnectionString();
    pool.max_size = 4;
    pool_ = std::make_unique<db::Pool>(pool);
    orchestrator::OrchestratorOptions slices;
    slices.data_dir = pg_->dir() / "crmd-data";
    slices.database_url = pg_->ConnectionString();
    orchestrator_ = std::make_unique<orchestrator::Orchestrator>(slices, *pool_);
  }
  void TearDown() override {
    orchestrator_.reset();
    pool_.reset();
    pg_.reset();
  }

  std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<orchestrator::Orchestrator> orchestrator_;
};

}  // namespace crm::testing
