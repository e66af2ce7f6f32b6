// libFuzzer target: the bytes a client sends on a connection, read as crmd's HTTP server reads
// them (crm/http/request_head.hpp: the header first, its framing and size checks, then the body,
// request after request). Every input must end in counted requests or a refusal the server
// answers (400, 413, 431, 501), never a crash, a hang or another exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>

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
  // The server's own scan of the usual request (its hot path): a head it takes must be one
  // Beast's parser takes alike, whole and with no body.
  crm::http::Request simple;
  std::size_t head_size = 0;
  if (crm::http::TakeSimpleRequest(bytes, kLimits.header_limit, simple, head_size)) {
    crm::http::RequestParser parser;
    crm::http::PrepareParser(parser, kLimits);
    boost::system::error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    const crm::http::Request& beast = parser.get();
    if (ec || !parser.is_header_done() || !parser.is_done() || used != head_size ||
        crm::http::CheckFraming(parser) || beast.method() != simple.method() ||
        beast.method_string() != simple.method_string() || beast.target() != simple.target() ||
        beast.version() != simple.version() || beast.keep_alive() != simple.keep_alive()) {
      std::abort();
    }
    auto a = beast.begin();
    auto b = simple.begin();
    for (; a != beast.end() && b != simple.end(); ++a, ++b) {
      if (a->name() != b->name() || !boost::beast::iequals(a->name_string(), b->name_string()) ||
          a->value() != b->value()) {
        std::abort();
      }
    }
    if (a != beast.end() || b != simple.end()) {
      std::abort();
    }
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
