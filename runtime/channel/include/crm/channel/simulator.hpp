// The simulator channel, the embedded default (docs/api.md, "Messaging"): a fake WhatsApp for
// demos, tests and benchmarks. It pairs by QR (or at once with CRM_SIMULATOR_AUTOPAIR=1), accepts
// sends, and answers with delivered → read statuses and inbound replies after a configurable
// latency; on request it injects faults (throttling errors, disconnects, slow sends).
//
// Its side of the wire is a table, simulator_deliveries, written in its own transaction before
// a send is answered: every delivery is recorded with the task's idempotency key, so a message
// that reaches "WhatsApp" twice is counted (deliveries > 1) even across a crash of the slice,
// and Lookup() can say whether an interrupted send arrived.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <random>
#include <thread>

#include "crm/channel/channel.hpp"
#include "crm/db/pool.hpp"

namespace crm::channel {

struct SimulatorOptions {
  long long slice_id = 0;
  bool autopair = false;                   ///< CRM_SIMULATOR_AUTOPAIR=1
  /// The slice's schema was just created (CRM_SLICE_FRESH): no stored state to read, and the
  /// state the start computes is not written (no row means the same to the next start).
  bool fresh = false;
  std::chrono::milliseconds latency{300};  ///< send → delivered, delivered → read, read → reply
  double read_rate = 0.8;                  ///< share of delivered messages that get read
  double reply_rate = 0.05;                ///< share of read messages answered
  /// How often due events are handed over, while any are pending.
  std::chrono::milliseconds flush{50};
};

class Simulator final : public Channel {
 public:
  /// Receives statuses and replies (as the webhook would); throwing means "try again later".
  using Sink = std::function<void(const ChannelEvents&)>;

  Simulator(SimulatorOptions options, db::Pool& pool, Sink sink);
  ~Simulator() override;
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  /// Loads (or creates) the pairing, re-emits statuses a crash kept from the slice, starts the
  /// event thread.
  void Start();
  void Stop();

  std::vector<SendResult> Send(const std::vector<OutboundMessage>& batch) override;
  std::optional<std::string> Lookup(const std::string& idempotency_key) override;
  ChannelState State() const override;

  /// {kind, state, phone, qr, settings, faults}: what the connect page shows.
  nlohmann::json Describe() const;
  /// The phone scanning the QR code: connects when `qr` is the payload on show.
  void Pair(const std::string& qr);
  /// Disconnects and forgets the pairing (a new QR is shown).
  void Logout();
  /// {latency_ms, read_rate, reply_rate}; any subset. Kept across restarts.
  void Configure(const nlohmann::json& settings);
  /// {throttle_rate, pair_rate, fail_rate, slow_ms, disconnect_ms}; any subset; zeros clear.
  void InjectFaults(const nlohmann::json& faults);
  /// A contact writes first: an inbound message from `from` after the latency.
  void Receive(const std::string& from, const std::string& name, const std::string& text);

  struct Counts {
    long long sent_unique = 0;  ///< distinct idempotency keys delivered
    long long duplicates = 0;   ///< deliveries beyond the first of a key
  };
  Counts Stats();

 private:
  using Clock = std::chrono::steady_clock;
  struct Event {
    Clock::time_point due;
    std::string key;  ///< the delivery's idempotency key (empty for replies)
    StatusUpdate status;
    std::optional<InboundMessage> message;
    bool operator>(const Event& other) const { return due > other.due; }
  };
  void Schedule(Event event);
  void ApplySettings(const nlohmann::json& settings);
  void EmitLoop();
  void Persist(const std::string& state, const std::string& qr);
  static std::string NewQr(long long slice_id);

  SimulatorOptions options_;
  db::Pool& pool_;
  Sink sink_;
  std::string phone_;

  mutable std::mutex mutex_;
  std::string state_ = "unpaired";
  std::string qr_;
  double throttle_rate_ = 0;
  double pair_rate_ = 0;
  double fail_rate_ = 0;
  std::chrono::milliseconds slow_{0};
  Clock::time_point disconnected_until_{};
  std::mt19937_64 random_{std::random_device{}()};
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::condition_variable wake_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  long long replies_ = 0;
};

}  // namespace crm::channel
