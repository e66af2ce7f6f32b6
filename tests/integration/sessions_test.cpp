// The gateway's session cache against a real PostgreSQL: an entry old enough is answered from the
// cache while the database confirms it in the background, and what the database then says (the
// session gone, its expiry renewed) reaches the next request.
#include "crm/gateway/sessions.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "crm/db/migrations.hpp"
#include "crm/db/pool.hpp"
#include "crm/gateway/auth.hpp"
#include "crm/gateway/session_store.hpp"
#include "crm/http/blocking.hpp"
#include "crm/testing/pg_cluster.hpp"

namespace crm::gateway {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

constexpr const char* kToken = "sessions-test-token";

class SessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = testing::PgCluster::Start();
    admin_.emplace(pg_->ConnectionString());
    db::Migrate(*admin_, "gateway", "gateway");
    pqxx::work tx(*admin_);
    user_id_ = tx.exec1(
                     "INSERT INTO gateway.users (email, password_hash) "
                     "VALUES ('owner@example.com', 'x') RETURNING id")[0]
                   .as<long long>();
    SessionStore(tx).Create(TokenHash(kToken), user_id_, hours(3), "127.0.0.1", "test");
    tx.commit();
    db::PoolOptions options;
    options.url = pg_->ConnectionString();
    options.max_size = 2;
    pool_.emplace(options);
  }

  void Sql(const std::string& sql) {
    pqxx::work tx(*admin_);
    tx.exec(sql);
    tx.commit();
  }

  // `count` requests naming kToken at once (started before any of them is answered), then the
  // I/O context run until nothing is left to do: a confirmation a lookup started in the
  // background has then finished too.
  std::vector<std::optional<Caller>> ResolveAtOnce(Sessions& sessions, int count) {
    http::Request request;
    request.set("Cookie", std::string(kSessionCookie) + "=" + kToken);
    std::vector<std::future<std::optional<Caller>>> futures;
    for (int i = 0; i < count; ++i) {
      futures.push_back(
          boost::asio::co_spawn(io_, sessions.Resolve(request), boost::asio::use_future));
    }
    io_.restart();
    io_.run();
    std::vector<std::optional<Caller>> answers;
    for (auto& future : futures) {
      answers.push_back(future.get());
    }
    return answers;
  }
  std::optional<Caller> Resolve(Sessions& sessions) { return ResolveAtOnce(sessions, 1).front(); }

  // One request of a connection whose memo is `memo`, as the gateway's head check makes it.
  const Caller* Resolve(Sessions& sessions, SessionMemo& memo) {
    http::Request request;
    request.set("Cookie", std::string(kSessionCookie) + "=" + kToken);
    auto future =
        boost::asio::co_spawn(io_, sessions.Resolve(request, memo), boost::asio::use_future);
    io_.restart();
    io_.run();
    return future.get();
  }

  std::unique_ptr<testing::PgCluster> pg_;
  std::optional<pqxx::connection> admin_;
  std::optional<db::Pool> pool_;
  http::BlockingPool blocking_{2};
  boost::asio::io_context io_;
  long long user_id_ = 0;
};

TEST_F(SessionsTest, AnEntryOldEnoughIsAnsweredFromTheCacheAndARevocationReachesTheNextRequest) {
  // Entries trusted for an hour, confirmed again by every request that finds one: the old
  // cache answered for the whole hour.
  Sessions sessions(http::DbCall(blocking_, *pool_), hours(3), {hours(1), milliseconds(0)});
  ASSERT_TRUE(Resolve(sessions).has_value());
  // Revoked by another process, with no notification to this one.
  Sql("DELETE FROM gateway.sessions");
  std::optional<Caller> cached = Resolve(sessions);
  ASSERT_TRUE(cached.has_value()) << "a request after the revocation is answered from the cache";
  EXPECT_EQ(cached->user_id, user_id_);
  EXPECT_FALSE(Resolve(sessions).has_value())
      << "the background confirmation found the session gone";
}

TEST_F(SessionsTest, AnEntryYoungerThanItsRefreshIsNotConfirmedAgain) {
  Sessions sessions(http::DbCall(blocking_, *pool_), hours(3), {hours(1), hours(1)});
  ASSERT_TRUE(Resolve(sessions).has_value());
  Sql("DELETE FROM gateway.sessions");
  EXPECT_TRUE(Resolve(sessions).has_value());
  EXPECT_TRUE(Resolve(sessions).has_value()) << "no confirmation before refresh_after";
}

