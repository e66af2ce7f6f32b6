#include "message_routes.hpp"

#include "crm/http/json_body.hpp"
#include "crm/http/response.hpp"
#include "crm/slice/conversation_store.hpp"
#include "crm/slice/message_store.hpp"
#include "crm/slice/page.hpp"
#include "crm/slice/validation.hpp"

namespace crm::slice {
namespace {

// POST /api/messages: {"contact_id" or "phone", "text"}.
struct Recipient {
  long long contact_id = 0;  ///< 0: by phone
  std::string phone;
};

Recipient RecipientOf(const json& body) {
  Recipient to;
  if (body.contains("contact_id")) {
    to.contact_id = ContactIdField(body);
  } else if (auto p = http::OptionalString(body, "phone", 1, 40)) {
    to.phone = NormalizePhone(*p);
  } else {
    throw InputError("contact_id or phone: say whom to send to", "contact_id");
  }
  return to;
}

}  // namespace

void AddMessageRoutes(http::Router& router, SliceContext& slice) {
  using bhttp::verb;
  router.Add(verb::get, "/api/conversations/{id}/messages", [&slice](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    PageRequest page = ParsePage(ex.request().target());
    json items = co_await slice.db.Read([&](pqxx::read_transaction& tx) {
      return ConversationStore(tx).Messages(id, page.cursor, page.limit);
    });
    co_return http::JsonResponse(Status::ok, PageJson(std::move(items), page.limit));
  });

  router.Add(verb::post, "/api/conversations/{id}/messages", [&slice](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    json body = http::ParseJsonBody(ex.request());
    std::string text = http::RequireString(body, "body", 1, 4096);
    std::string direction = http::OptionalString(body, "direction", 1, 20).value_or("outbound");
    if (direction != "outbound" && direction != "inbound") {
      throw InputError("direction: expected \"outbound\" or \"inbound\", got \"" + direction + "\"",
                       "direction");
    }
    json message = co_await slice.db.Blocking([&] {
      return slice.messaging.QueueInboxMessage(
          slice.db.pool(), [&](MessageStore& store) { return store.Add(id, direction, text); });
    });
    if (direction == "outbound") {
      slice.messaging.Wake();
    }
    slice.events.Publish("message.created", message.dump());
    co_return http::JsonResponse(Status::created, message);
  });

  // Messages typed in the inbox to a contact, or to a number not yet a contact.
  router.Add(verb::post, "/api/messages", [&slice](Exchange& ex) -> Reply {
    json body = http::ParseJsonBody(ex.request());
    http::RefuseUnknownFields(body, {"contact_id", "phone", "text"},
                              "contact_id or phone, and text");
    std::string text = http::RequireString(body, "text", 1, 4096);
    Recipient to = RecipientOf(body);
    json message = co_await slice.db.Blocking([&] {
      return slice.messaging.QueueInboxMessage(slice.db.pool(), [&](MessageStore& store) {
        return store.Send(to.contact_id, to.phone, text);
      });
    });
    slice.messaging.Wake();
    slice.messaging.Publish("message.created", message);
    co_return http::JsonResponse(Status::accepted, message);
  });
}

}  // namespace crm::slice
