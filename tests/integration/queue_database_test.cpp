// The outbound queue in a database of its own (QUEUE_DATABASE_URL; docs/architecture.md, "The
// queue database"): a real `crmd --role all` with the CRM data in one PostgreSQL cluster and the
// queues in another. Broadcasts and inbox messages are queued, sent and counted there, every
// message once (also across a kill -9 of the slice); the inbox's statuses follow in the slice's
// database; a message committed while the queue database is down is sent once it is back, and a
// contact writing meanwhile reaches the inbox; a message to a contact deleted before it went is
// not sent; one tenant's role cannot read another's queue; a destroyed tenant leaves nothing
// there.
#include <fstream>
#include <sstream>

#include "messaging_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

class QueueDatabaseTest : public MessagingTest {
 protected:
  QueueDatabaseTest() { extra_["CRM_PHONE_RPS"] = "1500"; }

  void Configure(std::map<std::string, std::string>& env) override {
    MessagingTest::Configure(env);
    queue_ = PgCluster::Start();
    ASSERT_EQ(Sql(queue_->ConnectionString(), "CREATE DATABASE crm_queue"), "");
    env["QUEUE_DATABASE_URL"] = Queue();
  }

  void TearDown() override {
    if (HasFailure()) {
      PrintSliceLogs();
    }
    crmd_.reset();
    queue_.reset();
    RuntimeTest::TearDown();
  }

  std::string Queue() const { return queue_->ConnectionString("crm_queue"); }
  std::string Main() const { return pg_->ConnectionString(); }

  // POST /api/messages to `phone`: the response.
  HttpResult SendMessage(const Tenant& t, const std::string& phone, const std::string& text) {
    return Fetch("POST", Url("/api/messages"), json{{"phone", phone}, {"text", text}}.dump(),
                 t.AuthJson());
  }

  // The message's status as the inbox shows it (the slice's database).
  std::string MessageStatus(const Tenant& t, long long id) {
    return Sql(Main(),
               "SELECT status FROM " + Schema(t) + ".messages WHERE id = " + std::to_string(id));
  }

  std::unique_ptr<PgCluster> queue_;
};

TEST_F(QueueDatabaseTest, TwoTenantsQueuesLiveInTheQueueDatabaseAndEveryMessageGoesOnce) {
  Tenant a = Register("a@example.com");
  Tenant b = Register("b@example.com");
  ASSERT_GT(a.slice, 0);
  ASSERT_GT(b.slice, 0);
  Settings(a, {{"latency_ms", 5}, {"read_rate", 1.0}, {"reply_rate", 0.0}});
  Settings(b, {{"latency_ms", 5}, {"read_rate", 0.0}, {"reply_rate", 0.0}});
  long long id_a = Broadcast(a, Numbers(300, "+49151"));
  long long id_b = Broadcast(b, Numbers(200, "+49152"));
  auto message = SendMessage(a, "+14155550199", "Hello from the inbox");
  ASSERT_EQ(message.status, 202) << message.body;
  long long message_id = message.Json()["id"].get<long long>();

  json pa;
  json pb;
  ASSERT_TRUE(ProgressReaches(a, id_a, "read", 300, 90s, &pa)) << pa.dump();
  ASSERT_TRUE(ProgressReaches(b, id_b, "delivered", 200, 90s, &pb)) << pb.dump();
  EXPECT_EQ(pa["status"], "completed") << pa.dump();
  EXPECT_EQ(pb["status"], "completed") << pb.dump();
  EXPECT_EQ(pa["failed"], 0);
  EXPECT_EQ(pb["failed"], 0);
  // The inbox message's statuses, reported to the queue's task, reached the slice's database.
  EXPECT_TRUE(WaitFor([&] { return MessageStatus(a, message_id) == "read"; }, 30s))
      << MessageStatus(a, message_id);

  // The queue is in the queue database, in a schema of the slice's name; the slice's own
  // schema's queue tables stayed empty.
  for (const auto& [t, n] : {std::pair(a, 301), std::pair(b, 200)}) {
    EXPECT_EQ(Sql(Queue(), "SELECT count(*) FROM " + Schema(t) + ".outbound_tasks"),
              std::to_string(n));
    EXPECT_EQ(Sql(Queue(), "SELECT depth FROM " + Schema(t) + ".queue_depth"), "0");
    EXPECT_EQ(Sql(Main(), "SELECT count(*) FROM " + Schema(t) + ".outbound_tasks"), "0");
    EXPECT_EQ(Sql(Queue(), "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = '" +
                               Schema(t) + "'"),
              Schema(t));
  }
  // What the simulator received (in the slice's database): each recipient once, none twice.
  EXPECT_EQ(Deliveries(a), "301/1");
  EXPECT_EQ(Deliveries(b), "200/1");

  // One tenant's role reaches its own queue, not another's.
  EXPECT_EQ(
      Sql(Queue(), "SET ROLE " + Schema(a) + "; SELECT count(*) FROM " + Schema(a) + ".broadcasts"),
      "1");
  EXPECT_NE(
      Sql(Queue(), "SET ROLE " + Schema(a) + "; SELECT count(*) FROM " + Schema(b) + ".broadcasts")
          .find("permission denied"),
      std::string::npos);

  // The list, the status page and the export read the queue database too.
  auto list = Fetch("GET", Url("/api/broadcasts"), {}, a.Auth());
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.Json()["items"].size(), 1u) << list.body;
  EXPECT_EQ(list.Json()["items"][0]["read"], 300);
  auto status = Fetch("GET", Url("/api/status"), {}, a.Auth());
  EXPECT_EQ(status.Json()["pending_tasks"], 0) << status.body;
  auto exported = Fetch("GET", Url("/api/export"), {}, a.Auth());
  ASSERT_EQ(exported.status, 200);
  bool broadcast_exported = false;
  std::istringstream lines(exported.body);
  for (std::string line; std::getline(lines, line);) {
    json row = json::parse(line);
    broadcast_exported |= row["type"] == "broadcast" && row["id"] == id_a && row["read"] == 300;
  }
  EXPECT_TRUE(broadcast_exported) << exported.body.substr(0, 2000);
  EXPECT_NE(exported.body.find("Hello from the inbox"), std::string::npos);
}

