// The outbound queue's SQL (docs/architecture.md, "Messaging"): broadcasts in, tasks claimed
// under the dispatcher's lease, results and delivery statuses recorded, progress counted. Every
// function runs on the caller's connection or transaction (search_path = the slice), in the
// slice's schema, or in the queue database when there is one (QUEUE_DATABASE_URL; "The queue
// database"): then what touches inbox messages takes `messages_db`, the slice's own database,
// where it is written in a transaction committed just before the queue's.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "crm/channel/channel.hpp"

namespace crm::db {
class Pool;
}

namespace crm::queue {

/// The NOTIFY channel a slice's dispatcher listens on: "crm_queue_" + schema.
std::string NotifyChannel(const std::string& schema);

struct NewBroadcast {
  std::string name;
  std::string text;
  std::vector<std::string> recipients;    ///< E.164, without duplicates
  std::optional<channel::Template> tmpl;  ///< sent instead of `text` where the channel can
};

/// Inserts the broadcast and its recipients as its audience (COPY, a row per 1,000: claims turn
/// them into tasks as they are sent; 0009_broadcast_audience.sql), then NOTIFY. Throws Throttled
/// (Retry-After 60 s) when the pending tasks plus these would pass `max_depth`; enqueues are
/// serialised per slice so two at once cannot both slip under the limit. Returns the new
/// broadcast's progress (every recipient queued; nothing to count). In the caller's transaction:
/// the caller commits.
nlohmann::json EnqueueBroadcast(pqxx::work& tx, const NewBroadcast& broadcast, long long max_depth);

/// Queues one inbox message (inserted in `messages` in this transaction) for sending, with its
/// text; NOTIFY at commit. The queue in the slice's schema.
void EnqueueMessage(pqxx::work& tx, long long message_id, const std::string& recipient,
                    const std::string& body);

/// The same with the queue in another database, for inbox messages already committed there:
/// `messages` = [{message_id, recipient, body}]. One queued already (by a request and the
/// repair below, racing) is left alone; a finished task of another message under the same id
/// (that database restored to an earlier point gave the id out again) is replaced. NOTIFY at
/// commit when any was queued; returns how many.
long long EnqueueMessages(pqxx::work& tx, const nlohmann::json& messages);

/// With the queue in another database a message is committed before its task: queues the
/// outbound messages still `queued` in `messages` that have no task on `queue` (a crash, or the
/// queue database down, between the two). Returns how many it queued; commits.
long long RequeueOrphanMessages(pqxx::connection& queue, db::Pool& messages);

/// Tasks waiting to be sent: pending (due or retrying), being sent, or in a paused broadcast.
/// Read from the counter the migration's triggers keep (one row, the same cost at any depth).
long long PendingDepth(pqxx::transaction_base& tx);

/// {id, name, status, total, queued, sent, delivered, read, failed, cancelled, created_at,
/// finished_at}: counts are cumulative (a read message is also delivered and sent).
/// nullopt when there is no such broadcast.
std::optional<nlohmann::json> BroadcastProgress(pqxx::transaction_base& tx, long long id);
/// Newest first, `limit` after cursor id `before` (0 = from the newest).
nlohmann::json ListBroadcasts(pqxx::transaction_base& tx, long long before, int limit);

/// "pause", "resume" or "cancel". Throws NotFound (no such broadcast), Conflict (not allowed in
/// its status) or InputError (another action). Returns the progress after the change. In the
/// caller's transaction: the caller commits.
nlohmann::json ControlBroadcast(pqxx::work& tx, long long id, const std::string& action);

// --- the dispatcher's side ---------------------------------------------------------------------

struct Lease {
  std::string holder;
  long long epoch = 0;
};
/// Takes the slice's lease for `holder` when it is free, expired or already `holder`'s (a
/// process taking it again after losing its connection), always with a new epoch: tasks the
/// earlier epoch left `sending` are then in doubt and resolved. nullopt when someone else holds a
/// live one.
std::optional<Lease> AcquireLease(pqxx::connection& connection, const std::string& holder,
                                  std::chrono::milliseconds ttl);
/// Extends the lease; false when it is no longer ours (taken over after it expired).
bool RenewLease(pqxx::connection& connection, const Lease& lease, std::chrono::milliseconds ttl);
void ReleaseLease(pqxx::connection& connection, const Lease& lease);

struct ClaimedTask {
  long long id = 0;
  std::string recipient;
  std::string text;
  int attempts = 0;  ///< including this one
  std::optional<long long> broadcast_id;
  std::optional<long long> message_id;
  bool in_flight = false;  ///< `sending`: it may have left (else only reserved, `claimed`)
  std::optional<channel::Template> tmpl;  ///< the broadcast's template, if it has one
};

/// Where the dispatcher's claims have got to in outbound_tasks' pending tasks (many of them: a
/// queue written before broadcasts kept an audience, or a burst of inbox messages), so that the
/// next claim reads on from there instead of looking at every pending task again
/// (docs/architecture.md, "Messaging"). Only a hint for the order: a claim with or without it takes
/// due pending tasks alone, under their row locks, so it never changes what is sent, only when.
struct ClaimCursor {
  long long block = -1;    ///< the table page to read on from; -1: none (claim by outbound_due)
  std::string not_before;  ///< the not_before the cursor follows; due tasks older than it go first
};

/// Reserves up to `limit` due pending tasks for `lease` (`claimed`, FOR UPDATE SKIP LOCKED), then,
/// up to the limit, the next recipients of running broadcasts' audiences, oldest broadcast first,
/// as new tasks in the same state, and commits. Claims nothing when the lease is no longer ours.
/// `sending`: they go out right away (every one has its token), so they are marked `sending` at
/// once, as MarkSending would just before the send: one statement and one row version fewer per
/// message. Without a cursor (or with an empty one) the due tasks are taken oldest not_before
/// first, in table order within one not_before, through outbound_due: that visits every pending
/// task. With a cursor set, due tasks older than its not_before go first (an index range that holds
/// only them), then the table is read on from its page (a TID range scan: O(limit), whatever the
/// depth). The cursor is moved past what was claimed, and emptied when a claim finds fewer
/// pending tasks than `limit`, so the next one looks at every pending task again.
std::vector<ClaimedTask> Claim(pqxx::connection& connection, const Lease& lease, int limit,
                               bool sending = false, ClaimCursor* cursor = nullptr);

/// With the queue in another database, where no foreign key follows a deleted message: the ids
/// of the claimed `tasks` whose inbox message is no longer in `messages` (its contact or
/// conversation was deleted) or is another message now (that database was restored to an
/// earlier point and gave the id out again). Those are not sent.
std::set<long long> MessagesGone(db::Pool& messages, const std::vector<const ClaimedTask*>& tasks);

/// Marks claimed tasks `sending` just before they are sent, and commits, so that a crash after
/// this leaves exactly them in doubt. Returns the ids still ours (claimed under `epoch`); send
/// only those.
std::vector<long long> MarkSending(pqxx::connection& connection, long long epoch,
                                   const std::vector<long long>& ids);

/// Tasks an earlier lease holder left claimed (never sent: they go back to the queue) or
/// sending (a crash mid-send: in doubt).
std::vector<ClaimedTask> InDoubt(pqxx::connection& connection, long long current_epoch);

/// What became of one claimed task.
struct TaskResult {
  long long id = 0;
  std::string state;  ///< "sent", "pending" (retry at not_before), "failed"
  std::string provider_id;
  std::string error;
  long long delay_ms = 0;       ///< for a retry
  bool refund_attempt = false;  ///< it never left (pair limit, lease lost): not an attempt
};

/// A change the web app should see: a message's status, or a broadcast's counts.
struct Touched {
  std::vector<nlohmann::json> messages;  ///< {id, conversation_id, status, error}
  std::vector<long long> broadcasts;
  long long sent = 0;  ///< tasks RecordResults moved to `sent` (not those no longer ours)
};

/// Records results (only for tasks still `sending` under `epoch`, or under an earlier epoch
/// when `adopt_in_doubt`), mirrors them onto inbox messages (in `messages_db` when not null),
/// applies statuses that arrived early, completes finished broadcasts.
Touched RecordResults(pqxx::connection& connection, long long epoch,
                      const std::vector<TaskResult>& results, bool adopt_in_doubt = false,
                      db::Pool* messages_db = nullptr);

/// Applies delivery statuses (forward only) to tasks and inbox messages (in `messages_db` when
/// not null); statuses for sends not recorded yet are kept for RecordResults. `also`, when
/// given, runs in the messages' transaction too (inbound messages taken in with the statuses).
Touched ApplyStatuses(pqxx::work& tx, const std::vector<channel::StatusUpdate>& statuses,
                      db::Pool* messages_db = nullptr,
                      const std::function<void(pqxx::work& messages_tx)>& also = {});

/// Forgets early statuses older than `age` that never met their send (messages sent from the
/// number outside this CRM, say). Returns how many.
long long PruneEarlyStatuses(pqxx::connection& connection, std::chrono::hours age);

/// The task's idempotency key: "<slice id>-<task id>".
std::string IdempotencyKey(long long slice_id, long long task_id);

}  // namespace crm::queue
