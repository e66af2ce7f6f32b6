// Stripe's webhook signatures (docs/operations.md, "Billing"): `Stripe-Signature: t=…,v1=…`, the
// v1 being HMAC-SHA256 of "{t}.{raw body}" with the endpoint's signing secret, in hex.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace crm::billing {

/// How far a signature's timestamp may be from now, either way (Stripe's default).
inline constexpr std::chrono::seconds kSignatureTolerance{300};

/// Checks `header` against `body`: any v1 may match, made with any of `secrets` (the current one
/// and the one being rotated out; empty ones are skipped), compared in constant time, its t
/// within `tolerance` of `now`. Throws InputError saying what is wrong (missing parts, too old,
/// no match) and never which secret or signature came close.
void VerifyStripeSignature(std::string_view header, std::string_view body,
                           const std::vector<std::string>& secrets,
                           std::chrono::system_clock::time_point now,
                           std::chrono::seconds tolerance = kSignatureTolerance);

/// The hex HMAC-SHA256 of "{timestamp}.{body}" with `secret`.
std::string StripeSignatureOf(long long timestamp, std::string_view body, std::string_view secret);

/// "t={timestamp},v1={signature}": what Stripe sends (tests and the stand-in sign with it).
std::string StripeSignatureHeader(long long timestamp, std::string_view body,
                                  std::string_view secret);

}  // namespace crm::billing
