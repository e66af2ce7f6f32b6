// Meta's WhatsApp webhook: the X-Hub-Signature-256 check and the payload's parser.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "crm/channel/channel.hpp"

namespace crm::channel {

/// "sha256=" + lowercase hex HMAC-SHA256 of `body` with `secret`.
std::string SignatureOf(std::string_view body, std::string_view secret);

/// True when `header` (the X-Hub-Signature-256 value) is the signature of `body` with `secret`;
/// the comparison takes the same time wherever the first difference is.
bool VerifySignature(std::string_view body, std::string_view header, std::string_view secret);

/// One `entry[].changes[].value` of a payload, with the phone_number_id it is addressed to.
struct WebhookChange {
  std::string phone_number_id;
  nlohmann::json value;
};

/// The `whatsapp_business_account` changes of a webhook payload. Throws InputError naming the
/// field ("entry[0].changes[1].value.metadata.phone_number_id: expected a string") for a payload
/// that is not the documented shape.
std::vector<WebhookChange> SplitWebhook(const nlohmann::json& payload);

/// The statuses and text messages of one change's `value` (other message types become a short
/// placeholder such as "[image]"). Throws InputError naming the field.
ChannelEvents ParseWebhookValue(const nlohmann::json& value);

/// The Cloud API `value` object for `events` (what the simulator emits, so simulated and real
/// traffic take one path into a slice).
nlohmann::json WebhookValueOf(const ChannelEvents& events, const std::string& phone_number_id,
                              const std::string& display_phone);

}  // namespace crm::channel
