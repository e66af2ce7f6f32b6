#include "crm/queue/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace crm::queue {
namespace {
using nlohmann::json;
using std::chrono::milliseconds;

milliseconds Since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t);
}
}  // namespace

// LISTEN on the slice's channel; a notification just ends the wait.
struct Dispatcher::Listener : pqxx::notification_receiver {
  Listener(pqxx::connection_base& c, const std::string& channel)
      : pqxx::notification_receiver(c, channel) {}
  void operator()(const std::string&, int) override {}
};

Dispatcher::Dispatcher(DispatcherOptions options, Connect connect, channel::Channel& channel,
                       Publish publish)
    : options_(std::move(options)),
      connect_(std::move(connect)),
      channel_(channel),
      publish_(std::move(publish)),
      // One second's worth of sends may go at once; never less than one.
      bucket_(options_.phone_rps, std::max(1.0, options_.phone_rps), Clock::now()),
      pairs_(options_.pair_interval, options_.pair_burst) {}

Dispatcher::~Dispatcher() {
  Stop();
}

void Dispatcher::Start() {
  running_ = true;
  thread_ = std::thread([this] { Run(); });
}

void Dispatcher::StartAfter(const QueueState& look) {
  if (options_.messages_db == nullptr && !look.in_doubt &&
      (!look.due || *look.due >= std::min(options_.poll, options_.idle_disconnect))) {
    start_idle_ = true;
    if (look.due) {
      start_next_due_ = Clock::now() + *look.due;
    }
    last_depth_ = look.depth;
    idle_depth_ = look.depth;
  }
  Start();
}

void Dispatcher::Stop() {
  if (!running_.exchange(false)) {
    return;
  }
  Wake();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Dispatcher::Wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_all();
}

Dispatcher::Stats Dispatcher::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

bool Dispatcher::Sleep(milliseconds at_most) {
  auto until = Clock::now() + at_most;
  while (running_ && Clock::now() < until) {
    if (woken_.exchange(false)) {
      return true;
    }
    auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      break;
    }
    if (listener_) {
      // await_notification cannot see a Wake(): look at the flag every 250 ms.
      auto slice = std::min(milliseconds(250), left);
      if (connection_->await_notification(0, static_cast<long>(slice.count()) * 1000) > 0) {
        return true;
      }
    } else {
      // Not listening: a Wake() is all there is to wait for (disconnected, a thousand idle
      // slices must not each wake four times a second).
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, left, [this] { return woken_.load() || !running_; });
    }
  }
  return woken_.exchange(false);
}

QueueState QueueLook(pqxx::transaction_base& tx) {
  // Both through partial indexes (outbound_due, outbound_sending): cheap at any history size.
  // A running broadcast's audience not yet taken is due now.
  auto row = tx.exec1(
      "SELECT least((SELECT extract(epoch FROM min(not_before) - now()) * 1000 FROM "
      "outbound_tasks WHERE state = 'pending'), (SELECT 0 FROM broadcast_audience a JOIN "
      "broadcasts b ON b.id = a.broadcast_id WHERE b.status = 'running' LIMIT 1)), EXISTS (SELECT "
      "1 FROM outbound_tasks WHERE state IN "
      "('claimed', 'sending')), (SELECT depth FROM queue_depth)");
  QueueState state;
  state.depth = row[2].is_null() ? 0 : row[2].as<long long>();
  state.in_doubt = row[1].as<bool>();
  if (!row[0].is_null()) {
    state.due =
        std::max(milliseconds(0), milliseconds(static_cast<long long>(row[0].as<double>())));
  }
  return state;
}

std::optional<milliseconds> Dispatcher::NextDue(bool count_in_doubt) {
  pqxx::read_transaction tx(*connection_);
  QueueState state = QueueLook(tx);
  tx.commit();
  last_depth_ = state.depth;
  if (count_in_doubt && state.in_doubt) {
    return milliseconds(0);
  }
  return state.due;
}

void Dispatcher::OpenConnection() {
  idle_depth_ = -1;
  connection_ = connect_();
  if (options_.listen) {
    listener_ = std::make_unique<Listener>(
        *connection_, NotifyChannel("slice_" + std::to_string(options_.slice_id)));
  }
}

