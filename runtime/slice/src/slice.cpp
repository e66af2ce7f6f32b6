#include "crm/slice/slice.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broadcast_routes.hpp"
#include "channel_routes.hpp"
#include "contact_routes.hpp"
#include "conversation_routes.hpp"
#include "crm/config/logging.hpp"
#include "crm/db/pool.hpp"
#include "crm/http/blocking.hpp"
#include "crm/http/server.hpp"
#include "event_routes.hpp"
#include "message_routes.hpp"
#include "slice_context.hpp"
#include "status_routes.hpp"

namespace crm::slice {
namespace {

namespace asio = boost::asio;

db::PoolOptions SlicePoolOptions(const config::RuntimeConfig& config, long long slice_id) {
  std::string name = "slice_" + std::to_string(slice_id);
  db::PoolOptions options;
  options.url = config.database_url;
  options.password = config.database_password;
  options.max_size = static_cast<std::size_t>(config.slice_db_max_open_conns);
  options.statement_timeout = config.statement_timeout;
  options.application_name = "crmd-" + name;
  options.search_path = name;
  return options;
}

// An idle tenant holds no PostgreSQL backend: connections unused for a minute are closed.
asio::awaitable<void> CloseIdleConnections(db::Pool& pool, http::BlockingPool& blocking,
                                           Messaging& messaging) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(30));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      co_return;
    }
    co_await blocking.Run([&] {
      messaging.CloseIdle(std::chrono::seconds(60));
      return pool.CloseIdle(std::chrono::seconds(60));
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
}

}  // namespace

int RunSliceProcess(const config::RuntimeConfig& config, long long slice_id) {
  config::SetupLogging("slice-" + std::to_string(slice_id), config.log_level);
  http::BlockStopSignals();  // before the channel's and the dispatcher's threads start
  db::Pool pool(SlicePoolOptions(config, slice_id));
  // Refuse to serve a slice whose schema is missing or unreachable: the orchestrator's health
  // check then sees a process that exited with a reason in its log.
  pool.Read([](pqxx::read_transaction& tx) { tx.exec("SELECT count(*) FROM schema_migrations"); });
  http::BlockingPool blocking(static_cast<std::size_t>(config.slice_db_max_open_conns));
  asio::io_context io(1);
  http::Metrics metrics;
  EventHub events;
  Messaging messaging(config, slice_id, events);
  SliceContext slice{slice_id, http::DbCall(blocking, pool), events, messaging,
                     metrics,  config.queue_max_depth};
  http::Router router;
  AddRoutes(router, slice);
  messaging.Start();
  http::Server server(
      io, http::LimitsFrom(config), [&router](http::Exchange& ex) { return router.Dispatch(ex); },
      &metrics);
  auto bound = server.Listen(http::ParseEndpoint(config.listen));
  server.Start();
  asio::co_spawn(io, CloseIdleConnections(pool, blocking, messaging), asio::detached);
  spdlog::info("slice {} serving on {}", slice_id, bound.ToString());
  http::ServeUntilSignal(io, server, 1, config.drain_timeout, [&] { messaging.Stop(); });
  return 0;
}

}  // namespace crm::slice
