// The `wa-web` channel (docs/wa-web.md): a tenant's own WhatsApp number paired by QR through a
// WhatsApp Web client that runs in a sidecar process (Node). The slice starts the sidecar as its
// child, talks to it over a Unix socket (NDJSON), turns its events into ChannelEvents, and
// restarts it with backoff when it exits (never while it reports `failed` or `banned`).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crm/channel/channel.hpp"
#include "crm/channel/wa_web_protocol.hpp"

namespace crm::channel {

struct WaWebOptions {
  /// The slice's data directory: the socket is <dir>/wa-web.sock, the auth state <dir>/wa-web-auth
  /// (created 0700), the sidecar's pid <dir>/wa-web.pid.
  std::filesystem::path data_dir;
  std::string engine = "noweb";   ///< noweb or webjs (CRM_WA_WEB_ENGINE)
  std::string node = "node";      ///< the Node binary, looked up in PATH unless a path (CRM_NODE)
  std::filesystem::path sidecar;  ///< the sidecar's main file (CRM_WA_WEB_SIDECAR)
  /// False: the channel only connects to a sidecar someone else runs on the socket.
  bool spawn = true;
  /// True: a slice with no saved session (a warm slice, a tenant who has not paired yet) starts
  /// its sidecar only once asked (Activate(), a send, a pairing call): each costs 100-500 MB.
  bool on_demand = false;
  std::chrono::milliseconds backoff_min{1'000};       ///< first wait before reconnecting/restarting
  std::chrono::milliseconds backoff_max{30'000};      ///< the wait doubles up to this
  std::chrono::milliseconds request_timeout{30'000};  ///< a send or lookup without an answer
  std::chrono::milliseconds status_interval{15'000};  ///< how often rss_bytes is asked
};

/// The channel over the sidecar's socket. Send(), Lookup() and the pairing calls may come from
/// any thread; one reader thread owns the connection and the child.
class WaWebChannel final : public Channel {
 public:
  /// Receives statuses and inbound messages; throwing means "try again" (kept and handed over
  /// again with the next event).
  using Sink = std::function<void(const ChannelEvents&)>;
  /// A contact's push name (phone, name), for contacts that have no name of their own.
  using ContactSink = std::function<void(const std::string&, const std::string&)>;
  /// The connect page's view changed (state, QR): Describe() tells the new one.
  using StateSink = std::function<void()>;

  /// Throws InputError naming the option for an unknown engine or an empty sidecar path (when
  /// spawning).
  WaWebChannel(WaWebOptions options, Sink sink, ContactSink contacts = {}, StateSink state = {});
  ~WaWebChannel() override;
  WaWebChannel(const WaWebChannel&) = delete;
  WaWebChannel& operator=(const WaWebChannel&) = delete;

  /// The session is wanted now (the connect page was opened): starts the sidecar of an
  /// on-demand channel. Any thread; cheap once started.
  void Activate();
  /// Starts the reader thread (which starts the sidecar). Kills a sidecar a previous slice
  /// process left behind first.
  void Start();
  /// Closes the connection and stops the sidecar (SIGTERM to its process group, SIGKILL after
  /// 5 s).
  void Stop();

  /// One `send` per message, pipelined; waits for all answers (at most request_timeout). A
  /// message whose answer never came (the sidecar died, the connection broke) is kRetry, and its
  /// key is looked up before it is sent again, so it is sent at most once.
  std::vector<SendResult> Send(const std::vector<OutboundMessage>& batch) override;
  /// The sidecar's journal: the id, "" (never sent), nullopt (cannot tell). Waits up to
  /// request_timeout for a connection (a slice that just started, a sidecar restarting); calls
  /// while the sidecar stays away share that one wait.
  std::optional<std::string> Lookup(const std::string& idempotency_key) override;
  ChannelState State() const override;
  /// Ready while connected; otherwise why sends wait, in the tenant's terms (pair, reconnecting,
  /// failed or banned: log out and pair again).
  SendReadiness Readiness() const override;

  /// {kind, state, sidecar_state, phone, qr, qr_expires_at_ms, detail, engine, rss_bytes,
  /// held_reason}: the connect page's view. No pid: that is the operator's (SidecarPid()).
  nlohmann::json Describe() const;
  /// Asks for an 8-character pairing code for `phone` (E.164). Throws Unavailable when the
  /// sidecar is not connected, InputError with the sidecar's message when it refuses.
  std::string PairCode(const std::string& phone);
  /// Logs the device out (a new QR follows) and resets the failed count; a sidecar left stopped
  /// because it had failed is started again.
  void Logout();

  /// The sidecar's pid, 0 when none runs (for tests and the slice's log; never shown to the
  /// tenant).
  pid_t SidecarPid() const;

 private:
  struct Pending {
    bool done = false;
    nlohmann::json response;
  };

  void Run();
  bool ConnectOnce();
  void ReadLoop();
  void Handle(const wa_web::Incoming& in);
  void Disconnect(const std::string& why);
  void SpawnSidecar();
  bool ReapSidecar();
  void KillSidecar(std::chrono::milliseconds grace);
  void KillLeftover();
  void SetSidecarState(const std::string& state, const std::string& phone,
                       const std::string& detail);
  /// Writes a request; its id, or nullopt when there is no connection. `awaited`: a caller will
  /// Await() the response (the reader's own requests are answered in Handle()).
  std::optional<std::int64_t> Submit(const std::string& op, const nlohmann::json& fields,
                                     bool awaited = true);
  /// Waits for the response to `id` until `deadline`; nullopt on timeout or a lost connection.
  std::optional<nlohmann::json> Await(std::int64_t id,
                                      std::chrono::steady_clock::time_point deadline);
  std::optional<nlohmann::json> Call(const std::string& op, const nlohmann::json& fields,
                                     std::chrono::milliseconds timeout);
  bool WaitConnected(std::chrono::steady_clock::time_point deadline);
  void NotifyState();

  WaWebOptions options_;
  Sink sink_;
  ContactSink contacts_;
  StateSink state_sink_;
  std::filesystem::path socket_path_;
  std::filesystem::path auth_dir_;
  std::filesystem::path pid_path_;

  mutable std::mutex mutex_;  // everything below
  std::condition_variable changed_;
  int fd_ = -1;
  std::uint64_t connection_ = 0;  ///< counts connections: a response belongs to one
  bool hello_done_ = false;
  std::int64_t next_id_ = 1;
  std::map<std::int64_t, Pending> pending_;
  std::int64_t status_id_ = 0;  ///< the reader's own status request in flight
  std::string sidecar_state_ = "connecting";
  std::string phone_;
  std::string detail_ = "starting the WhatsApp Web sidecar";
  std::string qr_;
  std::chrono::system_clock::time_point qr_expires_{};
  std::optional<std::uint64_t> rss_bytes_;
  pid_t child_ = 0;
  bool logout_after_hello_ = false;
  bool kick_ = false;   ///< Logout() wakes the reader from its backoff
  bool wanted_ = true;  ///< false while an on-demand channel waits for Activate()
  /// When a Lookup() first found no connection: later ones wait no longer than it did.
  std::optional<std::chrono::steady_clock::time_point> absent_since_;
  /// Keys sent without an answer: looked up before they are sent again.
  std::set<std::string> in_doubt_;
  std::vector<ChannelEvents> undelivered_;  ///< the sink threw: handed over again later

  std::mutex write_mutex_;  // one line at a time on fd_
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace crm::channel
