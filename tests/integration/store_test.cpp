// The stores (the runtime's SQL, behind public headers) against a real PostgreSQL: what each
// promises about missing rows, clashes and repeats, without an HTTP server in between.
#include <gtest/gtest.h>

#include <map>

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

// The queue depth and each broadcast's progress are counters kept by statement triggers
// (0003_queue_density.sql, 0005_broadcast_progress.sql); after every kind of change they must
// equal what counting the tasks says. A broadcast's enqueue counts its own tasks instead
// (0008_enqueue_counts_itself.sql): what it tells the trigger must not reach the inserts after it.
// Recipients of every broadcast's audience not yet made tasks (0009_broadcast_audience.sql).
constexpr const char* kAudienceLeft =
    "(SELECT coalesce(sum(cardinality(recipients) - taken), 0) FROM broadcast_audience)";

TEST_F(StoreTest, QueueDepthAndProgressCountersMatchCountsAfterEveryKindOfChange) {
  // Recipients a cancel took from a broadcast's audience: counted as cancelled, never tasks.
  std::map<long long, long long> cancelled_unmade;
  auto audience_left = [this](long long id) {
    return pool_->Read([id](pqxx::read_transaction& tx) {
      return tx
          .exec_params1(
              "SELECT coalesce(sum(cardinality(recipients) - taken), 0) FROM broadcast_audience "
              "WHERE broadcast_id = $1",
              id)[0]
          .as<long long>();
    });
  };
  auto cancel = [&](long long id) {
    cancelled_unmade[id] = audience_left(id);
    pool_->Write([&](pqxx::work& tx) { queue::ControlBroadcast(tx, id, "cancel"); });
  };
  auto check = [&](const std::string& step, long long expected) {
    nlohmann::json unmade = nlohmann::json::object();
    for (auto [id, n] : cancelled_unmade) {
      unmade[std::to_string(id)] = n;
    }
    std::string wrong = pool_->Read([&](pqxx::read_transaction& tx) {
      return std::string(
          tx.exec_params1(
                "SELECT coalesce(string_agg(b.id || ': kept ' || row(b.tasks_queued, "
                "  b.tasks_sent, b.tasks_delivered, b.tasks_read, b.tasks_failed, "
                "  b.tasks_cancelled)::text || ', counted ' || c::text, '; '), '') "
                "FROM broadcasts b, LATERAL (SELECT "
                "  count(*) FILTER (WHERE state IN ('pending', 'claimed', 'sending', 'paused')) + "
                "    (SELECT coalesce(sum(cardinality(a.recipients) - a.taken), 0) "
                "     FROM broadcast_audience a WHERE a.broadcast_id = b.id), "
                "  count(*) FILTER (WHERE state = 'sent'), "
                "  count(*) FILTER (WHERE state = 'delivered'), "
                "  count(*) FILTER (WHERE state = 'read'), "
                "  count(*) FILTER (WHERE state = 'failed'), "
                "  count(*) FILTER (WHERE state = 'cancelled') + "
                "    coalesce(($1::jsonb ->> b.id::text)::bigint, 0) "
                "  FROM outbound_tasks t WHERE t.broadcast_id = b.id) c(q, s, d, r, f, x) "
                "WHERE (b.tasks_queued, b.tasks_sent, b.tasks_delivered, b.tasks_read, "
                "  b.tasks_failed, b.tasks_cancelled) <> (c.q, c.s, c.d, c.r, c.f, c.x)",
                unmade.dump())[0]
              .c_str());
    });
    EXPECT_EQ(wrong, "") << "progress counters after " << step;
    auto [counter, counted] = pool_->Read([](pqxx::read_transaction& tx) {
      auto r = tx.exec1(
          "SELECT (SELECT depth FROM queue_depth), (SELECT count(*) FROM outbound_tasks "
          "WHERE state IN ('pending', 'claimed', 'sending', 'paused')) + " +
          std::string(kAudienceLeft));
      return std::pair(r[0].as<long long>(), r[1].as<long long>());
    });
    EXPECT_EQ(counter, counted) << "after " << step;
    EXPECT_EQ(counted, expected) << "after " << step;
    EXPECT_EQ(pool_->Read([](pqxx::read_transaction& tx) { return queue::PendingDepth(tx); }),
              counter)
        << "after " << step;
  };
  auto numbers = [](int from, int n) {
    std::vector<std::string> out;
    for (int i = from; i < from + n; ++i) {
      out.push_back("+1415555" + std::to_string(1000 + i));
    }
    return out;
  };
  check("nothing", 0);
  long long first = pool_->Write([&](pqxx::work& tx) {
    return queue::EnqueueBroadcast(tx, {"one", "hi", numbers(0, 10), {}}, 1000)["id"]
        .get<long long>();
  });
  long long second = pool_->Write([&](pqxx::work& tx) {
    return queue::EnqueueBroadcast(tx, {"two", "hi", numbers(10, 5), {}}, 1000)["id"]
        .get<long long>();
  });
  check("two broadcasts", 15);
  EXPECT_THROW(pool_->Write([&](pqxx::work& tx) {
    return queue::EnqueueBroadcast(tx, {"three", "hi", numbers(20, 6), {}}, 20);
  }),
               Throttled)
      << "15 pending + 6 is past a depth of 20";
  check("a refused broadcast", 15);
  auto message = pool_->Write(
      [](pqxx::work& tx) { return slice::MessageStore(tx).Send(0, "+14155550199", "hi"); });
  check("an inbox message", 16);

  auto lease = pool_->Run(
      [](pqxx::connection& c) { return queue::AcquireLease(c, "test", std::chrono::seconds(60)); });
  ASSERT_TRUE(lease);
  auto claimed = pool_->Run([&](pqxx::connection& c) { return queue::Claim(c, *lease, 8); });
  ASSERT_EQ(claimed.size(), 8u);
  check("a claim", 16);
  ASSERT_TRUE(claimed[0].message_id) << "the pending inbox message before the audiences";
  std::vector<long long> ids;
  for (std::size_t i = 1; i < 7; ++i) {
    ids.push_back(claimed[i].id);
  }
  auto sending =
      pool_->Run([&](pqxx::connection& c) { return queue::MarkSending(c, lease->epoch, ids); });
  ASSERT_EQ(sending.size(), 6u);
  check("sending", 16);
  std::vector<queue::TaskResult> results = {
      {ids[0], "sent", "wamid.a", "", 0, false},      {ids[1], "sent", "wamid.b", "", 0, false},
      {ids[2], "sent", "wamid.c", "", 0, false},      {ids[3], "failed", "", "refused", 0, false},
      {ids[4], "pending", "", "busy", 60'000, false}, {ids[5], "pending", "", "busy", 0, false},
      {claimed[0].id, "pending", "", "", 0, true},    {claimed[7].id, "pending", "", "", 0, true}};
  pool_->Run([&](pqxx::connection& c) { queue::RecordResults(c, lease->epoch, results); });
  check("3 sent, 1 failed, 2 retried, 2 returned unsent", 12);
  pool_->Write([](pqxx::work& tx) {
    queue::ApplyStatuses(tx, {{"wamid.a", "delivered", "", 0, ""},
                              {"wamid.b", "read", "", 0, ""},
                              {"wamid.c", "failed", "", 0, "undeliverable"}});
  });
  check("delivery statuses", 12);

  pool_->Write([&](pqxx::work& tx) { queue::ControlBroadcast(tx, second, "pause"); });
  check("a pause", 12);
  pool_->Write([&](pqxx::work& tx) { queue::ControlBroadcast(tx, second, "resume"); });
  check("a resume", 12);
  auto left_in_second = audience_left(second) + pool_->Read([second](pqxx::read_transaction& tx) {
    return tx
        .exec_params1(
            "SELECT count(*) FROM outbound_tasks WHERE broadcast_id = $1 AND state IN ('pending', "
            "'paused')",
            second)[0]
        .as<long long>();
  });
  pool_->Write([&](pqxx::work& tx) { queue::ControlBroadcast(tx, second, "pause"); });
  cancel(second);
  check("a paused broadcast cancelled", 12 - left_in_second);
  cancel(first);
  long long left = pool_->Read([](pqxx::read_transaction& tx) {
    return tx
        .exec1("SELECT count(*) + " + std::string(kAudienceLeft) +
               " FROM outbound_tasks WHERE state IN ('pending', 'claimed', 'sending', 'paused')")[0]
        .as<long long>();
  });
  check("a running broadcast cancelled", left);
  EXPECT_GE(left, 1) << "the inbox message is not part of a broadcast";
  pool_->Write([&](pqxx::work& tx) {
    tx.exec_params("DELETE FROM messages WHERE id = $1", message["id"].get<long long>());
  });
  check("a message deleted (its task cascades)", left - 1);
  pool_->Write([&](pqxx::work& tx) {
    return queue::EnqueueBroadcast(tx, {"four", "hi", numbers(30, 4), {}}, 1000);
  });
  check("one more broadcast", left + 3);
  pool_->Write([&](pqxx::work& tx) {
    queue::EnqueueBroadcast(tx, {"five", "hi", numbers(40, 3), {}}, 1000);
    slice::MessageStore(tx).Send(0, "+14155550198", "after a broadcast");
    queue::EnqueueBroadcast(tx, {"six", "hi", {}, {}}, 1000);
    slice::MessageStore(tx).Send(0, "+14155550197", "after an empty one");
  });
  check("a broadcast, a message, an empty broadcast and a message in one transaction", left + 8);
  auto at_once =
      pool_->Run([&](pqxx::connection& c) { return queue::Claim(c, *lease, 2, true); });
  ASSERT_EQ(at_once.size(), 2u);
  EXPECT_TRUE(at_once[0].in_flight) << "claimed straight into sending";
  check("a claim straight into sending", left + 8);
  pool_->Run([&](pqxx::connection& c) {
    queue::RecordResults(c, lease->epoch, {{at_once[0].id, "sent", "wamid.d", "", 0, false},
                                           {at_once[1].id, "sent", "wamid.e", "", 0, false}});
  });
  check("two more sent", left + 6);
  pool_->Write([](pqxx::work& tx) { tx.exec("TRUNCATE outbound_tasks, broadcast_audience"); });
  cancelled_unmade.clear();
  check("a truncate", 0);
}

// The dispatcher's claims read on from where the last one stopped (a cursor over the table),
// instead of looking at every pending task each time; due tasks older than the ones it follows
// still go first, nothing is claimed twice, and once a claim finds fewer than it asked for the
// cursor is emptied, so the next claim looks at every pending task again. The pending tasks are
// written as a queue from before broadcasts kept an audience holds them
// (0009_broadcast_audience.sql).
TEST_F(StoreTest, ClaimsReadOnFromTheCursorOlderDueTasksFirstNoneTwice) {
  long long broadcast = pool_->Write([&](pqxx::work& tx) {
    long long id =
        queue::EnqueueBroadcast(tx, {"cursor", "hi", {}, {}}, 1000)["id"].get<long long>();
    tx.exec_params(
        "INSERT INTO outbound_tasks (broadcast_id, recipient) "
        "SELECT $1, '+1415555' || (2000 + i) FROM generate_series(0, 29) i ORDER BY i",
        id);
    return id;
  });
  auto lease = pool_->Run(
      [](pqxx::connection& c) { return queue::AcquireLease(c, "test", std::chrono::seconds(60)); });
  ASSERT_TRUE(lease);
  queue::ClaimCursor cursor;
  auto claim = [&](int limit) {
    auto tasks = pool_->Run(
        [&](pqxx::connection& c) { return queue::Claim(c, *lease, limit, true, &cursor); });
    std::vector<long long> ids;
    for (const auto& t : tasks) {
      ids.push_back(t.id);
    }
    return ids;
  };
  long long first_id = pool_->Read([&](pqxx::read_transaction& tx) {
    return tx
        .exec_params1("SELECT min(id) FROM outbound_tasks WHERE broadcast_id = $1", broadcast)[0]
        .as<long long>();
  });
  auto range = [&](long long from, long long n) {
    std::vector<long long> ids;
    for (long long i = 0; i < n; ++i) {
      ids.push_back(first_id + from + i);
    }
    return ids;
  };

  EXPECT_EQ(claim(10), range(0, 10)) << "a fresh broadcast: its first tasks, in table order";
  ASSERT_GE(cursor.block, 0) << "a full claim sets the cursor";
  EXPECT_FALSE(cursor.not_before.empty());

  // A due task older than the broadcast (a retry, say) goes before the tasks the cursor follows.
  long long older = pool_->Write([&](pqxx::work& tx) {
    return tx
        .exec_params1(
            "INSERT INTO outbound_tasks (broadcast_id, recipient, not_before) "
            "VALUES ($1, '+14155559999', now() - interval '1 hour') RETURNING id",
            broadcast)[0]
        .as<long long>();
  });
  std::vector<long long> expected = range(10, 9);
  expected.push_back(older);
  EXPECT_EQ(claim(10), expected) << "the older task, then the broadcast read on from the cursor";
  EXPECT_GE(cursor.block, 0);

  EXPECT_EQ(claim(10), range(19, 10));
  EXPECT_EQ(claim(10), range(29, 1)) << "what is left";
  EXPECT_EQ(cursor.block, -1) << "a claim that found fewer than it asked for empties the cursor";

  // A task returned to the queue (behind where the cursor was) is found by the next claim.
  pool_->Run([&](pqxx::connection& c) {
    queue::RecordResults(c, lease->epoch, {{first_id, "pending", "", "", 0, true}});
  });
  EXPECT_EQ(claim(10), std::vector<long long>{first_id});

  // A cursor past the end of the table finds nothing and is emptied; nothing is left anyway.
  cursor = {1'000'000, cursor.not_before.empty() ? "2000-01-01T00:00:00+00:00" : cursor.not_before};
  EXPECT_TRUE(claim(10).empty());
  EXPECT_EQ(cursor.block, -1);
  long long claimed_once = pool_->Read([](pqxx::read_transaction& tx) {
    return tx
        .exec1("SELECT count(*) FROM outbound_tasks WHERE state = 'sending' AND attempts = 1")[0]
        .as<long long>();
  });
  EXPECT_EQ(claimed_once, 31)
      << "every task sending, each on its first attempt (the returned one's was refunded)";
}

// A broadcast's recipients wait as its audience (0009_broadcast_audience.sql) and become tasks as
// they are claimed: in the order given, across the rows of 1,000, each once, pending tasks
// (inbox messages) first; a paused broadcast's audience is skipped and a cancelled one's counted
// as cancelled; a claim without the lease takes nothing.
TEST_F(StoreTest, AnAudienceBecomesTasksAsItIsClaimedInOrderEachOnce) {
  std::vector<std::string> numbers;
  for (int i = 0; i < 2500; ++i) {
    numbers.push_back("+1416555" + std::to_string(1000 + i));
  }
  long long first = pool_->Write([&](pqxx::work& tx) {
    return queue::EnqueueBroadcast(tx, {"big", "hello", numbers, {}}, 10'000)["id"]
        .get<long long>();
  });
  long long second = pool_->Write([&](pqxx::work& tx) {
    return queue::EnqueueBroadcast(tx, {"small", "hi", {"+14165550001", "+14165550002"}, {}},
                                   10'000)["id"]
        .get<long long>();
  });
  EXPECT_EQ(pool_->Read([](pqxx::read_transaction& tx) {
    return std::string(tx.exec1("SELECT string_agg(broadcast_id || ':' || part || ':' || "
                                "cardinality(recipients), ' ' ORDER BY broadcast_id, part) "
                                "FROM broadcast_audience")[0]
                           .c_str());
  }),
            std::to_string(first) + ":0:1000 " + std::to_string(first) + ":1:1000 " +
                std::to_string(first) + ":2:500 " + std::to_string(second) + ":0:2")
      << "a row per 1,000 recipients";
  EXPECT_EQ(pool_->Read([](pqxx::read_transaction& tx) {
    return tx.exec1("SELECT count(*) FROM outbound_tasks")[0].as<long long>();
  }),
            0)
      << "no task before a claim";
  pool_->Write([](pqxx::work& tx) { slice::MessageStore(tx).Send(0, "+14155550196", "typed"); });

  auto lease = pool_->Run(
      [](pqxx::connection& c) { return queue::AcquireLease(c, "test", std::chrono::seconds(60)); });
  ASSERT_TRUE(lease);
  std::vector<std::string> sent;
  auto claim = [&](int limit) {
    auto tasks =
        pool_->Run([&](pqxx::connection& c) { return queue::Claim(c, *lease, limit, true); });
    for (const auto& t : tasks) {
      EXPECT_TRUE(t.in_flight);
      EXPECT_EQ(t.attempts, 1);
      if (t.broadcast_id) {
        EXPECT_EQ(t.text, *t.broadcast_id == first ? "hello" : "hi");
        sent.push_back(t.recipient);
      } else {
        EXPECT_EQ(t.text, "typed");
      }
    }
    return tasks;
  };
  auto tasks = claim(600);
  ASSERT_EQ(tasks.size(), 600u);
  EXPECT_FALSE(tasks[0].broadcast_id) << "the pending inbox message first";
  EXPECT_EQ(claim(600).size(), 600u) << "the rest of the first row and 200 of the second";
  pool_->Write([&](pqxx::work& tx) { queue::ControlBroadcast(tx, first, "pause"); });
  tasks = claim(600);
  ASSERT_EQ(tasks.size(), 2u) << "a paused broadcast's audience waits; the next one goes";
  EXPECT_EQ(tasks[0].recipient, "+14165550001");
  pool_->Write([&](pqxx::work& tx) { queue::ControlBroadcast(tx, first, "resume"); });
  EXPECT_EQ(claim(1000).size(), 1000u);
  EXPECT_EQ(claim(1000).size(), 301u) << "what was left of 2,500 after 599 + 600 + 1,000";
  EXPECT_TRUE(claim(10).empty());
  std::vector<std::string> expected(numbers);
  expected.insert(expected.begin() + 1199, {"+14165550001", "+14165550002"});
  // 1,199 of `first` before the pause, then `second`'s two, then the rest of `first`.
  EXPECT_EQ(sent, expected) << "every recipient once, in the order given";
  EXPECT_EQ(pool_->Read([](pqxx::read_transaction& tx) {
    return tx.exec1("SELECT count(*) FROM broadcast_audience")[0].as<long long>();
  }),
            0)
      << "finished rows are deleted";

  // A cancel counts what was never made a task; a claim without the lease takes nothing.
  long long third = pool_->Write([&](pqxx::work& tx) {
    return queue::EnqueueBroadcast(tx, {"cancelled", "hi", numbers, {}}, 10'000)["id"]
        .get<long long>();
  });
  EXPECT_EQ(claim(300).size(), 300u);
  pool_->Run([&](pqxx::connection& c) { queue::ReleaseLease(c, *lease); });
  EXPECT_TRUE(claim(300).empty()) << "the lease is gone";
  auto progress =
      pool_->Write([&](pqxx::work& tx) { return queue::ControlBroadcast(tx, third, "cancel"); });
  EXPECT_EQ(progress["cancelled"], 2200);
  EXPECT_EQ(progress["queued"], 300) << "the 300 sending";
  EXPECT_EQ(pool_->Read([](pqxx::read_transaction& tx) { return queue::PendingDepth(tx); }),
            2503 + 300)
      << "every task claimed above is still sending (no result recorded); none left unmade";
  EXPECT_EQ(pool_->Read([](pqxx::read_transaction& tx) {
    return tx.exec1("SELECT count(*) FROM broadcast_audience")[0].as<long long>();
  }),
            0);
}

}  // namespace
}  // namespace crm::testing
