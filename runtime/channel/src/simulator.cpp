#include "crm/channel/simulator.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "crm/error.hpp"
#include "crm/json.hpp"

namespace crm::channel {
namespace {

// The order of delivery statuses, as status_rank() in SQL (runtime/migrations/slice/
// 0002_messaging.sql): only a further status is acknowledged over an earlier one.
int StatusRank(const std::string& status) {
  if (status == "sent") {
    return 2;
  }
  if (status == "delivered") {
    return 3;
  }
  return status == "read" ? 4 : 9;
}

using nlohmann::json;
using std::chrono::milliseconds;

std::string ProviderId(const std::string& key) {
  return "wamid.SIM." + key;  // the same key always maps to the same id, as a retry would
}

const char* kReplies[] = {"Thanks!",
                          "Got it 👍",
                          "Can you call me?",
                          "How much is it?",
                          "Not interested, thanks",
                          "Sounds good, see you then"};

double Rate(const json& value, const char* name) {
  if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 1) {
    throw InputError(std::string(name) + ": expected a number from 0 to 1, got " + value.dump(),
                     name);
  }
  return value.get<double>();
}

milliseconds Millis(const json& value, const char* name) {
  if (!value.is_number_integer() || value.get<long long>() < 0 ||
      value.get<long long>() > 600'000) {
    throw InputError(
        std::string(name) + ": expected whole milliseconds from 0 to 600000, got " + value.dump(),
        name);
  }
  return milliseconds(value.get<long long>());
}

void OnlyKeys(const json& body, std::initializer_list<const char*> keys) {
  if (!body.is_object()) {
    throw InputError("expected a JSON object");
  }
  for (const auto& [k, v] : body.items()) {
    if (std::none_of(keys.begin(), keys.end(), [&](const char* known) { return k == known; })) {
      std::string list;
      for (const char* known : keys) {
        list += (list.empty() ? "" : ", ") + std::string(known);
      }
      throw InputError(k + ": unknown setting (known: " + list + ")", k);
    }
  }
}

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Simulator::Simulator(SimulatorOptions options, db::Pool& pool, Sink sink)
    : options_(options), pool_(pool), sink_(std::move(sink)) {
  // A stable fake number per slice: +1 555 0NN NNNN (555-01xx is fiction's range, close enough).
  std::string digits = std::to_string(options_.slice_id % 10'000'000);
  phone_ = "+1555" + std::string(7 - digits.size(), '0') + digits;
}

Simulator::~Simulator() {
  Stop();
}

std::string Simulator::NewQr(long long slice_id) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    throw std::runtime_error("no randomness for the pairing code");
  }
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    hex += kHex[b >> 4];
    hex += kHex[b & 0xf];
  }
  return "crm-sim://pair?slice=" + std::to_string(slice_id) + "&code=" + hex;
}

void Simulator::Persist(const std::string& state, const std::string& qr) {
  pool_.Execute(
      "INSERT INTO channel_state (kind, state, qr, phone) VALUES ('simulator', $1, $2, $3) "
      "ON CONFLICT (id) DO UPDATE SET kind = 'simulator', state = $1, qr = $2, phone = $3, "
      "updated_at = now()",
      state, qr, phone_);
}

