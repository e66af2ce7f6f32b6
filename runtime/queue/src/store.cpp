#include "crm/queue/store.hpp"

#include <algorithm>
#include <iterator>
#include <set>

#include "crm/db/json.hpp"
#include "crm/db/plans.hpp"
#include "crm/db/pool.hpp"
#include "crm/error.hpp"

namespace crm::queue {
namespace {

using nlohmann::json;

std::optional<long long> OptionalId(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional(f.as<long long>());
}

std::string Thousands(long long n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) {
      out += ',';
    }
    out += digits[i];
  }
  return out;
}

// A broadcast's progress, from the counters its row keeps (0005_broadcast_progress.sql): the
// same cost at any size.
// PostgreSQL's text form of a bigint[]: "{1,2,3}".
std::string BigintArray(const std::vector<long long>& ids) {
  std::string array = "{";
  for (long long id : ids) {
    if (array.size() > 1) {
      array += ',';
    }
    array += std::to_string(id);
  }
  return array + "}";
}

// Recipients a row of broadcast_audience holds: ~16 KB of text[], stored compressed out of line,
// which each claim of the row reads whole to take its next batch (at most a second's sends).
constexpr std::size_t kAudiencePart = 1000;

// PostgreSQL's text form of a text[], every element quoted: {"a","b\\"c"}. Into `out`, reused.
void TextArray(std::vector<std::string>::const_iterator from,
               std::vector<std::string>::const_iterator to, std::string& out) {
  out.assign(1, '{');
  for (auto it = from; it != to; ++it) {
    if (it != from) {
      out += ',';
    }
    out += '"';
    for (char c : *it) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
}

const char* kProgressSql =
    "SELECT b.id, b.name, b.status, b.total, to_json(b.created_at) #>> '{}', "
    "  to_json(b.finished_at) #>> '{}', b.tasks_queued, "
    "  b.tasks_sent + b.tasks_delivered + b.tasks_read, b.tasks_delivered + b.tasks_read, "
    "  b.tasks_read, b.tasks_failed, b.tasks_cancelled "
    "FROM broadcasts b ";

json ProgressJson(const pqxx::row& r) {
  return {{"id", r[0].as<long long>()},
          {"name", r[1].c_str()},
          {"status", r[2].c_str()},
          {"total", r[3].as<long long>()},
          {"created_at", r[4].c_str()},
          {"finished_at", r[5].is_null() ? json(nullptr) : json(r[5].c_str())},
          {"queued", r[6].as<long long>()},
          {"sent", r[7].as<long long>()},
          {"delivered", r[8].as<long long>()},
          {"read", r[9].as<long long>()},
          {"failed", r[10].as<long long>()},
          {"cancelled", r[11].as<long long>()}};
}

// Recording sends and applying statuses take turns: a status is either applied to a send already
// recorded, or kept as early and picked up by the recording, never lost between the two.
void LockStatuses(pqxx::transaction_base& tx) {
  tx.exec("SELECT pg_advisory_xact_lock(hashtext('crm_statuses_' || current_schema()))");
}

void Notify(pqxx::transaction_base& tx) {
  tx.exec("SELECT pg_notify('crm_queue_' || current_schema(), '')");
}

// Runs `work` where the inbox messages are: in the queue's own transaction (the queue is in the
// slice's schema), or in a transaction of the slice's database committed before the queue's is
// (QUEUE_DATABASE_URL), so the messages are never behind their tasks.
void OnMessages(pqxx::work& queue_tx, db::Pool* messages,
                const std::function<void(pqxx::work&)>& work) {
  if (messages == nullptr) {
    work(queue_tx);
  } else {
    messages->Write(work);
  }
}

// Inbox messages follow their task (pending → queued, the rest by name), forward only: the
// result of a send never undoes a status WhatsApp reported after it.
void MirrorOntoMessages(pqxx::transaction_base& tx, const json& rows, Touched& touched) {
  auto updated = tx.exec_params(
      "WITH r AS (SELECT message_id, CASE state WHEN 'pending' THEN 'queued' ELSE state END AS "
      "  status, provider_id, error FROM jsonb_to_recordset($1::jsonb) AS r(message_id bigint, "
      "  state text, provider_id text, error text)) "
      "UPDATE messages m SET status = r.status, "
      "  provider_id = coalesce(r.provider_id, m.provider_id), error = r.error "
      "FROM r WHERE m.id = r.message_id AND status_rank(r.status) >= status_rank(m.status) "
      "  AND NOT (r.status = 'failed' AND m.status = 'read') "
      "RETURNING json_build_object('id', m.id, 'conversation_id', m.conversation_id, 'status', "
      "  m.status, 'error', m.error)::text",
      rows.dump());
  for (const auto& r : updated) {
    touched.messages.push_back(db::JsonOf(r[0]));
  }
}

json StatusRows(const std::vector<channel::StatusUpdate>& statuses) {
  json rows = json::array();
  for (const auto& s : statuses) {
    rows.push_back({{"provider_id", s.provider_id},
                    {"status", s.status},
                    {"error", s.error.empty() ? json(nullptr) : json(s.error)}});
  }
  return rows;
}

// status_rank() of runtime/migrations/slice/0002_messaging.sql.
int StatusRank(std::string_view status) {
  if (status == "queued" || status == "pending") {
    return 0;
  }
  if (status == "claimed" || status == "sending") {
    return 1;
  }
  if (status == "sent") {
    return 2;
  }
  if (status == "delivered") {
    return 3;
  }
  return status == "read" ? 4 : 9;
}

// PostgreSQL's text form of a text[], each element quoted: provider ids come from outside.
std::string TextArray(const std::vector<std::string>& items) {
  std::string array;
  TextArray(items.begin(), items.end(), array);
  return array;
}

// Statuses as the statements below take them: the furthest per provider id (delivered and read
// may arrive in one payload), in a jsonb object keyed by it ({"status", "error"}: looked up per
// row, a binary search), and the ids as a text[] that finds the rows through the provider id's
// unique index. A join with the statuses as a table was planned from a guess of their number as
// a hash join that read every task ever sent for each batch (outbound_provider whole: ~28 ms per
// batch of 500 at 20,000 sent, growing with the broadcast).
struct LatestStatuses {
  json by_id = json::object();
  std::string ids;
};

LatestStatuses Latest(const json& rows) {
  LatestStatuses out;
  std::vector<std::string> ids;
  for (const auto& r : rows) {
    std::string id = r.value("provider_id", "");
    auto known = out.by_id.find(id);
    if (known == out.by_id.end()) {
      ids.push_back(id);
      out.by_id[id] = {{"status", r["status"]}, {"error", r["error"]}};
    } else if (StatusRank(r["status"].get<std::string>()) >
               StatusRank((*known)["status"].get<std::string>())) {
      *known = {{"status", r["status"]}, {"error", r["error"]}};
    }
  }
  out.ids = TextArray(ids);
  return out;
}

// Delivery statuses onto the inbox messages sent with those provider ids, forward only.
void ApplyMessageStatuses(pqxx::transaction_base& tx, const json& rows, Touched& touched) {
  LatestStatuses latest = Latest(rows);
  auto messages = tx.exec_params(
      "UPDATE messages x SET status = $1::jsonb -> x.provider_id ->> 'status', "
      "  error = coalesce($1::jsonb -> x.provider_id ->> 'error', x.error) "
      "WHERE x.provider_id = ANY($2::text[]) AND x.direction = 'outbound' "
      "  AND status_rank($1::jsonb -> x.provider_id ->> 'status') > status_rank(x.status) "
      "  AND NOT ($1::jsonb -> x.provider_id ->> 'status' = 'failed' AND x.status = 'read') "
      "RETURNING json_build_object('id', x.id, 'conversation_id', x.conversation_id, "
      "'status', x.status, 'error', x.error)::text",
      latest.by_id.dump(), latest.ids);
  for (const auto& r : messages) {
    touched.messages.push_back(db::JsonOf(r[0]));
  }
}

// What delivery statuses did to the tasks: the broadcasts whose counts moved, and the statuses
// that also belong on an inbox message (its task has a message_id).
struct TaskStatuses {
  std::set<long long> broadcasts;
  json message_rows = json::array();
};

// Delivery statuses onto the tasks (forward only); those whose send is not recorded yet are kept
// as early statuses. One statement: the task a status names is found once, by its provider id
// through outbound_provider (Latest above); only a status no task took is looked up again, one
// probe each, to tell an early status (no task has its id yet) from one that changes nothing. A
// broadcast's statuses never touch the inbox: only those of message tasks come back for
// ApplyMessageStatuses.
TaskStatuses ApplyTaskStatuses(pqxx::transaction_base& tx, const json& rows) {
  LatestStatuses latest = Latest(rows);
  auto result = tx.exec_params(
      "WITH u AS (UPDATE outbound_tasks x SET state = $1::jsonb -> x.provider_id ->> 'status', "
      "  last_error = coalesce($1::jsonb -> x.provider_id ->> 'error', x.last_error) "
      "  WHERE x.provider_id = ANY($2::text[]) AND x.state IN ('sent', 'delivered', 'read') "
      "    AND status_rank($1::jsonb -> x.provider_id ->> 'status') > status_rank(x.state) "
      "    AND NOT ($1::jsonb -> x.provider_id ->> 'status' = 'failed' AND x.state = 'read') "
      "  RETURNING x.provider_id, x.broadcast_id), "
      "s AS (SELECT key AS provider_id, value ->> 'status' AS status, value ->> 'error' AS error "
      "  FROM jsonb_each($1::jsonb)), "
      // Subqueries per status, not a join: a join was planned to walk all of outbound_provider.
      "o AS (SELECT s.provider_id, s.status, s.error, "
      "  (SELECT t.message_id FROM outbound_tasks t WHERE t.provider_id = s.provider_id) "
      "    AS message_id, "
      "  EXISTS (SELECT 1 FROM outbound_tasks t WHERE t.provider_id = s.provider_id) AS known "
      "  FROM s WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.provider_id = s.provider_id)), "
      // Keep what matched nothing yet: its send is being recorded right now. (Every outbound
      // message with a provider id got it from its task, so the tasks alone tell.)
      "e AS (INSERT INTO early_statuses (provider_id, status, error) "
      "  SELECT provider_id, status, error FROM o WHERE NOT known "
      "  ON CONFLICT (provider_id) DO UPDATE SET status = EXCLUDED.status, "
      "    error = EXCLUDED.error "
      "  WHERE status_rank(EXCLUDED.status) > status_rank(early_statuses.status)) "
      // A task has either a broadcast_id or a message_id (the table's CHECK).
      "SELECT u.broadcast_id, u.provider_id, $1::jsonb -> u.provider_id ->> 'status', "
      "  $1::jsonb -> u.provider_id ->> 'error' FROM u "
      "UNION ALL SELECT NULL, provider_id, status, error FROM o WHERE message_id IS NOT NULL",
      latest.by_id.dump(), latest.ids);
  TaskStatuses out;
  for (const auto& r : result) {
    if (!r[0].is_null()) {
      out.broadcasts.insert(r[0].as<long long>());
      continue;
    }
    out.message_rows.push_back({{"provider_id", r[1].c_str()},
                                {"status", r[2].c_str()},
                                {"error", r[3].is_null() ? json(nullptr) : json(r[3].c_str())}});
  }
  return out;
}

}  // namespace

