#include "crm/slice/slice.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <fstream>

#include "broadcast_routes.hpp"
#include "channel_routes.hpp"
#include "contact_routes.hpp"
#include "conversation_routes.hpp"
#include "crm/config/logging.hpp"
#include "crm/db/pool.hpp"
#include "crm/http/blocking.hpp"
#include "crm/http/server.hpp"
#include "event_routes.hpp"
#include "export_routes.hpp"
#include "message_routes.hpp"
#include "slice_context.hpp"
#include "status_routes.hpp"

namespace crm::slice {
namespace {

namespace asio = boost::asio;

// An idle tenant holds no PostgreSQL backend: connections unused for `age` are closed, found
// within half of it (at most 30 s late).
asio::awaitable<void> CloseIdleConnections(db::Pool& pool, http::BlockingPool& blocking,
                                           Messaging& messaging, std::chrono::milliseconds age) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto every = std::min<std::chrono::milliseconds>(age / 2, std::chrono::seconds(30));
  for (;;) {
    timer.expires_after(every);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      co_return;
    }
    co_await blocking.Run([&] {
      messaging.CloseIdle(age);
      return pool.CloseIdle(age);
    });
  }
}

void AddRoutes(http::Router& router, SliceContext& slice) {
  AddStatusRoutes(router, slice);
  AddContactRoutes(router, slice);
  AddConversationRoutes(router, slice);
  AddMessageRoutes(router, slice);
  AddEventRoutes(router, slice);
  AddChannelRoutes(router, slice);
  AddBroadcastRoutes(router, slice);
  AddExportRoutes(router, slice);
}

// This process's memory and CPU cgroups ("memory:/crmd-slices/slice_7 cpu:/…"), as
// /proc/self/cgroup has them: what the slice, and anything it starts, is limited by.
std::string OwnGroups() {
  std::ifstream in("/proc/self/cgroup");
  std::string out;
  for (std::string line; std::getline(in, line);) {
    auto first = line.find(':');
    auto second = line.find(':', first == std::string::npos ? 0 : first + 1);
    if (second == std::string::npos) {
      continue;
    }
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string list = "," + controllers + ",";
    if (controllers.empty() || list.find(",memory,") != std::string::npos ||
        list.find(",cpu,") != std::string::npos) {
      out += (out.empty() ? "" : " ") +
             (controllers.empty() ? std::string("unified") : controllers) + ":" +
             line.substr(second + 1);
    }
  }
  return out;
}

}  // namespace

int RunSliceProcess(const SliceOptions& options) {
  long long slice_id = options.slice_id;
  config::SetupLogging("slice-" + std::to_string(slice_id), options.log_level);
  // The first line of its log: the groups it was started in (it joins them before exec).
  spdlog::info("slice {} started in cgroups {}", slice_id, OwnGroups());
  http::BlockStopSignals();  // before the channel's and the dispatcher's threads start
  db::Pool pool(options.database);
  std::optional<db::Pool> queue_pool;
  if (options.queue_database) {
    queue_pool.emplace(*options.queue_database);
    // As for the slice's schema: a queue schema missing or out of reach is a reason in the log.
    queue_pool->Read(
        [](pqxx::read_transaction& tx) { tx.exec("SELECT count(*) FROM schema_migrations"); });
  }
  http::BlockingPool blocking(options.database.max_size);
  http::IoPool io(1);
  http::Metrics metrics;
  EventHub events(options.max_event_streams);
  Messaging messaging(options.messaging, events, queue_pool ? &*queue_pool : nullptr);
  // Refuse to serve a slice whose schema is missing or unreachable: the orchestrator's health
  // check then sees a process that exited with a reason in its log. On the channel's pool (the
  // same schema and role): its channel's start and its dispatcher's first look reuse the
  // connection, so a slice's start opens one backend. A fresh slice's provisioning migrated the
  // schema just before starting it, and its channel's state and queue are known empty: its start
  // opens none, and its first request connects as an idle slice's does (docs/architecture.md,
  // "Processes").
  if (!options.fresh) {
    messaging.channel_db().Read(
        [](pqxx::read_transaction& tx) { tx.exec("SELECT count(*) FROM schema_migrations"); });
  }
  SliceContext slice{slice_id,
                     http::DbCall(blocking, pool),
                     http::DbCall(blocking, queue_pool ? *queue_pool : pool),
                     events,
                     messaging,
                     metrics,
                     options.queue_max_depth,
                     options.upload_max_rows};
  http::Router router;
  AddRoutes(router, slice);
  messaging.Start();
  // Until a request comes, the slice holds no backend of its own pools: the start's checks are
  // done, and a slice just provisioned (a warm one, most of them) may wait long for its tenant.
  // A thousand provisioned at once would otherwise keep two backends each for their first
  // idle_close, which every DDL of the next provisionings pays for (docs/benchmarks.md,
  // "Density"). Its first request connects, as an idle slice's does.
  messaging.CloseIdle(std::chrono::milliseconds(0));
  pool.CloseIdle(std::chrono::milliseconds(0));
  http::Server server(
      io, options.limits, [&router](http::Exchange& ex) { return router.Dispatch(ex); }, &metrics);
  auto bound = server.Listen(options.listen);
  if (bound.is_unix) {
    // Under a uid of its own the slice's socket is its own file: crmd (another uid, its
    // directory's group) must be able to connect. The directory (0770) keeps everyone else out.
    std::error_code ec;
    std::filesystem::permissions(
        bound.path,
        std::filesystem::perms::all &
            ~(std::filesystem::perms::owner_exec | std::filesystem::perms::group_exec |
              std::filesystem::perms::others_exec),
        std::filesystem::perm_options::replace, ec);
  }
  server.Start();
  asio::co_spawn(io.First(), CloseIdleConnections(pool, blocking, messaging, options.db_idle_close),
                 asio::detached);
  spdlog::info("slice {} serving on {}", slice_id, bound.ToString());
  http::ServeUntilSignal(io, server, options.drain_timeout, [&] { messaging.Stop(); });
  return 0;
}

}  // namespace crm::slice