void Dispatcher::Disconnect() {
  if (lease_ && connection_) {
    try {
      ReleaseLease(*connection_, *lease_);
    } catch (const std::exception& e) {
      spdlog::warn("dispatcher: releasing the lease failed: {}", e.what());
    }
  }
  lease_.reset();
  listener_.reset();
  connection_.reset();
}

bool Dispatcher::HoldLease() {
  if (lease_) {
    if (Since(renewed_at_) < options_.lease_ttl / 3) {
      return true;
    }
    auto started = Clock::now();
    if (RenewLease(*connection_, *lease_, options_.lease_ttl)) {
      renewed_at_ = started;
      lease_valid_until_ = started + options_.lease_ttl / 2;
      return true;
    }
    spdlog::warn("dispatcher: lost the lease (epoch {}): another dispatcher took over",
                 lease_->epoch);
    lease_.reset();
    return false;
  }
  auto started = Clock::now();
  lease_ = AcquireLease(*connection_, options_.holder, options_.lease_ttl);
  if (!lease_) {
    return false;
  }
  renewed_at_ = started;
  // We stop sending well before the database would let anyone else in: the other half of the
  // TTL covers a send in flight and clocks that drift.
  lease_valid_until_ = started + options_.lease_ttl / 2;
  spdlog::info("dispatcher: holding the lease of slice {} (epoch {})", options_.slice_id,
               lease_->epoch);
  Recover();
  if (!lease_) {
    return false;  // lost while resolving what an earlier holder left
  }
  RequeueOrphanMessages();
  return true;
}

bool Dispatcher::LeaseStillOurs() {
  try {
    if (!HoldLease()) {
      return false;
    }
  } catch (const std::exception& e) {
    spdlog::warn("dispatcher: renewing the lease failed: {}", e.what());
  }
  return lease_.has_value() && Clock::now() < lease_valid_until_;
}

// Tasks a previous holder left `sending`: ask the channel whether they arrived.
void Dispatcher::Recover() {
  for (;;) {
    auto tasks = InDoubt(*connection_, lease_->epoch);
    if (tasks.empty()) {
      return;
    }
    std::vector<TaskResult> results;
    for (const auto& t : tasks) {
      // A lookup each: thousands of them (a large batch left in doubt) may take longer than
      // the lease, which is renewed meanwhile; lost, the new holder resolves them.
      if (results.size() % 100 == 99 && !LeaseStillOurs()) {
        lease_.reset();
        return;
      }
      if (!t.in_flight) {
        results.push_back({t.id, "pending", "", "", 0, true});  // reserved, never sent
        continue;
      }
      auto found = channel_.Lookup(IdempotencyKey(options_.slice_id, t.id));
      if (found && !found->empty()) {
        results.push_back({t.id, "sent", *found, "", 0, false});
      } else if (found) {
        results.push_back({t.id, "pending", "", "", 0, false});
      } else {
        results.push_back({t.id, "failed", "",
                           "the send was interrupted and the provider cannot tell whether it "
                           "arrived; not sent again, to avoid a duplicate",
                           0, false});
      }
    }
    spdlog::info("dispatcher: resolved {} task(s) left in doubt by an earlier holder",
                 results.size());
    Record(results, true);
  }
}

void Dispatcher::RequeueOrphanMessages() {
  if (options_.messages_db == nullptr) {
    requeue_orphans_ = false;
    return;
  }
  long long queued = queue::RequeueOrphanMessages(*connection_, *options_.messages_db);
  requeue_orphans_ = false;  // after it succeeded: a failure reconnects and tries again
  if (queued > 0) {
    spdlog::warn("dispatcher: queued {} inbox message(s) committed without their task", queued);
  }
}