std::string NotifyChannel(const std::string& schema) {
  return "crm_queue_" + schema;
}

long long PruneEarlyStatuses(pqxx::connection& connection, std::chrono::hours age) {
  pqxx::work tx(connection);
  auto n = tx.exec_params("DELETE FROM early_statuses WHERE at < now() - $1 * interval '1 hour'",
                          static_cast<long long>(age.count()))
               .affected_rows();
  tx.commit();
  return static_cast<long long>(n);
}

std::string IdempotencyKey(long long slice_id, long long task_id) {
  return std::to_string(slice_id) + "-" + std::to_string(task_id);
}

long long PendingDepth(pqxx::transaction_base& tx) {
  // A counter the triggers of 0003_queue_density.sql keep, not count(*): the same cost at any
  // depth.
  return tx.exec1("SELECT depth FROM queue_depth")[0].as<long long>();
}

json EnqueueBroadcast(pqxx::work& tx, const NewBroadcast& broadcast, long long max_depth) {
  // One enqueue at a time per slice: the depth check and the insert are one step.
  tx.exec("SELECT pg_advisory_xact_lock(hashtext('crm_queue_' || current_schema()))");
  long long depth = PendingDepth(tx);
  auto adding = static_cast<long long>(broadcast.recipients.size());
  if (depth + adding > max_depth) {
    throw Throttled(
        "the outbound queue is full: " + Thousands(depth) + " messages are pending and this " +
            "broadcast would add " + Thousands(adding) + ", past the limit of " +
            Thousands(max_depth) +
            " (QUEUE_MAX_DEPTH); wait for pending sends to finish, cancel a broadcast, or send to "
            "fewer recipients",
        std::chrono::seconds(60), "recipients");
  }
  std::optional<std::string> tmpl;
  if (broadcast.tmpl) {
    tmpl = json{{"name", broadcast.tmpl->name},
                {"language", broadcast.tmpl->language},
                {"parameters", broadcast.tmpl->body_parameters}}
               .dump();
  }
  // The enqueue counts its own tasks, all pending and of this broadcast: tasks_queued here, the
  // depth after the COPY, which the counting trigger is told to leave alone
  // (0008_enqueue_counts_itself.sql).
  auto row = tx.exec_params1(
      "INSERT INTO broadcasts (name, body, total, template, tasks_queued) "
      "VALUES ($1, $2, $3::integer, $4::jsonb, $3::integer) "
      "RETURNING id, to_json(created_at) #>> '{}'",
      broadcast.name, broadcast.text, adding, tmpl ? tmpl->c_str() : nullptr);
  long long id = row[0].as<long long>();
  json progress = {{"id", id},
                   {"name", broadcast.name},
                   {"status", "running"},
                   {"total", adding},
                   {"queued", adding},
                   {"sent", 0},
                   {"delivered", 0},
                   {"read", 0},
                   {"failed", 0},
                   {"cancelled", 0},
                   {"created_at", row[1].c_str()},
                   {"finished_at", nullptr}};
  // The recipients as the broadcast's audience, kAudiencePart to a row, for the claims to turn
  // into tasks as they are sent (0009_broadcast_audience.sql).
  {
    pqxx::stream_to copy(tx, "broadcast_audience",
                         std::vector<std::string>{"broadcast_id", "part", "recipients"});
    std::string array;
    const auto& all = broadcast.recipients;
    for (std::size_t from = 0; from < all.size(); from += kAudiencePart) {
      std::size_t to = std::min(all.size(), from + kAudiencePart);
      TextArray(all.begin() + static_cast<std::ptrdiff_t>(from),
                all.begin() + static_cast<std::ptrdiff_t>(to), array);
      copy << std::make_tuple(id, static_cast<long long>(from / kAudiencePart), array);
    }
    copy.complete();
  }
  if (adding > 0) {
    tx.exec_params("UPDATE queue_depth SET depth = depth + $1", adding);
  } else {
    tx.exec_params("UPDATE broadcasts SET status = 'completed', finished_at = now() WHERE id = $1",
                   id);
    progress["status"] = "completed";
  }
  Notify(tx);
  return progress;
}

