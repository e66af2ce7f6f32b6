#include "crm/slice/messaging.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "crm/channel/webhook.hpp"
#include "crm/error.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/queue/rate.hpp"
#include "crm/queue/store.hpp"
#include "crm/slice/validation.hpp"

namespace crm::slice {
namespace {

namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Reply;
using http::Response;
using http::Status;
using nlohmann::json;

json Parse(const pqxx::field& f) {
  return json::parse(f.c_str());
}

db::PoolOptions ChannelPoolOptions(const config::RuntimeConfig& config, long long slice_id) {
  db::PoolOptions options;
  options.url = config.database_url;
  options.password = config.database_password;
  options.max_size = 2;
  options.statement_timeout = config.statement_timeout;
  options.application_name = "crmd-slice_" + std::to_string(slice_id) + "-channel";
  options.search_path = "slice_" + std::to_string(slice_id);
  return options;
}

std::string Holder() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1'000'000);
}

bool IsCsv(const http::Request& req) {
  std::string type(req[bhttp::field::content_type]);
  return type.rfind("text/csv", 0) == 0;
}

// A broadcast from a JSON body or a CSV upload (name and text in the query string).
queue::NewBroadcast ParseBroadcast(const http::Request& req) {
  queue::NewBroadcast broadcast;
  if (IsCsv(req)) {
    auto target = req.target();
    auto name = http::QueryParam(target, "name");
    auto text = http::QueryParam(target, "text");
    json fields = json::object();
    if (name) {
      fields["name"] = *name;
    }
    if (text) {
      fields["text"] = *text;
    }
    broadcast.name = http::RequireString(fields, "name", 1, 200);
    broadcast.text = http::RequireString(fields, "text", 1, 4096);
    broadcast.recipients = ParseRecipientsCsv(req.body());
  } else {
    json body = http::ParseJsonBody(req);
    http::RefuseUnknownFields(body, {"name", "text", "recipients", "template"},
                              "name, text, recipients, template");
    broadcast.name = http::RequireString(body, "name", 1, 200);
    broadcast.text = http::RequireString(body, "text", 1, 4096);
    auto it = body.find("recipients");
    if (it == body.end()) {
      throw InputError("recipients: required", "recipients");
    }
    broadcast.recipients = ParseRecipients(*it);
    if (auto t = body.find("template"); t != body.end() && !t->is_null()) {
      broadcast.tmpl = ParseTemplate(*t);
    }
  }
  if (broadcast.recipients.empty()) {
    throw InputError("recipients: the list is empty", "recipients");
  }
  return broadcast;
}

const char* kMessageColumns = "id, conversation_id, direction, body, status, error, created_at";

}  // namespace

