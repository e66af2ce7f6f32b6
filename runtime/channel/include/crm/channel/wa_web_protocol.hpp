// The wa-web sidecar's wire format (docs/wa-web.md): NDJSON framing with a line limit, and the
// mapping of its responses and events into the Channel's types. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "crm/channel/channel.hpp"
#include "crm/error.hpp"

namespace crm::channel::wa_web {

/// A line longer than this (newline excluded) is a protocol error (docs/wa-web.md, "Framing").
inline constexpr std::size_t kMaxLine = 1024 * 1024;

/// The sidecar broke the protocol: the connection is closed and opened again.
class ProtocolError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

/// Splits a byte stream into lines. Append() what a read returned, then take lines with Next()
/// until it answers nullopt.
class LineBuffer {
 public:
  explicit LineBuffer(std::size_t max_line = kMaxLine) : max_line_(max_line) {}
  /// Throws ProtocolError when the bytes held without a newline exceed the limit (so a peer that
  /// never sends one cannot make us hold more than max_line bytes).
  void Append(std::string_view bytes);
  /// The next complete line without its "\n" (a trailing "\r" is kept: JSON ignores it).
  std::optional<std::string> Next();
  std::size_t pending() const { return buffer_.size() - start_; }

 private:
  std::size_t max_line_;
  std::string buffer_;
  std::size_t start_ = 0;
};

/// One parsed line: a response (has `id`) or an event (has `event`).
struct Incoming {
  bool is_response = false;
  std::int64_t id = 0;  ///< responses
  bool ok = false;      ///< responses
  std::string event;    ///< events
  nlohmann::json body;  ///< the whole object
};

/// Parses one line. Throws ProtocolError for a line that is not a JSON object, a response whose
/// `id` is not an integer or whose `ok` is not a boolean, and for an object with neither `id`
/// nor `event` (a string).
Incoming ParseLine(std::string_view line);

/// The line for request `op` with `id` and `fields` (an object), "\n" included.
std::string RequestLine(std::int64_t id, std::string_view op,
                        const nlohmann::json& fields = nlohmann::json::object());

/// A `send` response → SendResult: ok with a non-empty message_id → kSent; an error with
/// `retry: true` → kRetry (not_connected and rate_limited also pause the number: Throttle::kPhone);
/// any other error, or an ok without message_id → kFailed ("<code>: <message>").
SendResult MapSendResponse(const nlohmann::json& response);

/// A `lookup` response → Channel::Lookup's answer: the message id, "" (never sent), nullopt
/// (cannot tell: `null`, an error, or a malformed answer).
std::optional<std::string> MapLookupResponse(const nlohmann::json& response);

/// The sidecar's state name → the channel's (docs/wa-web.md, "Mapping into the slice"):
/// connected, unpaired (qr), disconnected (connecting, logged_out, replaced), failed, banned;
/// anything else is "disconnected".
std::string ChannelStateOf(std::string_view sidecar_state);

/// An `ack`, `message` or `contact` event → ChannelEvents (one status, or one message; a
/// contact becomes an InboundMessage-free name update, returned in `contact`). Throws
/// ProtocolError naming the field for a malformed known event; unknown events give nothing.
struct EventEffect {
  ChannelEvents events;
  std::optional<std::pair<std::string, std::string>> contact;  ///< phone, name
};
EventEffect MapEvent(const Incoming& event);

}  // namespace crm::channel::wa_web
