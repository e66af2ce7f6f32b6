// libFuzzer target: what the network controls in billing — Stripe's webhook deliveries (the
// Stripe-Signature header, then the event's JSON) and Stripe's form bodies as the stand-in and
// the client read them. The first byte picks the parser. Every input must end in a value or an
// InputError (an HTTP 400), never a crash or another exception.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "crm/billing/form.hpp"
#include "crm/billing/policy.hpp"
#include "crm/billing/signature.hpp"
#include "crm/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0: {
        auto comma = text.find('\n');
        std::string header = text.substr(0, comma);
        std::string body = comma == std::string::npos ? "" : text.substr(comma + 1);
        crm::billing::VerifyStripeSignature(header, body, {"whsec_fuzz", ""},
                                            std::chrono::system_clock::now());
        break;
      }
      case 1: {
        auto event = nlohmann::json::parse(text, nullptr, false);
        if (event.is_discarded()) {
          return 0;
        }
        crm::billing::StripeEvent e = crm::billing::ParseEvent(event);
        crm::billing::ApplyEvent(crm::billing::Unpaid(1), e, {}, e.created, "https://x.test");
        break;
      }
      default: {
        auto fields = crm::billing::FormDecode(text);
        if (crm::billing::FormDecode(crm::billing::FormEncode(fields)) != fields) {
          __builtin_trap();  // encoding must round-trip
        }
        break;
      }
    }
  } catch (const crm::InputError&) {
    // A 400: the expected answer to bad input.
  }
  return 0;
}