// A finished task of another message with the same id (the slice's database was restored to
// an earlier point, and its ids are given out again): it goes, so the new message is queued.
const char* kDropReusedSql =
    "DELETE FROM outbound_tasks t USING jsonb_to_recordset($1::jsonb) AS r(message_id bigint, "
    "  recipient text, body text) "
    "WHERE t.message_id = r.message_id AND t.state IN ('sent', 'delivered', 'read', 'failed', "
    "  'cancelled') AND (t.body IS DISTINCT FROM r.body OR t.recipient <> r.recipient)";

void EnqueueMessage(pqxx::work& tx, long long message_id, const std::string& recipient,
                    const std::string& body) {
  tx.exec_params("INSERT INTO outbound_tasks (message_id, recipient, body) VALUES ($1, $2, $3)",
                 message_id, recipient, body);
  Notify(tx);
}

long long EnqueueMessages(pqxx::work& tx, const json& messages) {
  tx.exec_params(kDropReusedSql, messages.dump());
  auto added = tx.exec_params(
      "INSERT INTO outbound_tasks (message_id, recipient, body) "
      "SELECT message_id, recipient, body FROM jsonb_to_recordset($1::jsonb) AS r(message_id "
      "  bigint, recipient text, body text) "
      "ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING RETURNING id",
      messages.dump());
  if (!added.empty()) {
    Notify(tx);
  }
  return static_cast<long long>(added.size());
}

