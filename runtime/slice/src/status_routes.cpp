#include "status_routes.hpp"

#include "crm/http/response.hpp"
#include "crm/queue/store.hpp"

namespace crm::slice {
namespace {

// The monitor reads state (and detail, for its alert); rss_bytes is the memory of a process the
// channel runs beside the slice (wa-web's sidecar), checked against the catalog's per-session
// figure.
json ChannelBlock(const channel::ChannelState& channel) {
  json block = {{"kind", channel.kind}, {"state", channel.state}};
  if (!channel.detail.empty()) {
    block["detail"] = channel.detail;
  }
  if (channel.memory_bytes) {
    block["rss_bytes"] = *channel.memory_bytes;
  }
  return block;
}

}  // namespace

void AddStatusRoutes(http::Router& router, SliceContext& slice) {
  using bhttp::verb;
  router.Add(verb::get, "/health", [&slice](Exchange&) -> Reply {
    try {
      // The orchestrator probes every 5 s: opening a connection for it, or keeping one young,
      // would keep every idle slice's backend alive. An idle connection is checked as it is;
      // none open has nothing to go stale (the next request connects, and says so if it cannot).
      // Behind a transaction pooler (the host's, or PgBouncer in front of the database) a check
      // needs one of the backends every slice shares and waits in the pooler's queue behind
      // their work: a busy host would read as a hung slice, and the orchestrator kills a slice
      // that misses three probes in a row, which only adds the restarts' work. There the
      // process answering is the check; a broken connection is dropped by the next request.
      db::Pool& pool = slice.db.pool();
      if (!pool.pooled() && !co_await slice.db.Blocking([&pool] { return pool.Ping(); })) {
        throw RuntimeError("an idle connection was broken");
      }
    } catch (const std::exception& e) {
      co_return http::ErrorResponse(Status::service_unavailable,
                                    std::string("database: ") + e.what());
    }
    co_return http::JsonResponse(Status::ok, {{"status", "ok"}, {"slice", slice.slice_id}});
  });
  router.Add(verb::get, "/ready", [&slice](Exchange&) -> Reply {
    co_return http::JsonResponse(Status::ok, {{"status", "ready"}, {"slice", slice.slice_id}});
  });
  router.Add(verb::get, "/metrics", [&slice](Exchange&) -> Reply {
    Response res{Status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
    res.body() = slice.metrics.Serialize();
    co_return res;
  });
  router.Add(verb::get, "/api/status", [&slice](Exchange&) -> Reply {
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now() - slice.started);
    channel::ChannelState channel = slice.messaging.ChannelStatus();
    // The load the monitor records beside memory (crmctl calibrate --from-db fits on it).
    // The monitor asks every minute: an idle slice answers from what its dispatcher read before
    // it closed its connection, without a backend (what changes the queue meanwhile, an enqueue
    // or a cancel, wakes the dispatcher, which then reads the database again).
    std::optional<long long> idle_depth = slice.messaging.IdleQueueDepth();
    long long pending =
        idle_depth ? *idle_depth : co_await slice.queue.Read([](pqxx::read_transaction& tx) {
          return queue::PendingDepth(tx);
        });
    co_return http::JsonResponse(
        Status::ok, {{"state", "running"},
                     {"slice", slice.slice_id},
                     {"phone", channel.phone.empty() ? json(nullptr) : json(channel.phone)},
                     {"uptime_s", uptime.count()},
                     {"streams", slice.events.subscribers()},
                     {"pending_tasks", pending},
                     {"channel", ChannelBlock(channel)}});
  });
}

}  // namespace crm::slice
