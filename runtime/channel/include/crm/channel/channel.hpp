// How a slice talks to WhatsApp (docs/architecture.md, "Messaging"): one interface, several
// adapters (the simulator, Meta's Cloud API, a WhatsApp Web sidecar). The outbound queue's
// dispatcher sends through it; what comes back (delivery statuses, inbound messages) arrives as
// ChannelEvents, in the Cloud API's webhook shape.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace crm::channel {

/// A pre-approved WhatsApp message template (needed outside the 24-hour service window).
struct Template {
  std::string name;
  std::string language = "en_US";
  std::vector<std::string> body_parameters;  ///< {{1}}, {{2}}… of the template's body
};

struct OutboundMessage {
  /// Stable across every attempt of one task ("<slice>-<task>"): the simulator records it, so
  /// a message sent twice can be counted, and an interrupted send can be looked up.
  std::string idempotency_key;
  std::string to;    ///< E.164, "+4915112345678"
  std::string text;  ///< the body, when `tmpl` is empty
  std::optional<Template> tmpl;
};

enum class Outcome {
  kSent,   ///< accepted by WhatsApp; provider_id is its message id (wamid)
  kRetry,  ///< not sent, may succeed later (throttled, disconnected, network, 5xx)
  kFailed  ///< not sent and never will be (invalid number, rejected template…)
};

/// Which limit a throttling error hit: the whole number pauses, or only this recipient waits.
enum class Throttle { kNone, kPhone, kPair };

struct SendResult {
  Outcome outcome = Outcome::kSent;
  std::string provider_id;
  Throttle throttle = Throttle::kNone;
  /// How long the provider asked us to wait (Retry-After), when it said.
  std::optional<std::chrono::milliseconds> retry_after;
  int code = 0;       ///< the provider's error code (130429, 131056…) or the HTTP status
  std::string error;  ///< the provider's message, for the task's last_error
  /// With kRetry: the message never left because the channel cannot send at all now (not
  /// connected, unpaired). The task waits for the channel without using up an attempt.
  bool held = false;
};

/// Whether the channel can send now; when it cannot, why (for the tenant: the broadcast's
/// progress and GET /api/channel show it).
struct SendReadiness {
  bool ready = true;
  std::string reason;
};

/// A delivery status of a message we sent (the webhook's `statuses[]`).
struct StatusUpdate {
  std::string provider_id;  ///< the wamid Send returned
  std::string status;       ///< "sent", "delivered", "read" or "failed"
  std::string recipient;    ///< E.164
  std::int64_t timestamp = 0;
  std::string error;  ///< for "failed": the provider's reason
};

/// A message a contact sent us (the webhook's `messages[]`).
struct InboundMessage {
  std::string provider_id;  ///< its wamid: a repeated one is ignored
  std::string from;         ///< E.164
  std::string profile_name;
  std::string text;  ///< text body, or "[image]" etc. for media we do not store
  std::int64_t timestamp = 0;
};

struct ChannelEvents {
  std::vector<StatusUpdate> statuses;
  std::vector<InboundMessage> messages;
  bool empty() const { return statuses.empty() && messages.empty(); }
};

struct ChannelState {
  std::string kind;  ///< "simulator", "cloud-api", "wa-web"
  /// "connected", "disconnected", "unpaired", "unconfigured"; wa-web adds "failed" and "banned"
  /// (nothing reconnects until the tenant logs out and pairs again).
  std::string state;
  std::string phone;  ///< the number messages come from, when known
  std::string detail;
  /// Resident memory of a process the channel runs beside the slice (wa-web's sidecar), when
  /// known.
  std::optional<std::uint64_t> memory_bytes;
};

class Channel {
 public:
  virtual ~Channel() = default;
  /// Sends every message (blocking; one dispatcher thread calls it); one result per message, in
  /// order. Never throws for a per-message failure: that is a result.
  virtual std::vector<SendResult> Send(const std::vector<OutboundMessage>& batch) = 0;
  /// After a crash interrupted a send: did the provider get the message with this key? Its
  /// provider id if so, an empty string if not, nullopt if the provider cannot tell.
  virtual std::optional<std::string> Lookup(const std::string& idempotency_key) = 0;
  virtual ChannelState State() const = 0;
  /// The dispatcher leases and sends nothing while this says not ready, and resumes by itself
  /// once it does. By default: ready while State() is "connected" (a channel that is always
  /// connected is always ready).
  virtual SendReadiness Readiness() const {
    ChannelState s = State();
    if (s.state == "connected") {
      return {};
    }
    return {false, "the channel is " + s.state + (s.detail.empty() ? "" : ": " + s.detail)};
  }
};

}  // namespace crm::channel
