// The stores (the runtime's SQL, behind public headers) against a real PostgreSQL: what each
// promises about missing rows, clashes and repeats, without an HTTP server in between.
#include <gtest/gtest.h>

#include "crm/db/migrations.hpp"
#include "crm/db/pool.hpp"
#include "crm/error.hpp"
#include "crm/gateway/account_store.hpp"
#include "crm/gateway/session_store.hpp"
#include "crm/orchestrator/slice_store.hpp"
#include "crm/queue/store.hpp"
#include "crm/slice/contact_store.hpp"
#include "crm/slice/conversation_store.hpp"
#include "crm/slice/message_store.hpp"
#include "crm/testing/pg_cluster.hpp"

namespace crm::testing {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = PgCluster::Start();
    pqxx::connection admin(pg_->ConnectionString());
    db::Migrate(admin, "gateway", "gateway");
    db::Migrate(admin, "slice", "slice_1");
    db::PoolOptions options;
    options.url = pg_->ConnectionString();
    options.max_size = 2;
    options.search_path = "slice_1";
    pool_ = std::make_unique<db::Pool>(options);
  }

  std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<db::Pool> pool_;
};

slice::ContactInput Contact(const std::string& name, const std::string& phone) {
  slice::ContactInput in;
  in.name = name;
  in.phone = phone;
  return in;
}

TEST_F(StoreTest, ContactsClashOnPhoneAndMissingOnesAreNotFound) {
  auto ana = pool_->Write([](pqxx::work& tx) {
    return slice::ContactStore(tx).Create(Contact("Ana", "+14155550100"));
  });
  long long id = ana["id"].get<long long>();
  try {
    pool_->Write(
        [](pqxx::work& tx) { slice::ContactStore(tx).Create(Contact("Two", "+14155550100")); });
    FAIL();
  } catch (const Conflict& e) {
    EXPECT_EQ(e.field(), "phone");
  }
  auto found = pool_->Read(
      [](pqxx::read_transaction& tx) { return slice::ContactStore(tx).List(0, "ana", 10); });
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["phone"], "+14155550100");
  pool_->Write([id](pqxx::work& tx) { slice::ContactStore(tx).Delete(id); });
  EXPECT_THROW(
      pool_->Read([id](pqxx::read_transaction& tx) { return slice::ContactStore(tx).Get(id); }),
      NotFound);
}

TEST_F(StoreTest, InboundMessagesMakeContactAndConversationOnceAndRepeatsAreIgnored) {
  channel::InboundMessage in{"wamid.1", "+447700900123", "Bea", "hello", 0};
  auto first = pool_->Write([&](pqxx::work& tx) { return slice::MessageStore(tx).TakeIn(in); });
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->new_contact);
  EXPECT_EQ(first->conversation["unread"], 1);
  auto again = pool_->Write([&](pqxx::work& tx) { return slice::MessageStore(tx).TakeIn(in); });
  EXPECT_FALSE(again) << "the same wamid is taken in once";
  long long contact = (*first->new_contact)["id"].get<long long>();
  auto [conversation, created] =
      pool_->Write([&](pqxx::work& tx) { return slice::ConversationStore(tx).Open(contact); });
  EXPECT_FALSE(created) << "the inbound message opened it";
  EXPECT_EQ(conversation["contact"]["name"], "Bea");
  auto sent = pool_->Write(
      [](pqxx::work& tx) { return slice::MessageStore(tx).Send(0, "+14155550199", "hi"); });
  EXPECT_EQ(sent["direction"], "outbound");
  EXPECT_EQ(pool_->Read([](pqxx::read_transaction& tx) { return queue::PendingDepth(tx); }), 1)
      << "a sent message is queued in the same transaction";
  EXPECT_THROW(
      pool_->Write([](pqxx::work& tx) { slice::MessageStore(tx).Add(99, "outbound", "x"); }),
      NotFound);
}

TEST_F(StoreTest, AccountsSessionsAndSlicesKeepTheirPromises) {
  using orchestrator::SliceState;
  long long user = pool_->Write(
      [](pqxx::work& tx) { return gateway::UserStore(tx).Create("ana@example.com", "hash"); });
  EXPECT_THROW(pool_->Write([](pqxx::work& tx) {
    gateway::UserStore(tx).Create("ana@example.com", "other");
  }),
               Conflict);
  long long slice = pool_->Write([](pqxx::work& tx) {
    orchestrator::SliceStore slices(tx);
    long long id = slices.Insert(1000, 1000, "rlimit-as");
    slices.Transition(id, SliceState::kAvailable, "test");
    return id;
  });
  EXPECT_THROW(pool_->Write([slice](pqxx::work& tx) {
    orchestrator::SliceStore(tx).Transition(slice, SliceState::kSuspended, "test");
  }),
               Conflict)
      << "available → suspended is not a lifecycle step";
  EXPECT_EQ(pool_->Write([user](pqxx::work& tx) {
    return orchestrator::SliceStore(tx).TakeAvailable(user);
  }),
            slice);
  pool_->Write([user](pqxx::work& tx) {
    gateway::SessionStore(tx).Create("ab", user, std::chrono::hours(1), "127.0.0.1", "test");
  });
  auto caller = pool_->Write(
      [](pqxx::work& tx) { return gateway::SessionStore(tx).Touch("ab", std::chrono::hours(1)); });
  ASSERT_TRUE(caller);
  EXPECT_EQ(caller->slice_id, slice);
  EXPECT_EQ(caller->slice_state, SliceState::kAssigned);
  pool_->Write([](pqxx::work& tx) { gateway::SessionStore(tx).Delete("ab"); });
  EXPECT_FALSE(pool_->Write(
      [](pqxx::work& tx) { return gateway::SessionStore(tx).Touch("ab", std::chrono::hours(1)); }));
}

}  // namespace
}  // namespace crm::testing