TaskResult Dispatcher::Outcome(const ClaimedTask& task, const channel::SendResult& result) {
  TaskResult r{task.id, "sent", result.provider_id, "", 0, false};
  if (result.outcome == channel::Outcome::kSent) {
    return r;
  }
  r.provider_id.clear();
  r.error = result.error;
  if (result.outcome == channel::Outcome::kFailed) {
    r.state = "failed";
    return r;
  }
  if (task.attempts >= options_.max_attempts) {
    r.state = "failed";
    r.error = "gave up after " + std::to_string(task.attempts) + " attempts: " + result.error;
    return r;
  }
  std::uniform_real_distribution<double> u(0.0, 1.0);
  milliseconds delay =
      RetryDelay(task.attempts, options_.retry_base, options_.retry_cap, u(random_));
  if (result.throttle == channel::Throttle::kPair) {
    delay = std::max(delay, options_.pair_interval);
  }
  if (result.retry_after) {
    delay = std::max(delay, *result.retry_after);
  }
  r.state = "pending";
  r.delay_ms = delay.count();
  return r;
}

void Dispatcher::Record(const std::vector<TaskResult>& results, bool adopt) {
  Touched touched =
      RecordResults(*connection_, lease_->epoch, results, adopt, options_.messages_db);
  for (const auto& m : touched.messages) {
    publish_("message.status", m);
  }
  for (long long id : touched.broadcasts) {
    publish_("broadcast.changed", {{"id", id}});
  }
  if (std::any_of(results.begin(), results.end(),
                  [](const TaskResult& r) { return r.state == "pending"; })) {
    cursor_ = {};  // back in the queue, perhaps behind the cursor
  }
  // Counted as recorded: a result for a task another holder has adopted since changes nothing.
  std::lock_guard lock(stats_mutex_);
  stats_.sent += touched.sent;
}