long long RequeueOrphanMessages(pqxx::connection& queue, db::Pool& messages) {
  json queued = messages.Read([](pqxx::read_transaction& tx) {
    auto rows = tx.exec(
        "SELECT json_agg(json_build_object('message_id', m.id, 'recipient', c.phone, 'body', "
        "  m.body))::text FROM (SELECT id, conversation_id, body FROM messages WHERE status = "
        "  'queued' AND direction = 'outbound' ORDER BY id LIMIT 1000) m "
        "JOIN conversations v ON v.id = m.conversation_id JOIN contacts c ON c.id = v.contact_id");
    return rows[0][0].is_null() ? json::array() : db::JsonOf(rows[0][0]);
  });
  if (queued.empty()) {
    return 0;
  }
  pqxx::work tx(queue);
  long long added = EnqueueMessages(tx, queued);
  tx.commit();
  return added;
}

std::optional<json> BroadcastProgress(pqxx::transaction_base& tx, long long id) {
  auto rows = tx.exec_params(std::string(kProgressSql) + "WHERE b.id = $1", id);
  if (rows.empty()) {
    return std::nullopt;
  }
  return ProgressJson(rows[0]);
}

json ListBroadcasts(pqxx::transaction_base& tx, long long before, int limit) {
  // $1::bigint: compared with the literal 0 alone it was typed integer, and a cursor beyond 2^31
  // failed the statement (a 500).
  auto rows =
      tx.exec_params(std::string(kProgressSql) +
                         "WHERE ($1::bigint = 0 OR b.id < $1) ORDER BY b.id DESC "
                         "LIMIT $2",
                     before, limit);
  json items = json::array();
  for (const auto& r : rows) {
    items.push_back(ProgressJson(r));
  }
  return items;
}

json ControlBroadcast(pqxx::work& tx, long long id, const std::string& action) {
  if (action == "cancel") {
    // The depth counter before the broadcast: RecordResults updates the counter (by trigger) and
    // then the broadcast; taking them in the other order here could deadlock with it.
    tx.exec("SELECT 1 FROM queue_depth FOR UPDATE");
  }
  auto rows = tx.exec_params("SELECT status FROM broadcasts WHERE id = $1 FOR UPDATE", id);
  if (rows.empty()) {
    throw NotFound("no broadcast with id " + std::to_string(id));
  }
  std::string status = rows[0][0].c_str();
  auto refuse = [&] {
    throw Conflict("cannot " + action + " broadcast " + std::to_string(id) + ": it is " + status);
  };
  if (action == "pause") {
    if (status != "running") {
      refuse();
    }
    tx.exec_params(
        "UPDATE outbound_tasks SET state = 'paused' WHERE broadcast_id = $1 AND state = 'pending'",
        id);
    tx.exec_params("UPDATE broadcasts SET status = 'paused' WHERE id = $1", id);
  } else if (action == "resume") {
    if (status != "paused") {
      refuse();
    }
    tx.exec_params(
        "UPDATE outbound_tasks SET state = 'pending', not_before = now() WHERE broadcast_id = $1 "
        "AND state = 'paused'",
        id);
    tx.exec_params("UPDATE broadcasts SET status = 'running' WHERE id = $1", id);
    Notify(tx);
  } else if (action == "cancel") {
    if (status != "running" && status != "paused") {
      refuse();
    }
    tx.exec_params(
        "UPDATE outbound_tasks SET state = 'cancelled' WHERE broadcast_id = $1 AND state IN "
        "('pending', 'paused')",
        id);
    // The recipients never made tasks: counted here, as the enqueue counted them.
    auto left = tx.exec_params1(
                      "WITH gone AS (DELETE FROM broadcast_audience WHERE broadcast_id = $1 "
                      "  RETURNING cardinality(recipients) - taken AS n) "
                      "SELECT coalesce(sum(n), 0)::bigint FROM gone",
                      id)[0]
                    .as<long long>();
    if (left > 0) {
      tx.exec_params("UPDATE queue_depth SET depth = depth - $1", left);
      tx.exec_params(
          "UPDATE broadcasts SET tasks_queued = tasks_queued - $2, "
          "  tasks_cancelled = tasks_cancelled + $2 WHERE id = $1",
          id, left);
    }
    tx.exec_params("UPDATE broadcasts SET status = 'cancelled', finished_at = now() WHERE id = $1",
                   id);
  } else {
    throw InputError("action: expected pause, resume or cancel, got \"" + action + "\"", "action");
  }
  return *BroadcastProgress(tx, id);
}