void Simulator::Start() {
  struct Unacked {
    std::string key, provider_id, recipient, final_status, acked;
  };
  // What a fresh slice's empty schema holds: no row, nothing sent.
  std::string stored_state;
  std::string stored_qr;
  std::string stored_settings = "{}";
  std::vector<Unacked> unacked;
  if (!options_.fresh) {
    pool_.Run([&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      pool_.Enter(tx);
      auto row =
          tx.exec("SELECT state, qr, settings::text FROM channel_state WHERE kind = 'simulator'");
      if (!row.empty()) {
        stored_state = row[0][0].c_str();
        stored_qr = row[0][1].c_str();
        stored_settings = row[0][2].c_str();
      }
      for (const auto& r :
           tx.exec("SELECT idempotency_key, provider_id, recipient, final_status, acked_status "
                   "FROM simulator_deliveries WHERE acked_status <> final_status")) {
        unacked.push_back({r[0].c_str(), r[1].c_str(), r[2].c_str(), r[3].c_str(), r[4].c_str()});
      }
    });
  }
  ApplySettings(ParseJson(stored_settings, "simulator settings"));
  std::string state = stored_state == "connected" ? "connected" : "unpaired";
  std::string qr = stored_qr;
  if (options_.autopair) {
    state = "connected";
  }
  if (state != "connected" && qr.empty()) {
    qr = NewQr(options_.slice_id);
  }
  // A fresh slice writes no row (its start opens no database connection): what its start
  // computed, unpaired with a new code or connected by autopair, is what the next start computes
  // from no row. Until something writes the row (pairing, logout, settings), a restart shows a
  // new code, as WhatsApp's own codes rotate.
  if (!options_.fresh && (state != stored_state || qr != stored_qr)) {
    Persist(state, qr);
  }
  {
    std::lock_guard lock(mutex_);
    state_ = state;
    qr_ = qr;
  }
  // What a crash kept from the slice is sent again, as WhatsApp retries a webhook.
  auto due = Clock::now() + options_.latency;
  for (const auto& u : unacked) {
    StatusUpdate st{u.provider_id, "delivered", u.recipient, UnixNow(), ""};
    if (u.acked != "delivered") {
      Schedule({due, u.key, st, std::nullopt});
    }
    if (u.final_status == "read") {
      st.status = "read";
      Schedule({due + options_.latency, u.key, st, std::nullopt});
    }
  }
  if (!unacked.empty()) {
    spdlog::info("simulator: re-sending the statuses of {} delivery(ies)", unacked.size());
  }
  running_ = true;
  thread_ = std::thread([this] { EmitLoop(); });
}