TEST_F(QueueDatabaseTest, AKill9OfTheSliceMidBroadcastStillSendsEachMessageOnce) {
  Tenant t = Register("crash@example.com");
  Settings(t, {{"latency_ms", 20}, {"read_rate", 0.0}, {"reply_rate", 0.0}});
  long long id = Broadcast(t, Numbers(5'000));
  std::string pid = KillSliceMidBroadcast(t, id, 1'000, 5'000);
  ASSERT_FALSE(pid.empty());
  json p;
  ASSERT_TRUE(ProgressReaches(t, id, "delivered", 5'000, 120s, &p)) << p.dump();
  EXPECT_NE(SlicePid(t.slice), pid) << "the supervisor restarted the slice";
  EXPECT_EQ(p["failed"], 0);
  EXPECT_EQ(p["status"], "completed");
  EXPECT_EQ(Deliveries(t), "5000/1");
  EXPECT_EQ(Sql(Queue(), "SELECT (SELECT depth FROM " + Schema(t) +
                             ".queue_depth) || '/' || "
                             "count(*) FROM " +
                             Schema(t) +
                             ".outbound_tasks WHERE state IN ('pending', 'claimed', "
                             "'sending', 'paused')"),
            "0/0");
}

TEST_F(QueueDatabaseTest, AMessageSavedWhileTheQueueDatabaseIsDownIsSentOnceItIsBack) {
  Tenant t = Register("down@example.com");
  auto first = SendMessage(t, "+14155550101", "before");
  ASSERT_EQ(first.status, 202) << first.body;
  long long first_id = first.Json()["id"].get<long long>();
  ASSERT_TRUE(WaitFor([&] { return MessageStatus(t, first_id) == "delivered"; }, 30s))
      << MessageStatus(t, first_id);

  // The queue's server goes away (its data stays): the message is saved, the answer says so.
  queue_->Pause();
  auto during = SendMessage(t, "+14155550102", "while the queue is down");
  EXPECT_EQ(during.status, 503) << during.body;
  EXPECT_NE(during.body.find("saved and will be sent"), std::string::npos) << during.body;
  std::string saved = Sql(Main(), "SELECT id || '/' || status FROM " + Schema(t) +
                                      ".messages WHERE body = 'while the queue is down'");
  ASSERT_NE(saved.find("/queued"), std::string::npos) << saved;
  long long saved_id = std::stoll(saved.substr(0, saved.find('/')));
  // A contact who writes meanwhile reaches the inbox: taking a message in needs no queue.
  auto inbound =
      Fetch("POST", Url("/api/channel/simulator/inbound"),
            json{{"from", "+14155550103"}, {"text", "are you there?"}}.dump(), t.AuthJson());
  ASSERT_EQ(inbound.status, 202) << inbound.body;
  EXPECT_TRUE(WaitFor(
      [&] {
        return Sql(Main(), "SELECT count(*) FROM " + Schema(t) +
                               ".messages WHERE body = 'are you there?'") == "1";
      },
      30s));

  queue_->Restart();
  EXPECT_TRUE(WaitFor([&] { return MessageStatus(t, saved_id) == "delivered"; }, 90s))
      << MessageStatus(t, saved_id);
  EXPECT_EQ(Sql(Main(), "SELECT count(*) || '/' || max(deliveries) FROM " + Schema(t) +
                            ".simulator_deliveries WHERE recipient = '+14155550102'"),
            "1/1");
  EXPECT_EQ(Sql(Queue(), "SELECT count(*) FROM " + Schema(t) +
                             ".outbound_tasks WHERE message_id = " + std::to_string(saved_id)),
            "1");
}

TEST_F(QueueDatabaseTest, AMessageWhoseContactWasDeletedIsNotSentAndAReusedIdIsQueuedAgain) {
  Tenant t = Register("gone-contact@example.com");
  // Unpaired: nothing is sent, tasks wait.
  ASSERT_EQ(Fetch("POST", Url("/api/channel/simulator/logout"), "{}", t.AuthJson()).status, 200);
  auto doomed = SendMessage(t, "+14155550111", "to a contact deleted before it went");
  ASSERT_EQ(doomed.status, 202) << doomed.body;
  long long doomed_id = doomed.Json()["id"].get<long long>();
  std::string contact =
      Sql(Main(), "SELECT id FROM " + Schema(t) + ".contacts WHERE phone = '+14155550111'");
  ASSERT_EQ(Fetch("DELETE", Url("/api/contacts/" + contact), {}, t.Auth()).status, 204);

  // A finished task of an earlier message under the id the next message gets, as a restore of
  // the slice's database to an earlier point leaves behind.
  const std::string next_id =
      Sql(Main(), "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM " +
                      Schema(t) + ".messages_id_seq");
  ASSERT_EQ(Sql(Queue(), "INSERT INTO " + Schema(t) +
                             ".outbound_tasks (message_id, recipient, body, state) VALUES (" +
                             next_id + ", '+14155550999', 'before the restore', 'read')"),
            "");
  auto fresh = SendMessage(t, "+14155550112", "after the restore");
  ASSERT_EQ(fresh.status, 202) << fresh.body;
  ASSERT_EQ(std::to_string(fresh.Json()["id"].get<long long>()), next_id);

  std::string qr = Fetch("GET", Url("/api/channel"), {}, t.Auth()).Json().value("qr", "");
  ASSERT_FALSE(qr.empty());
  ASSERT_EQ(Fetch("POST", Url("/api/channel/simulator/pair"), json{{"qr", qr}}.dump(), t.AuthJson())
                .status,
            200);
  EXPECT_TRUE(WaitFor([&] { return MessageStatus(t, std::stoll(next_id)) == "delivered"; }, 30s))
      << MessageStatus(t, std::stoll(next_id));
  EXPECT_EQ(Sql(Queue(), "SELECT state FROM " + Schema(t) +
                             ".outbound_tasks WHERE message_id = " + std::to_string(doomed_id)),
            "cancelled");
  EXPECT_EQ(Deliveries(t, "recipient = '+14155550111'"), "0/0")
      << "a message to a deleted contact went out";
  EXPECT_EQ(Sql(Queue(), "SELECT count(*) FROM " + Schema(t) +
                             ".outbound_tasks WHERE body = 'before the restore'"),
            "0");
}

TEST_F(QueueDatabaseTest, ADestroyedTenantLeavesNoSchemaAndNoRoleInTheQueueDatabase) {
  Tenant t = Register("gone@example.com");
  ASSERT_GT(t.slice, 0);
  ASSERT_EQ(Sql(Queue(), "SELECT count(*) FROM pg_namespace WHERE nspname = '" + Schema(t) + "'"),
            "1");
  auto r = Fetch("POST", Url("/auth/delete-account"), json{{"password", kPassword}}.dump(),
                 t.AuthJson());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(WaitFor(
      [&] {
        return Sql(Queue(),
                   "SELECT count(*) FROM pg_namespace WHERE nspname = '" + Schema(t) + "'") == "0";
      },
      30s));
  EXPECT_EQ(Sql(Queue(), "SELECT count(*) FROM pg_roles WHERE rolname = '" + Schema(t) + "'"), "0");
}

TEST(QueueDatabaseConfigTest, TheMainDatabaseIsRefusedAsTheQueueDatabase) {
  auto pg = PgCluster::Start();
  fs::path data = pg->dir() / "crmd-data";
  fs::create_directories(data);
  std::map<std::string, std::string> env = {{"CRM_DATABASE_URL", pg->ConnectionString()},
                                            {"QUEUE_DATABASE_URL", pg->ConnectionString()},
                                            {"CRM_DATA_DIR", data.string()},
                                            {"CRM_LISTEN", "127.0.0.1:0"}};
  auto [code, log] = RunCommand({CRM_CRMD_BINARY, "--role", "all"}, env, "");
  EXPECT_NE(code, 0) << log;
  EXPECT_NE(log.find("queue_database_url"), std::string::npos) << log;
  EXPECT_NE(log.find("is the main database"), std::string::npos) << log;
}

}  // namespace
}  // namespace crm::testing