// --- lease -----------------------------------------------------------------------------------

std::optional<Lease> AcquireLease(pqxx::connection& connection, const std::string& holder,
                                  std::chrono::milliseconds ttl) {
  pqxx::work tx(connection);
  auto rows = tx.exec_params(
      "INSERT INTO dispatcher_lease AS l (holder, epoch, expires_at) "
      "VALUES ($1, 1, clock_timestamp() + $2 * interval '1 ms') "
      "ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, epoch = l.epoch + 1, "
      "  expires_at = EXCLUDED.expires_at "
      "WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp() "
      "RETURNING epoch",
      holder, static_cast<long long>(ttl.count()));
  tx.commit();
  if (rows.empty()) {
    return std::nullopt;
  }
  return Lease{holder, rows[0][0].as<long long>()};
}

bool RenewLease(pqxx::connection& connection, const Lease& lease, std::chrono::milliseconds ttl) {
  pqxx::work tx(connection);
  auto rows = tx.exec_params(
      "UPDATE dispatcher_lease SET expires_at = clock_timestamp() + $3 * interval '1 ms' "
      "WHERE holder = $1 AND epoch = $2 AND expires_at > clock_timestamp() RETURNING 1",
      lease.holder, lease.epoch, static_cast<long long>(ttl.count()));
  tx.commit();
  return !rows.empty();
}

void ReleaseLease(pqxx::connection& connection, const Lease& lease) {
  pqxx::work tx(connection);
  tx.exec_params(
      "UPDATE dispatcher_lease SET expires_at = clock_timestamp() WHERE holder = $1 AND epoch = $2",
      lease.holder, lease.epoch);
  tx.commit();
}

// --- claims and results ------------------------------------------------------------------------

namespace {
std::vector<ClaimedTask> Tasks(const pqxx::result& rows) {
  std::vector<ClaimedTask> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    ClaimedTask t{r[0].as<long long>(),
                  r[1].c_str(),
                  r[5].is_null() ? "" : r[5].c_str(),
                  r[2].as<int>(),
                  OptionalId(r[3]),
                  OptionalId(r[4]),
                  std::string_view(r[7].c_str()) == "sending",
                  std::nullopt};
    if (!r[6].is_null()) {
      json tmpl = db::JsonOf(r[6]);
      t.tmpl = channel::Template{tmpl.value("name", ""), tmpl.value("language", "en_US"),
                                 tmpl.value("parameters", std::vector<std::string>{})};
    }
    out.push_back(std::move(t));
  }
  return out;
}
}  // namespace

// The next $1 recipients of the oldest running broadcast's first audience row, as tasks
// claimed (or sending, $4) under the lease ($2, $3), in the order they were given; the row moved
// on, or deleted when they were its last. Columns as Tasks reads them.
const char* kExpandSql =
    "WITH part AS ("
    "  SELECT a.broadcast_id, a.part, a.taken, cardinality(a.recipients) AS size, "
    "    a.recipients[a.taken + 1 : a.taken + $1] AS batch, b.body, b.template "
    "  FROM broadcast_audience a JOIN broadcasts b ON b.id = a.broadcast_id "
    "  WHERE b.status = 'running' AND EXISTS (SELECT 1 FROM dispatcher_lease "
    "    WHERE holder = $3 AND epoch = $2 AND expires_at > clock_timestamp()) "
    "  ORDER BY a.broadcast_id, a.part LIMIT 1 "
    "  FOR UPDATE OF a SKIP LOCKED FOR KEY SHARE OF b SKIP LOCKED), "
    "finished AS ("
    "  DELETE FROM broadcast_audience a USING part p "
    "  WHERE a.broadcast_id = p.broadcast_id AND a.part = p.part "
    "    AND p.taken + cardinality(p.batch) >= p.size), "
    "moved AS ("
    "  UPDATE broadcast_audience a SET taken = p.taken + cardinality(p.batch) FROM part p "
    "  WHERE a.broadcast_id = p.broadcast_id AND a.part = p.part "
    "    AND p.taken + cardinality(p.batch) < p.size), "
    "claimed AS ("
    "  INSERT INTO outbound_tasks (broadcast_id, recipient, state, attempts, lease_epoch) "
    "  SELECT p.broadcast_id, r.recipient, CASE WHEN $4 THEN 'sending' ELSE 'claimed' END, 1, $2 "
    "  FROM part p, unnest(p.batch) WITH ORDINALITY AS r(recipient, n) ORDER BY r.n "
    "  RETURNING id, recipient, attempts, broadcast_id, message_id, state) "
    "SELECT c.id, c.recipient, c.attempts, c.broadcast_id, c.message_id, p.body, "
    "  p.template::text, c.state "
    "FROM claimed c CROSS JOIN part p ORDER BY c.id";

