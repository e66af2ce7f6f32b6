// The `cloud-api` channel (docs/operations.md, "WhatsApp"): sends through Meta's WhatsApp Cloud API
// (Graph API) over crm::HttpClient, a batch at a time, concurrently, and maps Graph errors to retry
// / throttle / fail.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crm/channel/channel.hpp"

namespace crm::channel {

struct CloudApiOptions {
  /// The Graph API root with its version, no trailing slash (CRM_WHATSAPP_API_URL).
  std::string base_url = "https://graph.facebook.com/v21.0";
  std::string phone_number_id;              ///< CRM_WHATSAPP_PHONE_NUMBER_ID
  std::string display_phone;                ///< E.164, optional (CRM_WHATSAPP_DISPLAY_PHONE)
  std::string access_token;                 ///< bearer token (CRM_WHATSAPP_TOKEN); never logged
  std::chrono::milliseconds timeout{8000};  ///< per request, connect to last byte
  int concurrency = 32;                     ///< sends in flight at once
};

/// Meta's WhatsApp Cloud API. One instance keeps its HTTP client (and so its TLS connections to
/// the Graph API) for its whole life. Send() may be called from one thread at a time (calls are
/// serialised); State() from any thread.
///
/// What it cannot do:
/// - Lookup(): the Cloud API has no way to ask whether a message with a given key was received,
///   so it always answers std::nullopt ("cannot tell").
/// - A request that timed out or lost its connection after being sent is reported as kRetry,
///   though WhatsApp may have accepted it: the Cloud API has no idempotency key, so a retry of
///   such a message can deliver it twice.
class CloudApiChannel final : public Channel {
 public:
  /// Throws InputError naming the option when base_url is empty, concurrency < 1 or timeout is
  /// not positive. Missing phone_number_id/access_token are not errors: State() reports them and
  /// Send() fails every message.
  explicit CloudApiChannel(CloudApiOptions options);
  ~CloudApiChannel() override;
  CloudApiChannel(const CloudApiChannel&) = delete;
  CloudApiChannel& operator=(const CloudApiChannel&) = delete;

  /// POSTs every message to {base_url}/{phone_number_id}/messages, at most `concurrency` at a
  /// time; one result per message, in input order. Blocks until every request has finished or
  /// timed out. Never throws for a per-message failure.
  std::vector<SendResult> Send(const std::vector<OutboundMessage>& batch) override;
  /// Always std::nullopt: the Cloud API cannot tell whether a message was received.
  std::optional<std::string> Lookup(const std::string& idempotency_key) override;
  /// {"cloud-api", "connected" | "unconfigured", display_phone, detail naming what is missing}.
  /// "connected" means configured: it does not call the Graph API.
  ChannelState State() const override;

 private:
  class Transport;
  CloudApiOptions options_;
  std::unique_ptr<Transport> transport_;
};

/// The JSON body Send() posts for `message` (exposed for unit tests): a text message, or a
/// template with its body parameters. `to` loses its '+' and any other non-digit.
std::string GraphMessageBody(const OutboundMessage& message);

/// Maps one Graph API answer to a SendResult (exposed for unit tests). `retry_after` is the
/// response's Retry-After, carried into retryable results.
/// - 2xx with messages[0].id → kSent with that wamid.
/// - throughput limits → kRetry: HTTP 429, 130429, 131048, 80007 and the other 8000x business
///   use case limits, 4/17/32/613 (too many calls) → Throttle::kPhone; 131056 → Throttle::kPair.
/// - HTTP 5xx, and Graph errors Meta documents as temporary (1, 2, 131000, 131016, 133004, or
///   "is_transient": true) → kRetry, Throttle::kNone.
/// - anything else → kFailed with code and "<code>: <message> (<details>)".
/// A body that is not JSON or not the Graph shape → kRetry for 5xx, kFailed otherwise, quoting at
/// most 200 bytes of it. `code` is the Graph code, or the HTTP status when there is none.
SendResult MapGraphResponse(long http_status, std::string_view body,
                            std::optional<std::chrono::milliseconds> retry_after);

}  // namespace crm::channel