Messaging::Messaging(const config::RuntimeConfig& config, long long slice_id, db::Pool& pool,
                     http::BlockingPool& blocking, EventHub& events)
    : config_(config),
      slice_id_(slice_id),
      pool_(pool),
      blocking_(blocking),
      db_(blocking, pool),
      events_(events),
      channel_pool_(ChannelPoolOptions(config, slice_id)) {
  if (config.channel == "cloud-api") {
    channel_ = MakeCloudApiChannel(config);
  } else {
    channel::SimulatorOptions options;
    options.slice_id = slice_id;
    options.autopair = config.simulator_autopair;
    auto simulator = std::make_unique<channel::Simulator>(
        options, channel_pool_, [this](const channel::ChannelEvents& e) { Apply(e); });
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
  queue::ShardRange shard = queue::ParseShardRange(config_.worker_shard_range);
  if (!shard.Owns(slice_id_)) {
    spdlog::info(
        "slice {}: its queue is dispatched by another host (tenant bucket {} is outside "
        "WORKER_SHARD_RANGE {})",
        slice_id_, queue::TenantBucket(slice_id_), config_.worker_shard_range);
    return;
  }
  queue::DispatcherOptions options;
  options.slice_id = slice_id_;
  options.holder = Holder();
  options.phone_rps = config_.phone_rps;
  options.pair_interval = config_.pair_interval;
  options.max_attempts = config_.queue_max_attempts;
  options.lease_ttl = config_.queue_lease_ttl;
  std::string conninfo = channel_pool_.conninfo();
  dispatcher_ = std::make_unique<queue::Dispatcher>(
      options, [conninfo] { return std::make_unique<pqxx::connection>(conninfo); }, *channel_,
      [this](const std::string& event, const json& data) { Publish(event, data); });
  dispatcher_->Start();
}

void Messaging::Stop() {
  if (dispatcher_) {
    dispatcher_->Stop();
  }
  if (simulator_ != nullptr) {
    simulator_->Stop();
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
    std::lock_guard lock(progress_mutex_);
    changed_broadcasts_.insert(data["id"].get<long long>());
    return;
  }
  events_.Publish(event, data.dump());
}

void Messaging::ProgressLoop() {
  std::unique_lock lock(progress_mutex_);
  while (!stopping_) {
    progress_wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; });
    std::set<long long> changed;
    changed.swap(changed_broadcasts_);
    if (changed.empty() || !events_.has_subscribers()) {
      continue;
    }
    lock.unlock();
    try {
      channel_pool_.Run([&](pqxx::connection& c) {
        pqxx::read_transaction tx(c);
        for (long long id : changed) {
          if (auto progress = queue::BroadcastProgress(tx, id)) {
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

void Messaging::Apply(const channel::ChannelEvents& events) {
  if (events.empty()) {
    return;
  }
  std::vector<std::pair<std::string, json>> out;
  queue::Touched touched = channel_pool_.Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::work tx(c);
    queue::Touched t = queue::ApplyStatuses(tx, events.statuses);
    for (const auto& m : events.messages) {
      auto row = tx.exec_params(
          "WITH c AS ("
          "  INSERT INTO contacts (name, phone) VALUES (left(coalesce(nullif($1, ''), $2), 200), "
          "$2) "
          "  ON CONFLICT (phone) DO UPDATE SET phone = EXCLUDED.phone "
          "  RETURNING id, (xmax = 0) AS created, row_to_json(contacts)::text AS contact), "
          "v AS ("
          "  INSERT INTO conversations (contact_id) SELECT id FROM c "
          "  ON CONFLICT (contact_id) DO UPDATE SET contact_id = EXCLUDED.contact_id RETURNING "
          "id), "
          "m AS ("
          "  INSERT INTO messages (conversation_id, direction, body, status, provider_id) "
          "  SELECT v.id, 'inbound', left($3, 4096), 'received', $4 FROM v "
          "  ON CONFLICT (provider_id) WHERE provider_id IS NOT NULL DO NOTHING "
          "  RETURNING id, conversation_id, direction, body, status, error, created_at) "
          "SELECT (SELECT row_to_json(m)::text FROM m), (SELECT created FROM c), "
          "  (SELECT contact FROM c)",
          m.profile_name, m.from, m.text, m.provider_id);
      if (row[0][0].is_null()) {
        continue;  // a repeated message id: already taken in
      }
      json message = Parse(row[0][0]);
      if (row[0][1].as<bool>()) {
        out.emplace_back("contact.created", Parse(row[0][2]));
      }
      auto conversation = tx.exec_params1(
          "UPDATE conversations SET unread = unread + 1, last_message_at = now() WHERE id = $1 "
          "RETURNING json_build_object('id', id, 'unread', unread, 'last_message_at', "
          "last_message_at)::text",
          message["conversation_id"].get<long long>());
      out.emplace_back("message.created", std::move(message));
      out.emplace_back("conversation.updated", Parse(conversation[0]));
    }
    tx.commit();
    return t;
  });
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

void Messaging::Register(http::Router& router) {
  using bhttp::verb;

  // --- the channel -----------------------------------------------------------------------------
  router.Add(verb::get, "/api/channel", [this](Exchange&) -> Reply {
    if (simulator_ != nullptr) {
      co_return http::JsonResponse(Status::ok, simulator_->Describe());
    }
    channel::ChannelState s = channel_->State();
    co_return http::JsonResponse(Status::ok,
                                 {{"kind", s.kind},
                                  {"state", s.state},
                                  {"phone", s.phone.empty() ? json(nullptr) : json(s.phone)},
                                  {"detail", s.detail}});
  });
  router.Add(verb::get, "/api/channel/stats", [this](Exchange&) -> Reply {
    channel::Simulator& sim = RequireSimulator();
    auto counts = co_await blocking_.Run([&sim] { return sim.Stats(); });
    co_return http::JsonResponse(
        Status::ok, {{"sent_unique", counts.sent_unique}, {"duplicates", counts.duplicates}});
  });
  router.Add(verb::post, "/api/channel/simulator/pair", [this](Exchange& ex) -> Reply {
    channel::Simulator& sim = RequireSimulator();
    json body = http::ParseJsonBody(ex.request());
    std::string qr = http::RequireString(body, "qr", 1, 500);
    co_await blocking_.Run([&sim, &qr] { sim.Pair(qr); });
    Wake();  // what waited for the connection goes now
    Publish("channel.state", sim.Describe());
    co_return http::JsonResponse(Status::ok, sim.Describe());
  });
  router.Add(verb::post, "/api/channel/simulator/logout", [this](Exchange&) -> Reply {
    channel::Simulator& sim = RequireSimulator();
    co_await blocking_.Run([&sim] { sim.Logout(); });
    Publish("channel.state", sim.Describe());
    co_return http::JsonResponse(Status::ok, sim.Describe());
  });
  router.Add(verb::patch, "/api/channel/simulator/settings", [this](Exchange& ex) -> Reply {
    channel::Simulator& sim = RequireSimulator();
    json settings = http::ParseJsonBody(ex.request());
    co_await blocking_.Run([&sim, &settings] { sim.Configure(settings); });
    co_return http::JsonResponse(Status::ok, sim.Describe());
  });
  router.Add(verb::post, "/api/channel/simulator/faults", [this](Exchange& ex) -> Reply {
    channel::Simulator& sim = RequireSimulator();
    sim.InjectFaults(http::ParseJsonBody(ex.request()));
    co_return http::JsonResponse(Status::ok, sim.Describe());
  });
  router.Add(verb::post, "/api/channel/simulator/inbound", [this](Exchange& ex) -> Reply {
    channel::Simulator& sim = RequireSimulator();
    json body = http::ParseJsonBody(ex.request());
    std::string from = NormalizePhone(http::RequireString(body, "from", 1, 40), "from");
    std::string name = http::OptionalString(body, "name", 1, 200).value_or("");
    std::string text = http::RequireString(body, "text", 1, 4096);
    sim.Receive(from, name, text);
    co_return http::JsonResponse(Status::accepted, {{"from", from}, {"text", text}});
  });

  // Meta's webhook, relayed by the gateway (signature checked there): one change's `value`.
  router.Add(verb::post, "/internal/channel/events", [this](Exchange& ex) -> Reply {
    json value = http::ParseJsonBody(ex.request());
    channel::ChannelEvents events = channel::ParseWebhookValue(value);
    co_await blocking_.Run([this, &events] { Apply(events); });
    co_return http::JsonResponse(
        Status::ok, {{"statuses", events.statuses.size()}, {"messages", events.messages.size()}});
  });

  // --- messages typed in the inbox ---------------------------------------------------------------
  router.Add(verb::post, "/api/messages", [this](Exchange& ex) -> Reply {
    json body = http::ParseJsonBody(ex.request());
    http::RefuseUnknownFields(body, {"contact_id", "phone", "text"},
                              "contact_id or phone, and text");
    std::string text = http::RequireString(body, "text", 1, 4096);
    long long contact_id = 0;
    std::string phone;
    if (auto it = body.find("contact_id"); it != body.end()) {
      if (!it->is_number_integer() || it->get<long long>() <= 0) {
        throw InputError("contact_id: expected the id of a contact (a positive whole number)",
                         "contact_id");
      }
      contact_id = it->get<long long>();
    } else if (auto p = http::OptionalString(body, "phone", 1, 40)) {
      phone = NormalizePhone(*p);
    } else {
      throw InputError("contact_id or phone: say whom to send to", "contact_id");
    }
    json message = co_await db_([&](pqxx::connection& c) {
      pqxx::work tx(c);
      if (contact_id == 0) {
        contact_id = tx.exec_params1(
                           "INSERT INTO contacts (name, phone) VALUES ($1, $1) "
                           "ON CONFLICT (phone) DO UPDATE SET phone = EXCLUDED.phone RETURNING id",
                           phone)[0]
                         .as<long long>();
      }
      auto contact = tx.exec_params("SELECT phone FROM contacts WHERE id = $1", contact_id);
      if (contact.empty()) {
        throw NotFound("no contact with id " + std::to_string(contact_id), "contact_id");
      }
      std::string to = contact[0][0].c_str();
      auto row = tx.exec_params1(
          std::string("WITH v AS (INSERT INTO conversations (contact_id) VALUES ($1) "
                      "  ON CONFLICT (contact_id) DO UPDATE SET last_message_at = now() "
                      "  RETURNING id), "
                      "m AS (INSERT INTO messages (conversation_id, direction, body) "
                      "  SELECT id, 'outbound', $2 FROM v RETURNING *) "
                      "SELECT row_to_json(x)::text FROM (SELECT ") +
              kMessageColumns + " FROM m) x",
          contact_id, text);
      json m = Parse(row[0]);
      tx.exec_params("UPDATE conversations SET last_message_at = now() WHERE id = $1",
                     m["conversation_id"].get<long long>());
      queue::EnqueueMessage(tx, m["id"].get<long long>(), to);
      tx.commit();
      return m;
    });
    if (dispatcher_) {
      dispatcher_->Wake();
    }
    Publish("message.created", message);
    co_return http::JsonResponse(Status::accepted, message);
  });

  // --- broadcasts ------------------------------------------------------------------------------
  router.Add(verb::post, "/api/broadcasts", [this](Exchange& ex) -> Reply {
    queue::NewBroadcast broadcast = ParseBroadcast(ex.request());
    long long max_depth = config_.queue_max_depth;
    json progress = co_await db_(
        [&](pqxx::connection& c) { return queue::EnqueueBroadcast(c, broadcast, max_depth); });
    long long id = progress["id"].get<long long>();
    if (dispatcher_) {
      dispatcher_->Wake();
    }
    Publish("broadcast.created", progress);
    Response res = http::JsonResponse(Status::accepted, progress);
    res.set(bhttp::field::location, "/api/broadcasts/" + std::to_string(id));
    co_return res;
  });
  router.Add(verb::get, "/api/broadcasts", [this](Exchange& ex) -> Reply {
    PageRequest page = ParsePage(ex.request().target());
    json items = co_await db_([&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      return queue::ListBroadcasts(tx, page.cursor, page.limit);
    });
    json next = nullptr;
    if (static_cast<int>(items.size()) == page.limit) {
      next = std::to_string(items.back()["id"].get<long long>());
    }
    co_return http::JsonResponse(Status::ok, {{"items", std::move(items)}, {"next_cursor", next}});
  });
  router.Add(verb::get, "/api/broadcasts/{id}", [this](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    json progress = co_await db_([id](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto p = queue::BroadcastProgress(tx, id);
      if (!p) {
        throw NotFound("no broadcast with id " + std::to_string(id));
      }
      return *p;
    });
    co_return http::JsonResponse(Status::ok, progress);
  });
  router.Add(verb::post, "/api/broadcasts/{id}/{action}", [this](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    std::string action = ex.params()["action"];
    if (action != "pause" && action != "resume" && action != "cancel") {
      throw NotFound("no such action '" + action + "' (pause, resume or cancel)");
    }
    json progress = co_await db_(
        [id, &action](pqxx::connection& c) { return queue::ControlBroadcast(c, id, action); });
    if (dispatcher_ && action == "resume") {
      dispatcher_->Wake();
    }
    Publish("broadcast.progress", progress);
    co_return http::JsonResponse(Status::ok, progress);
  });
}

}  // namespace crm::slice