std::vector<ClaimedTask> Claim(pqxx::connection& connection, const Lease& lease, int limit,
                               bool sending, ClaimCursor* cursor) {
  bool follow = cursor != nullptr && cursor->block >= 0;
  // Rows by ctid, stable while the row is locked: pending tasks have no index on id (see
  // 0003_queue_density.sql).
  //   Without a cursor: every due task through outbound_due, sorted (not_before, then table
  //   order): a bitmap of all of them, the sort a top-N. With an ordered scan of the index
  //   instead, a claim walked the posting lists of every task claimed before it (dead entries
  //   B-tree deduplication cannot mark one by one): worse, 1.2 ms a task mid-broadcast.
  //   With a cursor: `older`, due tasks older than the cursor's not_before (retries, messages
  //   queued before the broadcast it follows; an index range holding only them), then `ahead`,
  //   the table read on from the cursor's page (`state || ''` keeps the planner off
  //   outbound_due: a TID range scan that stops at the limit). A broadcast's COPY writes its
  //   tasks page after page, so reading on finds them where the last claim stopped.
  std::string due =
      follow
          ? "older AS ("
            "  SELECT ctid FROM outbound_tasks WHERE state = 'pending' "
            "    AND not_before < $6::timestamptz AND not_before <= now() "
            "  ORDER BY not_before, ctid LIMIT $1 FOR UPDATE SKIP LOCKED), "
            "ahead AS ("
            "  SELECT ctid FROM outbound_tasks WHERE ctid >= $5::tid AND state || '' = 'pending' "
            "    AND not_before >= $6::timestamptz AND not_before <= now() "
            "  LIMIT greatest(0, $1 - (SELECT count(*) FROM older)) FOR UPDATE SKIP LOCKED), "
            "due AS (SELECT ctid, false AS ahead FROM older "
            "  UNION ALL SELECT ctid, true FROM ahead), "
          : "due AS ("
            "  SELECT ctid, false AS ahead FROM outbound_tasks WHERE state = 'pending' "
            "    AND not_before <= now() "
            "  ORDER BY not_before, ctid LIMIT $1 FOR UPDATE SKIP LOCKED), ";
  std::string sql =
      "WITH " + due +
      "claimed AS ("
      "  UPDATE outbound_tasks t SET state = CASE WHEN $4 THEN 'sending' ELSE 'claimed' END, "
      "    attempts = t.attempts + 1, lease_epoch = $2 "
      "  FROM due WHERE t.ctid = due.ctid AND EXISTS (SELECT 1 FROM dispatcher_lease "
      "    WHERE holder = $3 AND epoch = $2 AND expires_at > clock_timestamp()) "
      "  RETURNING t.id, t.recipient, t.attempts, t.broadcast_id, t.message_id, t.body, t.state, "
      "    t.not_before, due.ahead, (due.ctid::text::point)[0]::bigint AS block) "
      "SELECT c.id, c.recipient, c.attempts, c.broadcast_id, c.message_id, "
      "  coalesce(b.body, c.body), b.template::text, c.state, "
      "  to_json(max(c.not_before) OVER ()) #>> '{}', min(c.block) OVER (), "
      "  max(c.block) FILTER (WHERE c.ahead) OVER () "
      "FROM claimed c LEFT JOIN broadcasts b ON b.id = c.broadcast_id ORDER BY c.id";
  pqxx::work tx(connection);
  // Pending to claimed or sending changes no counter (all three are queued), and neither does a
  // recipient of an audience becoming a claimed or sending task: the counting trigger need not
  // look (0007_cheaper_counts.sql, 0009_broadcast_audience.sql). For this transaction only,
  // which holds nothing but the claim.
  tx.exec("SELECT set_config('crm.claim', 'on', true), set_config('crm.enqueue', 'on', true)");
  pqxx::result rows;
  if (follow) {
    rows = tx.exec_params(sql, limit, lease.epoch, lease.holder, sending,
                          "(" + std::to_string(cursor->block) + ",0)", cursor->not_before);
  } else {
    rows = tx.exec_params(sql, limit, lease.epoch, lease.holder, sending);
  }
  // Then the running broadcasts' audiences, oldest broadcast first, a row at a time until the
  // limit: each row's next recipients become tasks (claimed or sending, attempt 1) in the
  // statement that moves its `taken` on or deletes it once all are taken. The row is locked
  // (SKIP LOCKED: two dispatchers never take the same recipients) and its broadcast key-shared,
  // skipped while a pause or cancel holds it (FOR UPDATE); counter updates do not block it.
  std::vector<pqxx::result> expanded;
  for (auto need = static_cast<long long>(limit) - static_cast<long long>(rows.size()); need > 0;) {
    auto more = tx.exec_params(kExpandSql, need, lease.epoch, lease.holder, sending);
    if (more.empty()) {
      break;
    }
    need -= static_cast<long long>(more.size());
    expanded.push_back(std::move(more));
  }
  tx.commit();
  if (cursor != nullptr) {
    if (static_cast<int>(rows.size()) < limit) {
      *cursor = {};  // all that was due is claimed: the next claim looks at everything again
    } else if (!follow) {
      cursor->block = rows[0][9].as<long long>();
      cursor->not_before = rows[0][8].c_str();
    } else if (!rows[0][10].is_null()) {
      cursor->block = rows[0][10].as<long long>();
    }
  }
  std::vector<ClaimedTask> tasks = Tasks(rows);
  for (const auto& more : expanded) {
    std::vector<ClaimedTask> taken = Tasks(more);
    std::move(taken.begin(), taken.end(), std::back_inserter(tasks));
  }
  return tasks;
}

