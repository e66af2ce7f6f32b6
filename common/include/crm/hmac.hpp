// HMAC-SHA256 in lower-case hex: what signs and verifies the webhooks we receive (Meta's, Stripe's)
// and send (the monitor's alerts).
#pragma once

#include <string>
#include <string_view>

namespace crm {

/// HMAC-SHA256 of `data` keyed with `secret`, as 64 lower-case hex digits.
std::string HmacSha256Hex(std::string_view secret, std::string_view data);

}  // namespace crm
