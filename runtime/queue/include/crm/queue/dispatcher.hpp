// A slice's dispatcher: one thread that holds the slice's lease and sends its queue through the
// channel, paced by the per-phone token bucket and the pair limit, retrying with backoff and
// dead-lettering after max_attempts. While the channel cannot send at all (Channel::Readiness():
// unpaired, logged out, failed) it holds no lease and claims nothing: tasks wait, pending,
// without using attempts, and go once the channel is ready again. It wakes on NOTIFY (unless
// DispatcherOptions::listen is off) and polls as a fallback. When it has sent nothing for
// idle_disconnect and nothing is due within that time it lets its lease and connection go (LISTEN
// included), so an idle tenant holds no database backend; then it comes back on a Wake() (its own
// slice queued something), at the earliest retry it saw pending, or every idle_poll to look
// (without the lease) for work another process queued.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "crm/channel/channel.hpp"
#include "crm/queue/rate.hpp"
#include "crm/queue/store.hpp"

namespace crm::queue {

struct DispatcherOptions {
  long long slice_id = 0;
  std::string holder;  ///< unique per process ("host:pid:random"): the lease's owner
  double phone_rps = 250;
  std::chrono::milliseconds pair_interval{6'000};
  int pair_burst = 10;
  /// The most tasks one claim takes. A claim takes about a second's worth: at most phone_rps,
  /// and at most what the channel sent in a second at the pace of the last chunk, or
  /// first_batch when that is more (or nothing was sent yet). A slow channel (the Cloud API,
  /// ~160/s with 32 requests in flight) then claims as before, never near the lease's
  /// half-life; a fast one (the simulator) pays each statement's fixed cost (planning, the
  /// counting trigger, a commit) once per thousands of messages instead of once per 500.
  int batch = 5'000;
  int first_batch = 500;
  int max_attempts = 10;
  std::chrono::milliseconds lease_ttl{10'000};
  std::chrono::milliseconds retry_base{1'000};
  std::chrono::milliseconds retry_cap{300'000};
  std::chrono::milliseconds poll{5'000};
  /// How long claims may read on from where the last one stopped before one looks at every
  /// pending task again (store.hpp ClaimCursor): the longest a due task behind the cursor waits
  /// for it, besides its turn.
  std::chrono::milliseconds claim_rescan{10'000};
  /// While disconnected: how often to look for work queued with a NOTIFY it could not hear.
  std::chrono::milliseconds idle_poll{60'000};
  /// Whether another process may queue into this queue. When only this process does (the queue
  /// in the slice's own schema, every slice process dispatching its own), each of its enqueues
  /// Wake()s the dispatcher, so a disconnected one has nothing to look for: it comes back on a
  /// Wake() or at the earliest retry it saw pending, and looks only once a day (kSoleQueueLook)
  /// besides. A thousand idle tenants then open no backend between them, instead of one look a
  /// tenant a minute (docs/architecture.md, "Messaging").
  bool others_queue = true;
  /// Nothing sent for this long and nothing due sooner: close the connection.
  std::chrono::milliseconds idle_disconnect{60'000};
  /// LISTEN for what other processes queue. Off when the connection goes through a transaction
  /// pooler, which cannot carry a LISTEN: it then hears its own process's Wake() at once and
  /// other processes' work at its next look (every `poll` while connected, `idle_poll` while not).
  bool listen = true;
  /// The slice's own database when the queue is in another one (QUEUE_DATABASE_URL): inbox
  /// messages are written there, and their orphans looked for (store.hpp
  /// RequeueOrphanMessages). Null: the queue is in the slice's schema.
  db::Pool* messages_db = nullptr;
};

/// How often a disconnected dispatcher that alone is woken by its queue's writers looks anyway
/// (DispatcherOptions::others_queue false): a net for a task written by hand.
inline constexpr std::chrono::hours kSoleQueueLook{24};

/// Opens the dispatcher's own connection (search_path = the slice's schema).
using Connect = std::function<std::unique_ptr<pqxx::connection>()>;
/// Hands a change on: "message.status" (the message's new status, for the web app) or
/// "broadcast.changed" ({"id"}: its counts moved; the receiver decides when to count them).
using Publish = std::function<void(const std::string& event, const nlohmann::json& data)>;

/// What a queue holds, as the dispatcher looks before it sends (QueueLook): how long until its
/// earliest pending task is due (nullopt: none pending), whether a task is claimed or sending
/// (in doubt: only a lease resolves it), and its depth (store.hpp PendingDepth).
struct QueueState {
  std::optional<std::chrono::milliseconds> due;
  bool in_doubt = false;
  long long depth = 0;
};

/// Reads QueueState in `tx` (search_path = the slice's schema), through partial indexes: cheap at
/// any history size.
QueueState QueueLook(pqxx::transaction_base& tx);

class Dispatcher {
 public:
  Dispatcher(DispatcherOptions options, Connect connect, channel::Channel& channel,
             Publish publish);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void Start();
  /// As Start, given what a look at the queue on another connection found just before (the
  /// slice's start, on the connection its schema check and its channel used): with nothing in
  /// doubt and nothing due within `poll`, it starts without a connection of its own, as if just
  /// gone idle, and connects when woken, when the earliest pending task falls due, or at its
  /// idle poll. A slice just provisioned then opens one backend at its start, not two, and holds
  /// none afterwards (docs/benchmarks.md, "Density"). Only for a queue in the slice's schema: a
  /// queue database also needs the orphans' look, which takes the lease.
  void StartAfter(const QueueState& look);
  /// Finishes the send in progress, records it, releases the lease and returns.
  void Stop();
  /// Something was queued by this process: look now (NOTIFY covers other processes).
  void Wake();
  /// An inbox message was committed but its task could not be queued (the queue database
  /// failed): look for such messages and queue them, as soon as the queue database answers.
  void RequeueOrphans() {
    requeue_orphans_ = true;
    Wake();
  }

  struct Stats {
    long long sent = 0;        ///< tasks this dispatcher sent
    long long lease_lost = 0;  ///< batches abandoned because the lease was gone
  };
  Stats stats() const;
  /// While it holds no connection because it is idle: the queue's depth (store.hpp
  /// PendingDepth) it read just before closing, which only its own slice's writes can change
  /// meanwhile. nullopt while connected (or never idle yet): read the database.
  std::optional<long long> IdleDepth() const {
    long long d = idle_depth_.load();
    return d < 0 ? std::nullopt : std::optional<long long>(d);
  }

  /// Test hook, called on the dispatcher's thread after a batch is claimed and before each send
  /// of it (a test stalls here to let the lease expire under it).
  std::function<void()> before_send;

 private:
  void Run();
  /// Opens the connection and LISTENs on the slice's channel.
  void OpenConnection();
  void Disconnect();
  bool HoldLease();
  bool LeaseStillOurs();
  void Recover();
  /// With the queue in another database: queues the inbox messages a failure left without a task.
  void RequeueOrphanMessages();
  /// Sends a claimed batch; false when the lease was lost midway (the rest is left in doubt).
  bool Send(std::vector<ClaimedTask> tasks, long long epoch);
  TaskResult Outcome(const ClaimedTask& task, const channel::SendResult& result);
  void Record(const std::vector<TaskResult>& results, bool adopt);
  /// Waits for a NOTIFY (when connected), a Wake() or `at_most`; true when woken.
  bool Sleep(std::chrono::milliseconds at_most);
  /// Time until the earliest pending task is due (0 when due; with `count_in_doubt`, also when
  /// a task is claimed or sending, which only a new lease resolves); nullopt when nothing
  /// waits. Needs no lease. Reads the queue's depth into last_depth_ too.
  std::optional<std::chrono::milliseconds> NextDue(bool count_in_doubt);

  DispatcherOptions options_;
  Connect connect_;
  channel::Channel& channel_;
  Publish publish_;

  std::unique_ptr<pqxx::connection> connection_;
  struct Listener;
  std::unique_ptr<Listener> listener_;
  std::optional<Lease> lease_;
  Clock::time_point renewed_at_{};
  Clock::time_point lease_valid_until_{};
  TokenBucket bucket_;
  PairLimiter pairs_;
  std::mt19937_64 random_{std::random_device{}()};
  std::string held_reason_;  ///< why the channel last said it cannot send (logged once)

  /// Where the claims have got to (store.hpp ClaimCursor); emptied whenever a task goes back to
  /// pending (it may lie behind it) and every claim_rescan, so no due task waits behind it for
  /// longer than that.
  ClaimCursor cursor_;
  /// Messages a second the channel took the last chunk at (0: not known yet); see
  /// DispatcherOptions::batch.
  double channel_pace_ = 0;
  Clock::time_point cursor_since_{};
  long long last_depth_ = 0;               ///< read by the last NextDue
  std::atomic<long long> idle_depth_{-1};  ///< see IdleDepth
  /// From StartAfter: start disconnected, and when the earliest pending task falls due.
  bool start_idle_ = false;
  std::optional<Clock::time_point> start_next_due_;
  std::atomic<bool> running_{false};
  std::atomic<bool> woken_{false};
  std::atomic<bool> requeue_orphans_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  mutable std::mutex stats_mutex_;
  Stats stats_;
  std::thread thread_;
};

}  // namespace crm::queue
