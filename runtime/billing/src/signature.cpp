#include "crm/billing/signature.hpp"

#include <openssl/crypto.h>

#include <charconv>
#include <optional>

#include "crm/error.hpp"
#include "crm/hmac.hpp"
#include "crm/text.hpp"

namespace crm::billing {

std::string StripeSignatureOf(long long timestamp, std::string_view body, std::string_view secret) {
  return HmacSha256Hex(secret, std::to_string(timestamp) + "." + std::string(body));
}

std::string StripeSignatureHeader(long long timestamp, std::string_view body,
                                  std::string_view secret) {
  return "t=" + std::to_string(timestamp) + ",v1=" + StripeSignatureOf(timestamp, body, secret);
}

void VerifyStripeSignature(std::string_view header, std::string_view body,
                           const std::vector<std::string>& secrets,
                           std::chrono::system_clock::time_point now,
                           std::chrono::seconds tolerance) {
  std::optional<long long> timestamp;
  std::vector<std::string_view> v1;
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view part = TrimBlanks(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    std::string_view key = part.substr(0, eq);
    std::string_view value = part.substr(eq + 1);
    if (key == "t") {
      long long t = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), t);
      if (ec != std::errc{} || end != value.data() + value.size()) {
        throw InputError("Stripe-Signature: t is not a Unix time", "Stripe-Signature");
      }
      timestamp = t;
    } else if (key == "v1") {
      v1.push_back(value);
    }
    // v0 (test-mode legacy) and unknown schemes are ignored, as Stripe's libraries do.
  }
  if (!timestamp) {
    throw InputError("Stripe-Signature: missing t=", "Stripe-Signature");
  }
  if (v1.empty()) {
    throw InputError("Stripe-Signature: missing v1=", "Stripe-Signature");
  }
  auto age =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() - *timestamp;
  if (age > tolerance.count() || -age > tolerance.count()) {
    throw InputError("Stripe-Signature: timestamp is " + std::to_string(age) +
                         " s from now, more than the " + std::to_string(tolerance.count()) +
                         " s allowed (a replay, or this server's clock is wrong)",
                     "Stripe-Signature");
  }
  bool matched = false;
  for (const auto& secret : secrets) {
    if (secret.empty()) {
      continue;
    }
    std::string expected = StripeSignatureOf(*timestamp, body, secret);
    for (auto candidate : v1) {
      // Every comparison runs to the end: no early exit tells how close a guess was.
      if (candidate.size() == expected.size() &&
          CRYPTO_memcmp(candidate.data(), expected.data(), expected.size()) == 0) {
        matched = true;
      }
    }
  }
  if (!matched) {
    throw InputError(
        "Stripe-Signature: no v1 signature matches the body with the webhook signing secret "
        "(another endpoint's secret, or the body was altered)",
        "Stripe-Signature");
  }
}

}  // namespace crm::billing
