#include "crm/slice/messaging.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "crm/error.hpp"
#include "crm/hash_range.hpp"
#include "crm/queue/rate.hpp"
#include "crm/queue/store.hpp"
#include "crm/slice/message_store.hpp"

namespace crm::slice {
namespace {

using nlohmann::json;

std::string Holder() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1'000'000);
}

}  // namespace

Messaging::Messaging(MessagingOptions options, EventHub& events, db::Pool* queue_db)
    : options_(std::move(options)),
      slice_id_(options_.slice_id),
      events_(events),
      channel_pool_(options_.database),
      queue_db_(queue_db) {
  if (options_.channel == "cloud-api") {
    channel_ = std::make_unique<channel::CloudApiChannel>(options_.cloud_api);
  } else if (options_.channel == "wa-web") {
    auto wa_web = std::make_unique<channel::WaWebChannel>(
        options_.wa_web, [this](const channel::ChannelEvents& e) { Apply(e); },
        [this](const std::string& phone, const std::string& name) { NameContact(phone, name); },
        [this] {
          if (wa_web_ != nullptr) {
            Publish("channel.state", wa_web_->Describe());
            if (wa_web_->Readiness().ready) {
              Wake();  // what waited for the session goes now
            }
          }
        });
    wa_web_ = wa_web.get();
    channel_ = std::move(wa_web);
  } else {
    channel::SimulatorOptions simulator_options;
    simulator_options.slice_id = slice_id_;
    simulator_options.autopair = options_.simulator_autopair;
    simulator_options.fresh = options_.fresh;
    auto simulator = std::make_unique<channel::Simulator>(
        simulator_options, channel_pool_, [this](const channel::ChannelEvents& e) { Apply(e); });
    simulator_ = simulator.get();
    channel_ = std::move(simulator);
  }
}

Messaging::~Messaging() {
  Stop();
}

void Messaging::Start() {
  if (simulator_ != nullptr) {
    simulator_->Start();
  }
  progress_thread_ = std::thread([this] { ProgressLoop(); });
  queue::ShardRange shard = queue::ParseShardRange(options_.worker_shard_range);
  if (shard.Owns(slice_id_)) {
    queue::DispatcherOptions options = options_.dispatcher;
    options.slice_id = slice_id_;
    options.holder = Holder();
    if (queue_db_ != nullptr) {
      options.messages_db = &channel_pool_;
    }
    // Its own application_name: pg_stat_activity tells its backend from the pools'.
    // A whole session that LISTENs, to PostgreSQL itself when a pooler is in between; behind
    // its host's pooler, whose backends every slice shares, it does not LISTEN and goes through
    // the pooler like the pools (docs/operations.md, "Slices behind the host's pooler").
    const bool shares_pooler = queue_db().pooled_with_role_settings();
    options.listen = !shares_pooler;
    // In the slice's own schema, with every host dispatching its own slices' queues, only this
    // process queues (and wakes the dispatcher): nothing to look for while idle.
    const bool every_tenant = shard.from == 0 && shard.to == kHashBuckets;
    options.others_queue = queue_db_ != nullptr || !every_tenant;
    std::string conninfo = db::BuildConnInfo(
        shares_pooler ? queue_db().conninfo() : queue_db().session_conninfo(),
        {{"application_name", "crmd-slice_" + std::to_string(slice_id_) + "-dispatcher"}});
    dispatcher_ = std::make_unique<queue::Dispatcher>(
        options, [conninfo] { return std::make_unique<pqxx::connection>(conninfo); }, *channel_,
        [this](const std::string& event, const json& data) { Publish(event, data); });
    if (queue_db_ == nullptr) {
      // The queue is in the slice's schema: one look on the channel's pool, on the connection
      // the start's schema check and the channel used, spares the dispatcher a connection of
      // its own when nothing waits (Dispatcher::StartAfter). A fresh slice's queue is empty.
      dispatcher_->StartAfter(options_.fresh ? queue::QueueState{}
                                             : channel_pool_.Read([](pqxx::read_transaction& tx) {
                                                 return queue::QueueLook(tx);
                                               }));
    } else {
      dispatcher_->Start();
    }
  } else {
    spdlog::info(
        "slice {}: its queue is dispatched by another host (its tenant hash {} % is outside "
        "WORKER_SHARD_RANGE {})",
        slice_id_, PercentOfBasisPoints(queue::TenantBucket(slice_id_)),
        options_.worker_shard_range);
  }
  // After the dispatcher exists: the session's state changes wake it from its reader thread.
  if (wa_web_ != nullptr) {
    wa_web_->Start();
  }
}

void Messaging::Stop() {
  if (dispatcher_) {
    dispatcher_->Stop();
  }
  if (simulator_ != nullptr) {
    simulator_->Stop();
  }
  if (wa_web_ != nullptr) {
    wa_web_->Stop();
  }
  {
    std::lock_guard lock(progress_mutex_);
    stopping_ = true;
  }
  progress_wake_.notify_all();
  if (progress_thread_.joinable()) {
    progress_thread_.join();
  }
}

void Messaging::Publish(const std::string& event, const json& data) {
  if (event == "broadcast.changed") {
    {
      std::lock_guard lock(progress_mutex_);
      changed_broadcasts_.insert(data["id"].get<long long>());
    }
    progress_wake_.notify_all();
    return;
  }
  events_.Publish(event, data.dump());
}

