// libFuzzer target: the bytes a client sends on a connection, read as crmd's HTTP server reads
// them (crm/http/request_head.hpp: the header first, its framing and size checks, then the body,
// request after request). Every input must end in counted requests or a refusal the server
// answers (400, 413, 431, 501), never a crash, a hang or another exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "crm/http/request_head.hpp"

namespace {

// The gateway's limits (crmd's wiring), scaled down so the fuzzer reaches them.
crm::http::ServerLimits GatewayLimits() {
  crm::http::ServerLimits limits;
  limits.body_limit = 1024;
  limits.header_limit = 2048;
  limits.body_limit_for = {
      {"/api/broadcasts", 8192}, {"/api/contacts/import", 8192}, {"/webhooks/whatsapp", 4096}};
  return limits;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const crm::http::ServerLimits kLimits = GatewayLimits();
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  crm::http::ParsedInput parsed = crm::http::ParseRequests(bytes, kLimits);
  // Each request needs at least "X / HTTP/1.1\r\n\r\n" of input: a one-letter method and target
  // are valid tokens (the fuzzer found "T h HTTP/1.1\r\n\r\n", 16 bytes).
  if (parsed.requests * 16 > size) {
    std::abort();
  }
  if (parsed.refusal) {
    auto status = static_cast<unsigned>(parsed.refusal->status);
    if (status != 400 && status != 413 && status != 431 && status != 501) {
      std::abort();
    }
    if (parsed.refusal->message.empty()) {
      std::abort();
    }
  }
  return 0;
}