void Simulator::Stop() {
  if (!running_.exchange(false)) {
    return;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

ChannelState Simulator::State() const {
  std::lock_guard lock(mutex_);
  if (state_ == "connected" && Clock::now() < disconnected_until_) {
    return {"simulator", "disconnected", phone_, "fault injected: reconnecting", std::nullopt};
  }
  return {"simulator", state_, state_ == "connected" ? phone_ : "",
          state_ == "connected" ? "" : "scan the QR code to connect", std::nullopt};
}

json Simulator::Describe() const {
  ChannelState s = State();
  std::lock_guard lock(mutex_);
  auto remaining = std::chrono::duration_cast<milliseconds>(disconnected_until_ - Clock::now());
  return {{"kind", s.kind},
          {"state", s.state},
          {"phone", s.phone.empty() ? json(nullptr) : json(s.phone)},
          {"qr", state_ == "connected" ? json(nullptr) : json(qr_)},
          {"detail", s.detail},
          {"settings",
           {{"latency_ms", options_.latency.count()},
            {"read_rate", options_.read_rate},
            {"reply_rate", options_.reply_rate}}},
          {"faults",
           {{"throttle_rate", throttle_rate_},
            {"pair_rate", pair_rate_},
            {"fail_rate", fail_rate_},
            {"slow_ms", slow_.count()},
            {"disconnect_ms", std::max<long long>(0, remaining.count())}}}};
}

void Simulator::Pair(const std::string& qr) {
  {
    std::lock_guard lock(mutex_);
    if (state_ == "connected") {
      return;
    }
    if (qr != qr_) {
      throw InputError("qr: not the code on show for this slice (GET /api/channel shows it)", "qr");
    }
  }
  Persist("connected", "");
  std::lock_guard lock(mutex_);
  state_ = "connected";
  qr_.clear();
  spdlog::info("simulator: paired as {}", phone_);
}

void Simulator::Logout() {
  std::string qr = NewQr(options_.slice_id);
  Persist("unpaired", qr);
  std::lock_guard lock(mutex_);
  state_ = "unpaired";
  qr_ = qr;
}

void Simulator::Configure(const json& settings) {
  ApplySettings(settings);
  json all = Describe()["settings"];
  std::string state;
  std::string qr;
  {
    std::lock_guard lock(mutex_);
    state = state_;
    qr = qr_;
  }
  // Written with the state on show when there is no row yet (a fresh slice's).
  pool_.Execute(
      "INSERT INTO channel_state (kind, state, qr, phone, settings) "
      "VALUES ('simulator', $1, $2, $3, $4::jsonb) "
      "ON CONFLICT (id) DO UPDATE SET settings = $4::jsonb, updated_at = now()",
      state, qr, phone_, all.dump());
}

void Simulator::ApplySettings(const json& settings) {
  OnlyKeys(settings, {"latency_ms", "read_rate", "reply_rate"});
  std::lock_guard lock(mutex_);
  if (settings.contains("latency_ms")) {
    options_.latency = Millis(settings["latency_ms"], "latency_ms");
  }
  if (settings.contains("read_rate")) {
    options_.read_rate = Rate(settings["read_rate"], "read_rate");
  }
  if (settings.contains("reply_rate")) {
    options_.reply_rate = Rate(settings["reply_rate"], "reply_rate");
  }
}

void Simulator::InjectFaults(const json& faults) {
  OnlyKeys(faults, {"throttle_rate", "pair_rate", "fail_rate", "slow_ms", "disconnect_ms"});
  std::lock_guard lock(mutex_);
  if (faults.contains("throttle_rate")) {
    throttle_rate_ = Rate(faults["throttle_rate"], "throttle_rate");
  }
  if (faults.contains("pair_rate")) {
    pair_rate_ = Rate(faults["pair_rate"], "pair_rate");
  }
  if (faults.contains("fail_rate")) {
    fail_rate_ = Rate(faults["fail_rate"], "fail_rate");
  }
  if (faults.contains("slow_ms")) {
    slow_ = Millis(faults["slow_ms"], "slow_ms");
  }
  if (faults.contains("disconnect_ms")) {
    disconnected_until_ = Clock::now() + Millis(faults["disconnect_ms"], "disconnect_ms");
  }
}

std::vector<SendResult> Simulator::Send(const std::vector<OutboundMessage>& batch) {
  std::vector<SendResult> results(batch.size());
  ChannelState state = State();
  milliseconds slow{0};
  json accepted = json::array();
  std::vector<std::size_t> accepted_index;
  {
    std::lock_guard lock(mutex_);
    slow = slow_;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      SendResult& r = results[i];
      if (state.state != "connected") {
        r = {Outcome::kRetry,     "", Throttle::kPhone,
             milliseconds(1'000), 0,  "WhatsApp is not connected (" + state.state + ")"};
      } else if (throttle_rate_ > 0 && u(random_) < throttle_rate_) {
        r = {Outcome::kRetry,     "",     Throttle::kPhone,
             milliseconds(1'000), 130429, "130429: Rate limit hit (simulated)"};
      } else if (pair_rate_ > 0 && u(random_) < pair_rate_) {
        r = {Outcome::kRetry,
             "",
             Throttle::kPair,
             std::nullopt,
             131056,
             "131056: (Business Account, Consumer Account) pair rate limit hit (simulated)"};
      } else if (fail_rate_ > 0 && u(random_) < fail_rate_) {
        r = {Outcome::kFailed, "",     Throttle::kNone,
             std::nullopt,     131026, "131026: Message undeliverable (simulated)"};
      } else {
        bool read = u(random_) < options_.read_rate;
        accepted.push_back({{"key", batch[i].idempotency_key},
                            {"provider_id", ProviderId(batch[i].idempotency_key)},
                            {"recipient", batch[i].to},
                            {"final", read ? "read" : "delivered"}});
        accepted_index.push_back(i);
      }
    }
  }
  if (slow.count() > 0) {
    std::this_thread::sleep_for(slow);
  }
  if (accepted.empty()) {
    return results;
  }
  // WhatsApp has it once this commits; only then is the send answered.
  try {
    pool_.ExecuteBatch(
        "INSERT INTO simulator_deliveries (idempotency_key, provider_id, recipient, "
        "  final_status) "
        "SELECT key, provider_id, recipient, final FROM jsonb_to_recordset($1::jsonb) "
        "  AS r(key text, provider_id text, recipient text, final text) "
        "ON CONFLICT (idempotency_key) DO UPDATE SET deliveries = "
        "  simulator_deliveries.deliveries + 1",
        accepted.dump());
  } catch (const std::exception& e) {
    for (std::size_t i : accepted_index) {
      results[i] = {Outcome::kRetry, "", Throttle::kNone,
                    std::nullopt,    0,  std::string("simulator unavailable: ") + e.what()};
    }
    return results;
  }
  auto now = Clock::now();
  std::lock_guard lock(mutex_);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (std::size_t n = 0; n < accepted_index.size(); ++n) {
    const json& a = accepted[n];
    const OutboundMessage& m = batch[accepted_index[n]];
    SendResult& r = results[accepted_index[n]];
    r.outcome = Outcome::kSent;
    r.provider_id = a["provider_id"].get<std::string>();
    StatusUpdate st{r.provider_id, "delivered", m.to, UnixNow(), ""};
    events_.push({now + options_.latency, m.idempotency_key, st, std::nullopt});
    if (a["final"] == "read") {
      st.status = "read";
      events_.push({now + 2 * options_.latency, m.idempotency_key, st, std::nullopt});
      if (u(random_) < options_.reply_rate) {
        InboundMessage reply{
            "wamid.SIM.reply." + std::to_string(++replies_) + "." + std::to_string(UnixNow()), m.to,
            "", kReplies[replies_ % std::size(kReplies)], UnixNow()};
        events_.push({now + 3 * options_.latency, "", {}, reply});
      }
    }
  }
  wake_.notify_all();
  return results;
}

std::optional<std::string> Simulator::Lookup(const std::string& idempotency_key) {
  return pool_.Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    pool_.Enter(tx);
    auto rows = tx.exec_params(
        "SELECT provider_id FROM simulator_deliveries WHERE idempotency_key = $1", idempotency_key);
    return rows.empty() ? std::string() : std::string(rows[0][0].c_str());
  });
}

void Simulator::Receive(const std::string& from, const std::string& name, const std::string& text) {
  std::lock_guard lock(mutex_);
  InboundMessage m{"wamid.SIM.in." + std::to_string(++replies_) + "." + std::to_string(UnixNow()),
                   from, name, text, UnixNow()};
  events_.push({Clock::now() + options_.latency, "", {}, m});
  wake_.notify_all();
}

void Simulator::Schedule(Event event) {
  std::lock_guard lock(mutex_);
  events_.push(std::move(event));
  wake_.notify_all();
}

Simulator::Counts Simulator::Stats() {
  return pool_.Run([this](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    pool_.Enter(tx);
    auto r =
        tx.exec1("SELECT count(*), coalesce(sum(deliveries - 1), 0) FROM simulator_deliveries");
    return Counts{r[0].as<long long>(), r[1].as<long long>()};
  });
}

// Hands due events to the slice in batches; acknowledges what it took, so a crash re-sends the
// rest at the next start.
void Simulator::EmitLoop() {
  while (running_) {
    std::vector<Event> due;
    {
      std::unique_lock lock(mutex_);
      // Nothing pending: asleep until something is (every push notifies), not awake every
      // `flush` (20 times a second per slice, ~0.9 of a core at 1,000 idle tenants). Something
      // pending: handed over every `flush`, as it falls due.
      wake_.wait(lock, [this] { return !running_.load() || !events_.empty(); });
      wake_.wait_for(lock, options_.flush, [this] { return !running_.load(); });
      auto now = Clock::now();
      while (!events_.empty() && events_.top().due <= now && due.size() < 5'000) {
        due.push_back(events_.top());
        events_.pop();
      }
    }
    if (due.empty()) {
      continue;
    }
    ChannelEvents batch;
    json acks = json::object();  // idempotency key → its furthest status in this batch
    std::string keys = "{";
    for (const auto& e : due) {
      if (e.message) {
        batch.messages.push_back(*e.message);
        continue;
      }
      batch.statuses.push_back(e.status);
      auto known = acks.find(e.key);
      if (known == acks.end()) {
        acks[e.key] = e.status.status;
        keys += (keys.size() > 1 ? ",\"" : "\"") + e.key + "\"";  // keys are "<slice>-<task>"
      } else if (StatusRank(e.status.status) > StatusRank(known->get<std::string>())) {
        *known = e.status.status;
      }
    }
    keys += "}";
    try {
      sink_(batch);
      if (!acks.empty()) {
        // By key through the primary key, each status looked up in the object: no join for the
        // planner to misjudge (a hash join read the whole table for every batch).
        pool_.ExecuteBatch(
            "UPDATE simulator_deliveries d SET acked_status = $1::jsonb ->> d.idempotency_key "
            "WHERE d.idempotency_key = ANY($2::text[]) "
            "  AND status_rank($1::jsonb ->> d.idempotency_key) > status_rank(d.acked_status)",
            acks.dump(), keys);
      }
    } catch (const std::exception& e) {
      spdlog::warn("simulator: handing {} event(s) to the slice failed: {}; retrying in 1 s",
                   due.size(), e.what());
      std::lock_guard lock(mutex_);
      for (auto& ev : due) {
        ev.due = Clock::now() + std::chrono::seconds(1);
        events_.push(std::move(ev));
      }
    }
  }
}

}  // namespace crm::channel
