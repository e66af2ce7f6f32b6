#include "broadcast_routes.hpp"

#include "crm/http/json_body.hpp"
#include "crm/http/protocol_error.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/queue/store.hpp"
#include "crm/slice/contact_store.hpp"
#include "crm/slice/page.hpp"
#include "crm/slice/recipients.hpp"
#include "crm/slice/validation.hpp"

namespace crm::slice {
namespace {

bool IsCsv(const http::Request& req) {
  std::string type(req[bhttp::field::content_type]);
  return type.rfind("text/csv", 0) == 0;
}

// A broadcast from a JSON body or a CSV upload (name and text in the query string). Its
// recipients are left empty when `tag` names them instead (the caller looks them up). More than
// `max_rows` recipients are refused while they are counted, before the list is held in memory.
queue::NewBroadcast ParseBroadcast(const http::Request& req, std::size_t max_rows,
                                   std::string& tag) {
  queue::NewBroadcast broadcast;
  if (IsCsv(req)) {
    auto target = req.target();
    auto name = http::QueryParam(target, "name");
    auto text = http::QueryParam(target, "text");
    json fields = json::object();
    if (name) {
      fields["name"] = *name;
    }
    if (text) {
      fields["text"] = *text;
    }
    broadcast.name = http::RequireString(fields, "name", 1, 200);
    broadcast.text = http::RequireString(fields, "text", 1, 4096);
    broadcast.recipients = ParseRecipientsCsv(req.body(), max_rows);
  } else {
    BroadcastJson read = ReadBroadcastJson(req, max_rows);
    const json& body = read.fields;
    http::RefuseUnknownFields(body, {"name", "text", "recipients", "tag", "template"},
                              "name, text, recipients or tag, template");
    broadcast.name = http::RequireString(body, "name", 1, 200);
    broadcast.text = http::RequireString(body, "text", 1, 4096);
    auto it = body.find("recipients");  // only when it is not an array
    const bool has_recipients = read.has_recipient_list || it != body.end();
    tag = http::OptionalString(body, "tag", 1, 50).value_or("");
    if (!tag.empty() && has_recipients) {
      throw InputError("tag: give either recipients or tag, not both", "tag");
    }
    if (tag.empty() && !has_recipients) {
      throw InputError("recipients: required (or tag: to the contacts carrying it)", "recipients");
    }
    if (tag.empty()) {
      broadcast.recipients =
          read.has_recipient_list ? read.TakeRecipients() : ParseRecipients(*it, max_rows);
    }
    if (auto t = body.find("template"); t != body.end() && !t->is_null()) {
      broadcast.tmpl = ParseTemplate(*t);
    }
  }
  if (broadcast.recipients.empty() && tag.empty()) {
    throw InputError("recipients: the list is empty", "recipients");
  }
  return broadcast;
}

}  // namespace

void AddBroadcastRoutes(http::Router& router, SliceContext& slice) {
  using bhttp::verb;
  router.Add(verb::post, "/api/broadcasts", [&slice](Exchange& ex) -> Reply {
    std::string tag;
    queue::NewBroadcast broadcast = ParseBroadcast(ex.request(), slice.upload_max_rows, tag);
    if (!tag.empty()) {
      // One more than the cap, to tell "exactly the cap" from "more".
      auto limit = static_cast<long long>(slice.upload_max_rows) + 1;
      broadcast.recipients = co_await slice.db.Read([&tag, limit](pqxx::read_transaction& tx) {
        return ContactStore(tx).PhonesTagged(tag, limit);
      });
      if (broadcast.recipients.empty()) {
        throw InputError("tag: no contact has the tag \"" + tag + "\"", "tag");
      }
      if (broadcast.recipients.size() > slice.upload_max_rows) {
        throw http::TooLarge("tag: more than " + std::to_string(slice.upload_max_rows) +
                                 " contacts carry the tag \"" + tag +
                                 "\" (the limit per broadcast, upload_max_rows)",
                             "tag");
      }
    }
    long long max_depth = slice.queue_max_depth;
    json progress = co_await slice.queue.Write(
        [&](pqxx::work& tx) { return queue::EnqueueBroadcast(tx, broadcast, max_depth); });
    long long id = progress["id"].get<long long>();
    slice.messaging.Wake();
    slice.messaging.AnnotateProgress(progress);
    slice.messaging.Publish("broadcast.created", progress);
    Response res = http::JsonResponse(Status::accepted, progress);
    res.set(bhttp::field::location, "/api/broadcasts/" + std::to_string(id));
    co_return res;
  });
  router.Add(verb::get, "/api/broadcasts", [&slice](Exchange& ex) -> Reply {
    PageRequest page = ParsePage(ex.request().target());
    json items = co_await slice.queue.ReadReplica([&page](pqxx::read_transaction& tx) {
      return queue::ListBroadcasts(tx, page.cursor, page.limit);
    });
    for (json& item : items) {
      slice.messaging.AnnotateProgress(item);
    }
    co_return http::JsonResponse(Status::ok, PageJson(std::move(items), page.limit));
  });
  router.Add(verb::get, "/api/broadcasts/{id}", [&slice](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    json progress = co_await slice.queue.ReadReplica([&id](pqxx::read_transaction& tx) {
      auto p = queue::BroadcastProgress(tx, id);
      if (!p) {
        throw NotFound("no broadcast with id " + std::to_string(id));
      }
      return *p;
    });
    slice.messaging.AnnotateProgress(progress);
    co_return http::JsonResponse(Status::ok, progress);
  });
  router.Add(verb::post, "/api/broadcasts/{id}/{action}", [&slice](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    std::string action = ex.params()["action"];
    if (action != "pause" && action != "resume" && action != "cancel") {
      throw NotFound("no such action '" + action + "' (pause, resume or cancel)");
    }
    json progress = co_await slice.queue.Write(
        [&id, &action](pqxx::work& tx) { return queue::ControlBroadcast(tx, id, action); });
    if (action != "pause") {
      slice.messaging.Wake();  // resumed tasks go; an idle dispatcher re-reads the depth
    }
    slice.messaging.AnnotateProgress(progress);
    slice.messaging.Publish("broadcast.progress", progress);
    co_return http::JsonResponse(Status::ok, progress);
  });
}

}  // namespace crm::slice
