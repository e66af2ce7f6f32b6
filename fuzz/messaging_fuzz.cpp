// libFuzzer target: what the network controls in messaging — Meta's webhook payloads (signature
// check, then the documented shape) and a broadcast's recipients (a JSON list or a CSV upload).
// The first byte picks the parser. Every input must end in a value or an InputError (an HTTP
// 400), never a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "crm/channel/webhook.hpp"
#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"
#include "crm/json.hpp"
#include "crm/slice/recipients.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0: {
        // The signature is checked over the raw bytes first, then the JSON is read.
        crm::channel::VerifySignature(text, "sha256=" + std::string(64, 'a'), "secret");
        auto payload = crm::ParseJsonOrDiscarded(text);
        if (payload.is_discarded()) {
          return 0;
        }
        for (const auto& change : crm::channel::SplitWebhook(payload)) {
          auto events = crm::channel::ParseWebhookValue(change.value);
          crm::channel::ParseWebhookValue(
              crm::channel::WebhookValueOf(events, change.phone_number_id, ""));
        }
        break;
      }
      case 1:
        crm::slice::ParseRecipientsCsv(text);
        break;
      default: {
        // The one-pass reader must agree with the document: refused exactly when its top-level
        // "recipients" array holds more than the cap, and otherwise the same fields and numbers.
        auto body = crm::ParseJsonOrDiscarded(text);
        bool list =
            body.is_object() && body.contains("recipients") && body["recipients"].is_array();
        bool over = list && body["recipients"].size() > 3;
        crm::http::Request req;
        req.set(crm::http::bhttp::field::content_type, "application/json");
        req.body() = std::string(text);
        crm::slice::BroadcastJson read;
        try {
          read = crm::slice::ReadBroadcastJson(req, 3);
        } catch (const crm::http::TooLarge&) {
          break;  // refused while counting: a list or a body past its bound
        }
        if (over || read.has_recipient_list != list) {
          __builtin_trap();
        }
        if (list) {
          body.erase("recipients");
        }
        if (read.fields != body) {
          __builtin_trap();
        }
        if (list) {
          crm::slice::ParseRecipients(crm::ParseJsonOrDiscarded(text)["recipients"]);
          read.TakeRecipients();
        }
      }
    }
  } catch (const crm::InputError&) {
  }
  return 0;
}
