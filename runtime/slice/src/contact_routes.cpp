#include "contact_routes.hpp"

#include <boost/beast/core/string.hpp>

#include "crm/http/json_body.hpp"
#include "crm/http/protocol_error.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/slice/contact_csv.hpp"
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

  // A spreadsheet of contacts, all or nothing: one bad row refuses the file. Phones already
  // contacts are skipped, so importing the same file twice creates nothing the second time.
  router.Add(verb::post, "/api/contacts/import", [&slice](Exchange& ex) -> Reply {
    std::string_view type = ex.request()[bhttp::field::content_type];
    if (!boost::beast::iequals(type.substr(0, type.find(';')), "text/csv")) {
      throw http::ClientError(Status::unsupported_media_type,
                              "expected Content-Type: text/csv, got \"" + std::string(type) + "\"");
    }
    std::vector<ContactInput> contacts =
        ParseContactsCsv(ex.request().body(), slice.upload_max_rows);
    long long created = co_await slice.db.Write(
        [&contacts](pqxx::work& tx) { return ContactStore(tx).Import(contacts); });
    json result = {{"created", created},
                   {"skipped", static_cast<long long>(contacts.size()) - created}};
    // One event for the whole file: an event per contact would overflow the open streams (1,000
    // events behind) on any sizeable import; the page reloads its list instead.
    slice.events.Publish("contacts.imported", result.dump());
    co_return http::JsonResponse(Status::ok, result);
  });

  router.Add(verb::get, "/api/contacts", [&slice](Exchange& ex) -> Reply {
    auto target = ex.request().target();
    PageRequest page = ParsePage(target);
    std::string query = ParseSearch(target);
    json items = co_await slice.db.ReadReplica([&](pqxx::read_transaction& tx) {
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