std::set<long long> MessagesGone(db::Pool& messages, const std::vector<const ClaimedTask*>& tasks) {
  json asked = json::array();
  for (const ClaimedTask* t : tasks) {
    if (t->message_id) {
      asked.push_back({{"id", *t->message_id}, {"task", t->id}, {"body", t->text}});
    }
  }
  std::set<long long> gone;
  if (asked.empty()) {
    return gone;
  }
  auto rows = messages.Read([&](pqxx::read_transaction& tx) {
    db::PlanWithoutValues(tx);
    return tx.exec_params(
        "SELECT a.task FROM jsonb_to_recordset($1::jsonb) AS a(id bigint, task bigint, body text) "
        "WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = a.id AND m.body = a.body AND "
        "  m.direction = 'outbound')",
        asked.dump());
  });
  for (const auto& r : rows) {
    gone.insert(r[0].as<long long>());
  }
  return gone;
}

std::vector<long long> MarkSending(pqxx::connection& connection, long long epoch,
                                   const std::vector<long long>& ids) {
  pqxx::work tx(connection);
  db::PlanWithoutValues(tx);
  // id = ANY(array), an index condition on outbound_sending; `id IN (SELECT
  // jsonb_array_elements_text(...))` was planned as a nested loop re-reading the list for every
  // claimed task (143 ms for 500) once outbound_tasks had no primary key.
  auto rows = tx.exec_params(
      "UPDATE outbound_tasks SET state = 'sending' WHERE id = ANY($1::bigint[]) "
      "AND state = 'claimed' AND lease_epoch = $2 RETURNING id",
      BigintArray(ids), epoch);
  tx.commit();
  std::vector<long long> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    out.push_back(r[0].as<long long>());
  }
  return out;
}

std::vector<ClaimedTask> InDoubt(pqxx::connection& connection, long long current_epoch) {
  pqxx::read_transaction tx(connection);
  return Tasks(
      tx.exec_params("SELECT t.id, t.recipient, t.attempts, t.broadcast_id, t.message_id, "
                     "  coalesce(b.body, t.body), b.template::text, t.state "
                     "FROM outbound_tasks t LEFT JOIN broadcasts b ON b.id = t.broadcast_id "
                     "WHERE t.state IN ('claimed', 'sending') AND t.lease_epoch < $1 "
                     "ORDER BY t.id LIMIT 5000",
                     current_epoch));
}

