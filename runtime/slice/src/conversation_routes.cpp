#include "conversation_routes.hpp"

#include "crm/http/json_body.hpp"
#include "crm/http/response.hpp"
#include "crm/slice/conversation_store.hpp"
#include "crm/slice/page.hpp"
#include "crm/slice/validation.hpp"

namespace crm::slice {

void AddConversationRoutes(http::Router& router, SliceContext& slice) {
  using bhttp::verb;
  router.Add(verb::get, "/api/conversations", [&slice](Exchange& ex) -> Reply {
    auto target = ex.request().target();
    PageRequest page = ParsePage(target);
    std::string query = ParseSearch(target);
    json items = co_await slice.db.ReadReplica([&](pqxx::read_transaction& tx) {
      return ConversationStore(tx).List(page.cursor, query, page.limit);
    });
    co_return http::JsonResponse(Status::ok, PageJson(std::move(items), page.limit));
  });

  router.Add(verb::post, "/api/conversations", [&slice](Exchange& ex) -> Reply {
    json body = http::ParseJsonBody(ex.request());
    long long contact_id = ContactIdField(body);
    auto [conversation, created] = co_await slice.db.Write(
        [&contact_id](pqxx::work& tx) { return ConversationStore(tx).Open(contact_id); });
    co_return http::JsonResponse(created ? Status::created : Status::ok, conversation);
  });

  // The inbox opened the conversation: its messages count as read, in every open tab too.
  router.Add(verb::post, "/api/conversations/{id}/read", [&slice](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    json conversation = co_await slice.db.Write(
        [&id](pqxx::work& tx) { return ConversationStore(tx).MarkRead(id); });
    slice.events.Publish("conversation.updated", conversation.dump());
    co_return http::JsonResponse(Status::ok, conversation);
  });

  router.Add(verb::get, "/api/conversations/{id}", [&slice](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    json conversation = co_await slice.db.Read(
        [&id](pqxx::read_transaction& tx) { return ConversationStore(tx).Get(id); });
    co_return http::JsonResponse(Status::ok, conversation);
  });
}

}  // namespace crm::slice