bool Dispatcher::Send(std::vector<ClaimedTask> tasks, long long epoch) {
  // Claimed straight into `sending`, their tokens taken (Run): they go as one chunk, already
  // marked.
  bool marked = !tasks.empty() && tasks.front().in_flight;
  std::size_t next = 0;
  bool held = false;
  std::vector<TaskResult> deferred;
  std::vector<const ClaimedTask*> unsent;
  while (next < tasks.size()) {
    auto now = Clock::now();
    int tokens = marked ? static_cast<int>(tasks.size() - next)
                        : bucket_.Take(static_cast<int>(tasks.size() - next), now);
    if (tokens == 0) {
      auto wait = std::chrono::ceil<milliseconds>(bucket_.NextToken(now) - now);
      if (!running_ || !LeaseStillOurs()) {
        break;  // stopping (what is not sent goes back to the queue) or no longer ours
      }
      std::this_thread::sleep_for(std::clamp(wait, milliseconds(1), milliseconds(200)));
      continue;
    }
    // A recipient the pair limit holds back waits (without using up an attempt).
    std::vector<const ClaimedTask*> chunk;
    while (next < tasks.size() && static_cast<int>(chunk.size()) < tokens) {
      const ClaimedTask& t = tasks[next++];
      milliseconds wait{0};
      if (pairs_.Allow(t.recipient, now, &wait)) {
        chunk.push_back(&t);
      } else {
        deferred.push_back({t.id, "pending", "", "", wait.count(), true});
      }
    }
    if (chunk.empty()) {
      continue;
    }
    if (before_send) {
      before_send();
    }
    // The last check before anything leaves: a dispatcher whose lease is gone sends nothing.
    if (!LeaseStillOurs()) {
      unsent = chunk;
      break;
    }
    if (options_.messages_db != nullptr) {
      // The queue is in another database: a message deleted since (or replaced by a restore)
      // is not sent, as its foreign key's cascade would have seen to in the slice's schema.
      std::set<long long> gone = MessagesGone(*options_.messages_db, chunk);
      if (!gone.empty()) {
        std::vector<TaskResult> cancelled;
        for (long long id : gone) {
          cancelled.push_back({id, "cancelled", "", "its message was deleted", 0, true});
        }
        RecordResults(*connection_, epoch, cancelled, false, options_.messages_db);
        std::erase_if(chunk, [&gone](const ClaimedTask* t) { return gone.contains(t->id); });
        if (chunk.empty()) {
          continue;
        }
      }
    }
    if (!marked) {
      // From here a crash leaves exactly these in doubt; ids a new holder has taken are skipped.
      std::vector<long long> ids;
      for (const ClaimedTask* t : chunk) {
        ids.push_back(t->id);
      }
      std::vector<long long> ours = MarkSending(*connection_, epoch, ids);
      std::erase_if(chunk, [&ours](const ClaimedTask* t) {
        return std::find(ours.begin(), ours.end(), t->id) == ours.end();
      });
      if (chunk.empty()) {
        continue;
      }
    }
    std::vector<channel::OutboundMessage> batch;
    batch.reserve(chunk.size());
    for (const ClaimedTask* t : chunk) {
      batch.push_back({IdempotencyKey(options_.slice_id, t->id), t->recipient, t->text, t->tmpl});
    }
    auto sending_since = Clock::now();
    auto results = channel_.Send(batch);
    std::chrono::duration<double> took = Clock::now() - sending_since;
    channel_pace_ = static_cast<double>(batch.size()) / std::max(took.count(), 1e-6);
    std::vector<TaskResult> outcome;
    outcome.reserve(chunk.size() + deferred.size());
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      channel::SendResult r =
          i < results.size() ? results[i]
                             : channel::SendResult{channel::Outcome::kRetry,        "", {}, {}, 0,
                                                   "the channel returned no result"};
      if (r.outcome == channel::Outcome::kRetry && r.throttle == channel::Throttle::kPhone) {
        bucket_.PauseUntil(Clock::now() + r.retry_after.value_or(options_.retry_base));
      }
      if (r.outcome == channel::Outcome::kRetry && r.held) {
        // The channel went away under us: the task waits for it, no attempt used (the bucket's
        // pause spaces out the next try when the channel still claims to be ready).
        held = true;
        outcome.push_back({chunk[i]->id, "pending", "", r.error, 0, true});
        continue;
      }
      outcome.push_back(Outcome(*chunk[i], r));
    }
    outcome.insert(outcome.end(), deferred.begin(), deferred.end());
    deferred.clear();
    Record(outcome, false);
    if (held) {
      break;  // the rest of the batch goes back to the queue; Run() waits for the channel
    }
  }
  for (std::size_t i = next; i < tasks.size(); ++i) {
    unsent.push_back(&tasks[i]);
  }
  if (unsent.empty() && deferred.empty()) {
    return true;
  }
  // Tasks that never left go back to the queue. Safe even without the lease: a task is only
  // touched while still `sending` under our epoch, which a new holder's adoption changes.
  for (const ClaimedTask* t : unsent) {
    deferred.push_back({t->id, "pending", "", "", 0, true});
  }
  cursor_ = {};  // back in the queue, perhaps behind the cursor
  try {
    RecordResults(*connection_, epoch, deferred, false, options_.messages_db);
  } catch (const std::exception& e) {
    spdlog::warn(
        "dispatcher: could not return {} unsent task(s) to the queue: {} (the next "
        "holder resolves them)",
        deferred.size(), e.what());
  }
  if (unsent.empty() || held) {
    return true;
  }
  std::lock_guard lock(stats_mutex_);
  stats_.lease_lost += 1;
  spdlog::warn("dispatcher: lease lost: {} claimed task(s) not sent, returned to the queue",
               unsent.size());
  return false;
}