Touched RecordResults(pqxx::connection& connection, long long epoch,
                      const std::vector<TaskResult>& results, bool adopt_in_doubt,
                      db::Pool* messages_db) {
  Touched touched;
  if (results.empty()) {
    return touched;
  }
  // Each result under its task's id, looked up per row (a binary search in the jsonb object),
  // and the rows found by id through outbound_sending: no join for the planner to misjudge. A
  // join with jsonb_to_recordset was planned from statistics taken before the claim (no task
  // claimed or sending) as a nested loop comparing every result with every claimed row: 60 ms
  // for 500.
  json by_id = json::object();
  std::vector<long long> ids;
  ids.reserve(results.size());
  for (const auto& r : results) {
    by_id[std::to_string(r.id)] = {
        {"state", r.state},
        {"provider_id", r.provider_id.empty() ? json(nullptr) : json(r.provider_id)},
        {"error", r.error.empty() ? json(nullptr) : json(r.error)},
        {"delay_ms", r.delay_ms},
        {"refund", r.refund_attempt}};
    ids.push_back(r.id);
  }
  pqxx::work tx(connection);
  db::PlanWithoutValues(tx);  // every statement below takes the batch, and finds rows by key
  LockStatuses(tx);
  auto updated = tx.exec_params(
      "UPDATE outbound_tasks t SET state = $1::jsonb -> t.id::text ->> 'state', "
      "  provider_id = $1::jsonb -> t.id::text ->> 'provider_id', "
      "  last_error = $1::jsonb -> t.id::text ->> 'error', "
      "  not_before = now() + ($1::jsonb -> t.id::text ->> 'delay_ms')::bigint * interval '1 ms', "
      "  attempts = t.attempts - CASE WHEN ($1::jsonb -> t.id::text ->> 'refund')::boolean "
      "    THEN 1 ELSE 0 END "
      "WHERE t.id = ANY($4::bigint[]) AND t.state IN ('claimed', 'sending') "
      "  AND (t.lease_epoch = $2 OR ($3 AND t.lease_epoch < $2)) "
      "RETURNING t.message_id, t.broadcast_id, t.state, t.provider_id, t.last_error",
      by_id.dump(), epoch, adopt_in_doubt, BigintArray(ids));
  json messages = json::array();
  std::vector<std::string> sent_ids;
  std::set<long long> broadcasts;
  for (const auto& r : updated) {
    if (std::string_view(r[2].c_str()) == "sent") {
      ++touched.sent;
    }
    if (!r[0].is_null()) {
      if (std::string_view(r[2].c_str()) == "cancelled") {
        continue;  // its message is gone (MessagesGone): nothing to mirror
      }
      messages.push_back({{"message_id", r[0].as<long long>()},
                          {"state", r[2].c_str()},
                          {"provider_id", r[3].is_null() ? json(nullptr) : json(r[3].c_str())},
                          {"error", r[4].is_null() ? json(nullptr) : json(r[4].c_str())}});
    } else {
      broadcasts.insert(r[1].as<long long>());
    }
    if (!r[3].is_null()) {
      sent_ids.push_back(r[3].c_str());
    }
  }
  json early_rows = json::array();
  if (!sent_ids.empty()) {
    // Statuses that overtook our own record of the send.
    auto early = tx.exec_params(
        "DELETE FROM early_statuses WHERE provider_id IN "
        "(SELECT jsonb_array_elements_text($1::jsonb)) RETURNING provider_id, status, error",
        json(sent_ids).dump());
    for (const auto& r : early) {
      early_rows.push_back({{"provider_id", r[0].c_str()},
                            {"status", r[1].c_str()},
                            {"error", r[2].is_null() ? json(nullptr) : json(r[2].c_str())}});
    }
    if (!early_rows.empty()) {
      TaskStatuses moved = ApplyTaskStatuses(tx, early_rows);
      broadcasts.insert(moved.broadcasts.begin(), moved.broadcasts.end());
      early_rows = std::move(moved.message_rows);
    }
  }
  if (!messages.empty() || !early_rows.empty()) {
    OnMessages(tx, messages_db, [&](pqxx::work& m) {
      touched.messages.clear();  // a retried write starts again
      db::PlanWithoutValues(m);
      if (!messages.empty()) {
        MirrorOntoMessages(m, messages, touched);
      }
      if (!early_rows.empty()) {
        ApplyMessageStatuses(m, early_rows, touched);
      }
    });
  }
  if (!broadcasts.empty()) {
    std::vector<long long> moved(broadcasts.begin(), broadcasts.end());
    tx.exec_params(
        "UPDATE broadcasts b SET status = 'completed', finished_at = now() "
        "WHERE b.id = ANY($1::bigint[]) "
        // A running broadcast has no paused task: its queued ones are all still to be sent.
        "AND b.status = 'running' AND b.tasks_queued = 0",
        BigintArray(moved));
    touched.broadcasts = std::move(moved);
  }
  tx.commit();
  return touched;
}

Touched ApplyStatuses(pqxx::work& tx, const std::vector<channel::StatusUpdate>& statuses,
                      db::Pool* messages_db,
                      const std::function<void(pqxx::work& messages_tx)>& also) {
  Touched touched;
  if (statuses.empty() && !also) {
    return touched;
  }
  TaskStatuses applied;
  if (!statuses.empty()) {
    db::PlanWithoutValues(tx);
    LockStatuses(tx);
    applied = ApplyTaskStatuses(tx, StatusRows(statuses));
    touched.broadcasts.assign(applied.broadcasts.begin(), applied.broadcasts.end());
  }
  if (applied.message_rows.empty() && !also) {
    return touched;  // a broadcast's statuses: nothing on the inbox
  }
  OnMessages(tx, messages_db, [&](pqxx::work& m) {
    touched.messages.clear();  // a retried write starts again
    if (!applied.message_rows.empty()) {
      db::PlanWithoutValues(m);
      ApplyMessageStatuses(m, applied.message_rows, touched);
    }
    if (also) {
      db::PlanWithValues(m);  // the inbound messages' own statements
      also(m);
    }
  });
  return touched;
}

}  // namespace crm::queue
