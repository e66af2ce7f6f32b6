#include "contact_routes.hpp"

#include "crm/http/json_body.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/slice/contact_store.hpp"
#include "crm/slice/page.hpp"
#include "crm/slice/validation.hpp"

namespace crm::slice {

void AddContactRoutes(http::Router& router, SliceContext& slice) {
  using bhttp::verb;
  router.Add(verb::post, "/api/contacts", [&slice](Exchange& ex) -> Reply {
    ContactInput in = ParseContact(http::ParseJsonBody(ex.request()), false);
    json contact =
        co_await slice.db.Write([&in](pqxx::work& tx) { return ContactStore(tx).Create(in); });
    slice.events.Publish("contact.created", contact.dump());
    Response res = http::JsonResponse(Status::created, contact);
    res.set(bhttp::field::location,
            "/api/contacts/" + std::to_string(contact["id"].get<long long>()));
    co_return res;
  });

  router.Add(verb::get, "/api/contacts", [&slice](Exchange& ex) -> Reply {
    auto target = ex.request().target();
    auto q = http::QueryParam(target, "q");
    PageRequest page = ParsePage(target);
    if (q && q->size() > 200) {
      throw InputError("q: at most 200 characters", "q");
    }
    std::string query = q.value_or("");
    json items = co_await slice.db.Read([&](pqxx::read_transaction& tx) {
      return ContactStore(tx).List(page.cursor, query, page.limit);
    });
    co_return http::JsonResponse(Status::ok, PageJson(std::move(items), page.limit));
  });

  router.Add(verb::get, "/api/contacts/{id}", [&slice](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    json contact = co_await slice.db.Read(
        [&id](pqxx::read_transaction& tx) { return ContactStore(tx).Get(id); });
    co_return http::JsonResponse(Status::ok, contact);
  });

  router.Add(verb::patch, "/api/contacts/{id}", [&slice](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    ContactInput in = ParseContact(http::ParseJsonBody(ex.request()), true);
    json contact =
        co_await slice.db.Write([&](pqxx::work& tx) { return ContactStore(tx).Update(id, in); });
    slice.events.Publish("contact.updated", contact.dump());
    co_return http::JsonResponse(Status::ok, contact);
  });

  router.Add(verb::delete_, "/api/contacts/{id}", [&slice](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    co_await slice.db.Write([&id](pqxx::work& tx) { ContactStore(tx).Delete(id); });
    slice.events.Publish("contact.deleted", json{{"id", id}}.dump());
    co_return Response{Status::no_content, 11};
  });
}

}  // namespace crm::slice