void Dispatcher::Run() {
  auto idle_since = Clock::now();
  Clock::time_point pruned_at{};
  bool first = !start_idle_;
  // While disconnected: when the earliest task it saw pending falls due (a retry, a recipient
  // the pair limit held back). nullopt: nothing was pending.
  std::optional<Clock::time_point> next_due = start_next_due_;
  milliseconds failure_backoff{500};
  while (running_) {
    try {
      if (!connection_) {
        bool work = first;
        if (!first) {
          milliseconds wait = options_.others_queue ? options_.idle_poll
                                                    : milliseconds(kSoleQueueLook);
          if (next_due) {
            wait = std::clamp(std::chrono::ceil<milliseconds>(*next_due - Clock::now()),
                              milliseconds(0), wait);
          }
          work = Sleep(wait) || (next_due && Clock::now() >= *next_due);
          if (!running_) {
            break;
          }
          if (!work && !channel_.Readiness().ready) {
            continue;  // nothing could be sent or resolved before it can send, which wakes us
          }
        }
        first = false;
        next_due.reset();
        OpenConnection();
        if (!work) {
          // Only a periodic look (for work queued by a process whose NOTIFY we could not hear):
          // take the lease, and stay, only when something is there.
          auto due = NextDue(true);
          if (!due || *due >= std::min(options_.poll, options_.idle_disconnect)) {
            if (due) {
              next_due = Clock::now() + *due;
            }
            Disconnect();
            idle_depth_ = last_depth_;
            continue;
          }
        }
        idle_since = Clock::now();
      }
      // A channel that cannot send (unpaired, logged out, failed, banned): the tasks wait,
      // pending, using no attempts, and the lease is let go (nothing is being sent). A long
      // wait holds no backend either; the channel's reconnection wakes us.
      channel::SendReadiness readiness = channel_.Readiness();
      if (!readiness.ready) {
        if (held_reason_ != readiness.reason) {
          spdlog::info("dispatcher: sending held: {}", readiness.reason);
          held_reason_ = readiness.reason;
        }
        if (lease_) {
          ReleaseLease(*connection_, *lease_);
          lease_.reset();
        }
        if (Since(idle_since) >= options_.idle_disconnect) {
          NextDue(false);  // for the depth
          Disconnect();
          idle_depth_ = last_depth_;
        } else {
          Sleep(milliseconds(1'000));
        }
        continue;
      }
      if (!held_reason_.empty()) {
        spdlog::info("dispatcher: the channel can send again");
        held_reason_.clear();
      }
      if (!HoldLease()) {
        Sleep(options_.lease_ttl / 3);
        continue;
      }
      if (requeue_orphans_) {
        RequeueOrphanMessages();
      }
      pairs_.Prune(Clock::now());
      // About a second's worth: what is reserved is what the bucket will let go soon, and what
      // the channel will take soon, never less than first_batch (DispatcherOptions::batch).
      double pace = std::max(channel_pace_, static_cast<double>(options_.first_batch));
      int limit = static_cast<int>(std::clamp(std::min(options_.phone_rps, pace), 1.0,
                                              static_cast<double>(std::max(1, options_.batch))));
      // When the bucket holds a token for every task the claim may take (its rate lifted, or a
      // second's burst saved up), they are claimed straight into `sending` and sent as one chunk:
      // the window in which a crash leaves them in doubt is the same as MarkSending's, right
      // before the send, with one statement and one row version fewer per message.
      auto now = Clock::now();
      bool at_once = bucket_.Available(now) >= limit;
      if (cursor_.block < 0 || Since(cursor_since_) >= options_.claim_rescan) {
        cursor_ = {};
        cursor_since_ = now;
      }
      auto tasks = Claim(*connection_, *lease_, limit, at_once, &cursor_);
      if (at_once) {
        bucket_.Take(static_cast<int>(tasks.size()), now);
      }
      if (tasks.empty()) {
        if (Since(pruned_at) >= std::chrono::hours(1)) {
          PruneEarlyStatuses(*connection_, std::chrono::hours(24));
          pruned_at = Clock::now();
        }
        std::optional<milliseconds> due = NextDue(false);
        if (Since(idle_since) >= options_.idle_disconnect &&
            (!due || *due >= std::min(options_.poll, options_.idle_disconnect))) {
          // Nothing to do for a while: hold no lease and no backend; come back when it is due.
          if (due) {
            next_due = Clock::now() + *due;
          }
          Disconnect();
          idle_depth_ = last_depth_;
          continue;
        }
        milliseconds wait = options_.poll;
        if (due) {
          wait = std::clamp(*due, milliseconds(1), options_.poll);
        }
        Sleep(std::min(wait, options_.lease_ttl / 3));
        continue;
      }
      idle_since = Clock::now();
      Send(std::move(tasks), lease_->epoch);
      failure_backoff = milliseconds(500);
    } catch (const std::exception& e) {
      spdlog::error("dispatcher: {} (retrying in {} ms)", e.what(), failure_backoff.count());
      lease_.reset();  // we cannot know: take it again (same holder) or wait it out
      listener_.reset();
      connection_.reset();
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, failure_backoff, [this] { return !running_; });
      failure_backoff = std::min(failure_backoff * 2, milliseconds(30'000));
      first = true;
    }
  }
  Disconnect();
}

}  // namespace crm::queue
