#include "channel_routes.hpp"

#include "crm/channel/webhook.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/response.hpp"
#include "crm/slice/qr_svg.hpp"
#include "crm/slice/validation.hpp"

namespace crm::slice {

void AddChannelRoutes(http::Router& router, SliceContext& slice) {
  using bhttp::verb;
  router.Add(verb::get, "/api/channel", [&slice](Exchange&) -> Reply {
    if (channel::Simulator* sim = slice.messaging.simulator()) {
      json body = sim->Describe();
      body["held_reason"] = slice.messaging.HeldReason();
      co_return http::JsonResponse(Status::ok, body);
    }
    if (channel::WaWebChannel* wa = slice.messaging.wa_web()) {
      wa->Activate();  // the connect page asks: the session is wanted
      co_return http::JsonResponse(Status::ok, wa->Describe());
    }
    channel::ChannelState s = slice.messaging.ChannelStatus();
    co_return http::JsonResponse(Status::ok,
                                 {{"kind", s.kind},
                                  {"state", s.state},
                                  {"phone", s.phone.empty() ? json(nullptr) : json(s.phone)},
                                  {"detail", s.detail},
                                  {"held_reason", slice.messaging.HeldReason()}});
  });
  // The pairing payload as an image for the connect page; a new one after every logout, hence
  // no caching.
  router.Add(verb::get, "/api/channel/qr.svg", [&slice](Exchange&) -> Reply {
    std::string qr;
    std::string state;
    if (channel::Simulator* sim = slice.messaging.simulator()) {
      json described = sim->Describe();
      state = described.value("state", "");
      if (auto it = described.find("qr"); it != described.end() && it->is_string()) {
        qr = it->get<std::string>();
      }
    } else if (channel::WaWebChannel* wa = slice.messaging.wa_web()) {
      wa->Activate();
      json described = wa->Describe();
      state = described.value("state", "");
      if (auto it = described.find("qr"); it != described.end() && it->is_string()) {
        qr = it->get<std::string>();
      }
    } else {
      state = slice.messaging.ChannelStatus().state;
    }
    if (qr.empty()) {
      throw NotFound("no QR code to show: the channel is " + state);
    }
    Response res{Status::ok, 11};
    res.set(bhttp::field::content_type, "image/svg+xml");
    res.set(bhttp::field::cache_control, "no-store");
    res.body() = QrSvg(qr);
    co_return res;
  });
  router.Add(verb::get, "/api/channel/stats", [&slice](Exchange&) -> Reply {
    channel::Simulator& sim = slice.messaging.RequireSimulator();
    auto counts = co_await slice.db.Blocking([&sim] { return sim.Stats(); });
    co_return http::JsonResponse(
        Status::ok, {{"sent_unique", counts.sent_unique}, {"duplicates", counts.duplicates}});
  });
  router.Add(verb::post, "/api/channel/simulator/pair", [&slice](Exchange& ex) -> Reply {
    channel::Simulator& sim = slice.messaging.RequireSimulator();
    json body = http::ParseJsonBody(ex.request());
    std::string qr = http::RequireString(body, "qr", 1, 500);
    co_await slice.db.Blocking([&sim, &qr] { sim.Pair(qr); });
    slice.messaging.Wake();  // what waited for the connection goes now
    slice.messaging.Publish("channel.state", sim.Describe());
    co_return http::JsonResponse(Status::ok, sim.Describe());
  });
  router.Add(verb::post, "/api/channel/simulator/logout", [&slice](Exchange&) -> Reply {
    channel::Simulator& sim = slice.messaging.RequireSimulator();
    co_await slice.db.Blocking([&sim] { sim.Logout(); });
    slice.messaging.Publish("channel.state", sim.Describe());
    co_return http::JsonResponse(Status::ok, sim.Describe());
  });
  router.Add(verb::patch, "/api/channel/simulator/settings", [&slice](Exchange& ex) -> Reply {
    channel::Simulator& sim = slice.messaging.RequireSimulator();
    json settings = http::ParseJsonBody(ex.request());
    co_await slice.db.Blocking([&sim, &settings] { sim.Configure(settings); });
    co_return http::JsonResponse(Status::ok, sim.Describe());
  });
  router.Add(verb::post, "/api/channel/simulator/faults", [&slice](Exchange& ex) -> Reply {
    channel::Simulator& sim = slice.messaging.RequireSimulator();
    sim.InjectFaults(http::ParseJsonBody(ex.request()));
    co_return http::JsonResponse(Status::ok, sim.Describe());
  });
  router.Add(verb::post, "/api/channel/simulator/inbound", [&slice](Exchange& ex) -> Reply {
    channel::Simulator& sim = slice.messaging.RequireSimulator();
    json body = http::ParseJsonBody(ex.request());
    std::string from = NormalizePhone(http::RequireString(body, "from", 1, 40), "from");
    std::string name = http::OptionalString(body, "name", 1, 200).value_or("");
    std::string text = http::RequireString(body, "text", 1, 4096);
    sim.Receive(from, name, text);
    co_return http::JsonResponse(Status::accepted, {{"from", from}, {"text", text}});
  });

  // wa-web: a pairing code instead of the QR (the phone enters it under Linked devices).
  router.Add(verb::post, "/api/channel/wa-web/pair-code", [&slice](Exchange& ex) -> Reply {
    channel::WaWebChannel& wa = slice.messaging.RequireWaWeb();
    json body = http::ParseJsonBody(ex.request());
    std::string phone = NormalizePhone(http::RequireString(body, "phone", 1, 40), "phone");
    std::string code = co_await slice.db.Blocking([&wa, &phone] { return wa.PairCode(phone); });
    co_return http::JsonResponse(Status::ok, {{"phone", phone}, {"code", code}});
  });
  router.Add(verb::post, "/api/channel/wa-web/logout", [&slice](Exchange&) -> Reply {
    channel::WaWebChannel& wa = slice.messaging.RequireWaWeb();
    co_await slice.db.Blocking([&wa] { wa.Logout(); });
    co_return http::JsonResponse(Status::ok, wa.Describe());
  });

  // Meta's webhook, relayed by the gateway (signature checked there): one change's `value`.
  router.Add(verb::post, "/internal/channel/events", [&slice](Exchange& ex) -> Reply {
    json value = http::ParseJsonBody(ex.request());
    channel::ChannelEvents events = channel::ParseWebhookValue(value);
    co_await slice.db.Blocking([&slice, &events] { slice.messaging.Apply(events); });
    co_return http::JsonResponse(
        Status::ok, {{"statuses", events.statuses.size()}, {"messages", events.messages.size()}});
  });
}

}  // namespace crm::slice
