// A slice's messaging (docs/architecture.md, "Messaging"): its WhatsApp channel, the inbox that
// takes in statuses and inbound messages, and the outbound queue (direct messages and broadcasts)
// with its dispatcher.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "crm/channel/channel.hpp"
#include "crm/channel/cloud_api.hpp"
#include "crm/channel/simulator.hpp"
#include "crm/channel/wa_web.hpp"
#include "crm/db/pool.hpp"
#include "crm/queue/dispatcher.hpp"
#include "crm/slice/events.hpp"
#include "crm/slice/message_store.hpp"

namespace crm::slice {

struct MessagingOptions {
  long long slice_id = 0;
  /// The pool of the channel and the inbox (two connections), whose conninfo the dispatcher's
  /// own connection uses too.
  db::PoolOptions database;
  std::string channel = "simulator";  ///< or "cloud-api", "wa-web"
  bool simulator_autopair = false;    ///< connect without a QR scan
  /// Started by its provisioning (CRM_SLICE_FRESH): the schema is empty, so the channel's state
  /// and the queue are known without a look.
  bool fresh = false;
  channel::CloudApiOptions cloud_api;
  channel::WaWebOptions wa_web;
  /// Pacing, attempts and lease; Start fills in slice_id and the holder.
  queue::DispatcherOptions dispatcher;
  /// The share of tenant buckets whose queues this host dispatches (WORKER_SHARD_RANGE).
  std::string worker_shard_range = "0-100";
};

class Messaging {
 public:
  /// The channel and the inbox get their own small pool, the dispatcher its own connection.
  /// `queue_db`: the queue database's pool when the queue is not in the slice's schema
  /// (QUEUE_DATABASE_URL; docs/architecture.md, "The queue database"), else null.
  Messaging(MessagingOptions options, EventHub& events, db::Pool* queue_db = nullptr);
  ~Messaging();

  /// Starts the channel and (when this host's shard owns the slice) the dispatcher.
  void Start();
  void Stop();

  channel::ChannelState ChannelStatus() const { return channel_->State(); }
  /// Why queued messages wait for the channel (unpaired, logged out…), null while it can send.
  nlohmann::json HeldReason() const;
  /// Adds "held_reason" to a broadcast's progress: the channel's, while the broadcast runs with
  /// messages still queued; null otherwise.
  void AnnotateProgress(nlohmann::json& progress) const;
  /// Something was queued: the dispatcher looks now.
  void Wake() {
    if (dispatcher_) {
      dispatcher_->Wake();
    }
  }
  /// The queue's depth as the dispatcher left it when it went idle and closed its connection;
  /// nullopt while it is connected, or when another host dispatches this slice.
  std::optional<long long> IdleQueueDepth() const {
    return dispatcher_ ? dispatcher_->IdleDepth() : std::nullopt;
  }
  /// Takes in statuses and inbound messages; publishes what changed. Blocking.
  void Apply(const channel::ChannelEvents& events);
  /// Closes connections idle longer than `age` (the queue database's too).
  void CloseIdle(std::chrono::milliseconds age) {
    channel_pool_.CloseIdle(age);
    if (queue_db_ != nullptr) {
      queue_db_->CloseIdle(age);
    }
  }

  /// Where the queue's tables are: the queue database's pool, or the slice's own.
  db::Pool& queue_db() { return queue_db_ != nullptr ? *queue_db_ : channel_pool_; }
  /// The channel's pool (the slice's schema): the start's checks run on it, so that the channel
  /// and the dispatcher's first look reuse their connection (one backend for a slice's start).
  db::Pool& channel_db() { return channel_pool_; }
  /// Commits an outbound inbox message and queues it: `add(store)` adds it (MessageStore Add or
  /// Send) through `slice_db`. With the queue in the slice's schema both are one transaction.
  /// With a queue database the message commits first, then its task; when the queue database
  /// fails the message stays queued, the dispatcher queues it once it answers, and this throws
  /// Unavailable (503). Blocking.
  nlohmann::json QueueInboxMessage(db::Pool& slice_db,
                                   const std::function<nlohmann::json(MessageStore&)>& add);

  /// The channel, when it is the simulator; nullptr otherwise.
  channel::Simulator* simulator() { return simulator_; }
  /// The simulator; Conflict when this slice's channel is another.
  channel::Simulator& RequireSimulator();
  /// The channel, when it is wa-web; nullptr otherwise.
  channel::WaWebChannel* wa_web() { return wa_web_; }
  /// The wa-web channel; Conflict when this slice's channel is another.
  channel::WaWebChannel& RequireWaWeb();
  /// Sends `event` to the open event streams ("broadcast.changed" only marks the broadcast for
  /// the next progress count).
  void Publish(const std::string& event, const nlohmann::json& data);

 private:
  /// Every 500 ms: the counts of broadcasts that changed, to open event streams (none open: no
  /// counting; a big broadcast's count costs a scan of its tasks).
  void ProgressLoop();

  MessagingOptions options_;
  long long slice_id_;
  EventHub& events_;
  db::Pool channel_pool_;
  db::Pool* queue_db_ = nullptr;  ///< the queue database's pool, or null: channel_pool_
  /// A contact without a name of its own takes the push name WhatsApp reported. Blocking.
  void NameContact(const std::string& phone, const std::string& name);

  channel::Simulator* simulator_ = nullptr;  ///< channel_, when it is the simulator
  channel::WaWebChannel* wa_web_ = nullptr;  ///< channel_, when it is wa-web
  std::unique_ptr<channel::Channel> channel_;
  std::unique_ptr<queue::Dispatcher> dispatcher_;
  std::mutex progress_mutex_;
  std::condition_variable progress_wake_;
  std::set<long long> changed_broadcasts_;
  bool stopping_ = false;
  std::thread progress_thread_;
};

}  // namespace crm::slice