json Messaging::HeldReason() const {
  channel::SendReadiness readiness = channel_->Readiness();
  return readiness.ready ? json(nullptr) : json(readiness.reason);
}

void Messaging::AnnotateProgress(json& progress) const {
  bool waiting = progress.value("status", "") == "running" && progress.value("queued", 0LL) > 0;
  progress["held_reason"] = waiting ? HeldReason() : json(nullptr);
}

void Messaging::ProgressLoop() {
  std::unique_lock lock(progress_mutex_);
  while (!stopping_) {
    // Asleep until a broadcast changes (an idle slice's thread does not wake twice a second:
    // 2,000 wake-ups a second at 1,000 idle tenants), then one round of progress events for
    // what changed within 500 ms.
    progress_wake_.wait(lock, [this] { return stopping_ || !changed_broadcasts_.empty(); });
    progress_wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; });
    std::set<long long> changed;
    changed.swap(changed_broadcasts_);
    if (changed.empty() || !events_.has_subscribers()) {
      continue;
    }
    lock.unlock();
    try {
      queue_db().Run([&](pqxx::connection& c) {
        pqxx::read_transaction tx(c);
        queue_db().Enter(tx);
        for (long long id : changed) {
          if (auto progress = queue::BroadcastProgress(tx, id)) {
            AnnotateProgress(*progress);
            events_.Publish("broadcast.progress", progress->dump());
          }
        }
      });
    } catch (const std::exception& e) {
      spdlog::warn("broadcast progress for the web app failed: {}", e.what());
    }
    lock.lock();
  }
}

channel::Simulator& Messaging::RequireSimulator() {
  if (simulator_ == nullptr) {
    throw Conflict("this slice's channel is " + channel_->State().kind + ", not the simulator");
  }
  return *simulator_;
}

channel::WaWebChannel& Messaging::RequireWaWeb() {
  if (wa_web_ == nullptr) {
    throw Conflict("this slice's channel is " + channel_->State().kind + ", not wa-web");
  }
  return *wa_web_;
}

json Messaging::QueueInboxMessage(db::Pool& slice_db,
                                  const std::function<json(MessageStore&)>& add) {
  if (queue_db_ == nullptr) {
    return slice_db.Write([&](pqxx::work& tx) {
      MessageStore store(tx);
      return add(store);
    });
  }
  std::string to;
  json message = slice_db.Write([&](pqxx::work& tx) {
    MessageStore store(tx, false);
    json m = add(store);
    to = store.queued_recipient();
    return m;
  });
  if (to.empty()) {
    return message;  // inbound, recorded by hand: nothing to send
  }
  try {
    json task = {{"message_id", message["id"]}, {"recipient", to}, {"body", message["body"]}};
    queue_db_->Write([&](pqxx::work& tx) { queue::EnqueueMessages(tx, json::array({task})); });
  } catch (const std::exception& e) {
    spdlog::warn("slice {}: message {} kept queued, its task not written: {}", slice_id_,
                 message["id"].get<long long>(), e.what());
    if (dispatcher_) {
      dispatcher_->RequeueOrphans();
    }
    throw Unavailable(
        "the queue database is unavailable: the message is saved and will be sent when it is "
        "back",
        std::chrono::seconds(5));
  }
  return message;
}

void Messaging::NameContact(const std::string& phone, const std::string& name) {
  // A contact created by an inbound message is named after its number until it has a name.
  channel_pool_.Execute(
      "UPDATE contacts SET name = left($2, 200), updated_at = now() WHERE phone = $1 AND name = "
      "phone",
      phone, name);
}

void Messaging::Apply(const channel::ChannelEvents& events) {
  if (events.empty()) {
    return;
  }
  std::vector<std::pair<std::string, json>> out;
  auto take_in = [&](pqxx::work& tx) {
    out.clear();  // a retried write starts again
    MessageStore messages(tx);
    for (const auto& m : events.messages) {
      auto taken = messages.TakeIn(m);
      if (!taken) {
        continue;  // a repeated message id: already taken in
      }
      if (taken->new_contact) {
        out.emplace_back("contact.created", std::move(*taken->new_contact));
      }
      out.emplace_back("message.created", std::move(taken->message));
      out.emplace_back("conversation.updated", std::move(taken->conversation));
    }
  };
  // Statuses onto the queue's tasks and the inbox's messages, inbound messages into the inbox:
  // one transaction, or (queue database) the inbox's committed just before the queue's. Inbound
  // messages alone never wait for the queue database.
  queue::Touched touched;
  if (events.statuses.empty()) {
    channel_pool_.Write(take_in);
  } else {
    touched = queue_db().Write([&](pqxx::work& tx) {
      return queue::ApplyStatuses(tx, events.statuses,
                                  queue_db_ != nullptr ? &channel_pool_ : nullptr, take_in);
    });
  }
  for (auto& [event, data] : out) {
    Publish(event, data);
  }
  for (const auto& m : touched.messages) {
    Publish("message.status", m);
  }
  for (long long id : touched.broadcasts) {
    Publish("broadcast.changed", {{"id", id}});
  }
}

}  // namespace crm::slice