TEST_F(SessionsTest, AConnectionsMemoAnswersUntilItsEntryIsDueForConfirmation) {
  Sessions young(http::DbCall(blocking_, *pool_), hours(3), {hours(1), hours(1)});
  SessionMemo memo;
  ASSERT_NE(Resolve(young, memo), nullptr);
  EXPECT_NE(young.Recall(kToken, memo), nullptr) << "younger than refresh_after";
  EXPECT_EQ(young.Recall("another-token", memo), nullptr);

  // Due for confirmation at once: the memo never answers, so the shared cache sees the
  // requests, confirms in the background and the memos take what it finds. (Held to `fresh`,
  // this memo would answer for an hour after the revocation below.)
  Sessions due(http::DbCall(blocking_, *pool_), hours(3), {hours(1), milliseconds(0)});
  SessionMemo due_memo;
  ASSERT_NE(Resolve(due, due_memo), nullptr);
  EXPECT_EQ(due.Recall(kToken, due_memo), nullptr);
  Sql("DELETE FROM gateway.sessions");
  EXPECT_NE(Resolve(due, due_memo), nullptr) << "answered from the cache, confirmation started";
  EXPECT_EQ(Resolve(due, due_memo), nullptr) << "the confirmation found the session gone";
  EXPECT_EQ(due.Recall(kToken, due_memo), nullptr);
}

TEST_F(SessionsTest, ARenewalFoundInTheBackgroundIsToldToTheNextRequest) {
  Sessions sessions(http::DbCall(blocking_, *pool_), hours(3), {hours(1), milliseconds(0)});
  ASSERT_TRUE(Resolve(sessions).has_value());
  // Most of the session used: the next confirmation pushes its expiry forward.
  Sql("UPDATE gateway.sessions SET expires_at = now() + interval '30 minutes', "
      "last_seen_at = now() - interval '1 hour'");
  std::optional<Caller> cached = Resolve(sessions);  // starts the confirmation
  ASSERT_TRUE(cached.has_value());
  EXPECT_FALSE(cached->renewed) << "the first request told it; the cache does not again";
  std::optional<Caller> renewed = Resolve(sessions);
  ASSERT_TRUE(renewed.has_value());
  EXPECT_TRUE(renewed->renewed) << "the cookie is sent again by the request after the renewal";
  pqxx::read_transaction tx(*admin_);
  EXPECT_TRUE(tx.exec1("SELECT expires_at > now() + interval '2 hours' "
                       "AND last_seen_at > now() - interval '1 minute' FROM gateway.sessions")[0]
                  .as<bool>());
}

TEST_F(SessionsTest, RequestsThatFindTheSameSessionMissingWaitForOneAnswerFromTheDatabase) {
  // Every confirmation writes the session's row: count the writes.
  Sql("CREATE TABLE gateway.touches (at timestamptz NOT NULL DEFAULT now());"
      "CREATE FUNCTION gateway.count_touch() RETURNS trigger LANGUAGE plpgsql AS "
      "$$BEGIN INSERT INTO gateway.touches DEFAULT VALUES; RETURN NULL; END$$;"
      "CREATE TRIGGER count_touch AFTER UPDATE ON gateway.sessions "
      "FOR EACH ROW EXECUTE FUNCTION gateway.count_touch()");
  Sessions sessions(http::DbCall(blocking_, *pool_), hours(3), {hours(1), hours(1)});
  // A client back after its entry ran out, on 32 connections at once.
  for (const std::optional<Caller>& caller : ResolveAtOnce(sessions, 32)) {
    ASSERT_TRUE(caller.has_value());
    EXPECT_EQ(caller->user_id, user_id_);
  }
  pqxx::read_transaction tx(*admin_);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM gateway.touches")[0].as<int>(), 1);
}

TEST_F(SessionsTest, RequestsWaitingForARevokedSessionAreAllRefused) {
  Sql("DELETE FROM gateway.sessions");
  Sessions sessions(http::DbCall(blocking_, *pool_), hours(3), {hours(1), hours(1)});
  for (const std::optional<Caller>& caller : ResolveAtOnce(sessions, 8)) {
    EXPECT_FALSE(caller.has_value());
  }
}

}  // namespace
}  // namespace crm::gateway
