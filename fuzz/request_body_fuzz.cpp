// libFuzzer target: what a tenant's request can carry into the runtime — the target's query
// string, a JSON body, a contact (name, E.164 phone, tags), ids and limits. Every input must end
// in a value or an InputError (an HTTP 4xx), never a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "crm/error.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/message.hpp"
#include "crm/http/query.hpp"
#include "crm/slice/validation.hpp"

namespace {

template <class F>
void ExpectInputErrorOnly(F f) {
  try {
    f();
  } catch (const crm::InputError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto split = text.find('\n');
  std::string target = "/api/contacts?" + text.substr(0, split);
  std::string body = split == std::string::npos ? std::string() : text.substr(split + 1);

  ExpectInputErrorOnly([&] {
    for (const char* name : {"q", "cursor", "limit"}) {
      auto value = crm::http::QueryParam(target, name);
      if (value && std::string(name) == "limit") {
        crm::slice::ParseLimit(value);
      } else if (value && std::string(name) == "cursor") {
        crm::slice::ParseId(*value, "cursor");
      }
    }
  });
  crm::http::Request request{crm::http::bhttp::verb::post, "/api/contacts", 11};
  request.set(crm::http::bhttp::field::content_type, "application/json");
  request.body() = body;
  ExpectInputErrorOnly([&] {
    auto json = crm::http::ParseJsonBody(request);
    auto contact = crm::slice::ParseContact(json, (size & 1) != 0);
    if (contact.phone && (contact.phone->empty() || contact.phone->front() != '+')) {
      __builtin_trap();  // a normalised phone is always +digits
    }
  });
  ExpectInputErrorOnly([&] { crm::slice::NormalizePhone(body); });
  return 0;
}
