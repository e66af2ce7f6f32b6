#include "crm/slice/slice.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>

#include "crm/config/logging.hpp"
#include "crm/error.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/queue/store.hpp"
#include "crm/slice/validation.hpp"

namespace crm::slice {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Reply;
using http::Response;
using http::Status;
using nlohmann::json;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

json Parse(const pqxx::field& f) {
  return json::parse(f.c_str());
}

// Rows whose first column is a JSON document, as an array.
json JsonRows(const pqxx::result& rows) {
  json items = json::array();
  for (const auto& r : rows) {
    items.push_back(Parse(r[0]));
  }
  return items;
}

// {items, next_cursor}: a full page has a next one, which starts after its last item.
Response PageResponse(json items, int limit) {
  json next = nullptr;
  if (static_cast<int>(items.size()) == limit) {
    next = std::to_string(items.back()["id"].get<long long>());
  }
  return http::JsonResponse(Status::ok, {{"items", std::move(items)}, {"next_cursor", next}});
}

// LIKE pattern matching `q` literally anywhere.
std::string Contains(const std::string& q) {
  std::string out = "%";
  for (char c : q) {
    if (c == '%' || c == '_' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "%";
}

std::string TagsJson(const std::optional<std::vector<std::string>>& tags) {
  return tags ? json(*tags).dump() : "null";
}

NotFound NoSuch(const std::string& what, long long id) {
  return NotFound("no " + what + " with id " + std::to_string(id));
}

Conflict DuplicatePhone(const std::string& phone) {
  return Conflict("a contact with phone " + phone + " already exists", "phone");
}

const char* kContactColumns = "id, name, phone, tags, created_at, updated_at";

}  // namespace

SliceApi::SliceApi(long long slice_id, db::Pool& pool, http::BlockingPool& blocking,
                   http::Metrics& metrics, EventHub& events, Messaging& messaging)
    : slice_id_(slice_id),
      db_(blocking, pool),
      metrics_(metrics),
      events_(events),
      messaging_(messaging) {}

void SliceApi::Register(http::Router& router) {
  using bhttp::verb;

  router.Add(verb::get, "/health", [this](Exchange&) -> Reply {
    try {
      co_await db_([](pqxx::connection& c) { pqxx::nontransaction(c).exec("SELECT 1"); });
    } catch (const std::exception& e) {
      co_return http::ErrorResponse(Status::service_unavailable,
                                    std::string("database: ") + e.what());
    }
    co_return http::JsonResponse(Status::ok, {{"status", "ok"}, {"slice", slice_id_}});
  });
  router.Add(verb::get, "/ready", [this](Exchange&) -> Reply {
    co_return http::JsonResponse(Status::ok, {{"status", "ready"}, {"slice", slice_id_}});
  });
  router.Add(verb::get, "/metrics", [this](Exchange&) -> Reply {
    Response res{Status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
    res.body() = metrics_.Serialize();
    co_return res;
  });

  router.Add(verb::get, "/api/status", [this](Exchange&) -> Reply {
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now() - started_);
    channel::ChannelState channel = messaging_.ChannelStatus();
    co_return http::JsonResponse(
        Status::ok, {{"state", "running"},
                     {"slice", slice_id_},
                     {"phone", channel.phone.empty() ? json(nullptr) : json(channel.phone)},
                     {"uptime_s", uptime.count()},
                     {"channel", {{"kind", channel.kind}, {"state", channel.state}}}});
  });

  // --- contacts -------------------------------------------------------------------------------
  router.Add(verb::post, "/api/contacts", [this](Exchange& ex) -> Reply {
    ContactInput in = ParseContact(http::ParseJsonBody(ex.request()), false);
    json contact = co_await db_([&in](pqxx::connection& c) {
      pqxx::work tx(c);
      try {
        auto row = tx.exec_params1(
            "INSERT INTO contacts (name, phone, tags) "
            "SELECT $1, $2, coalesce(ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), '{}') "
            "RETURNING row_to_json(contacts)::text",
            *in.name, *in.phone, in.tags ? json(*in.tags).dump() : "[]");
        tx.commit();
        return Parse(row[0]);
      } catch (const pqxx::unique_violation&) {
        throw DuplicatePhone(*in.phone);
      }
    });
    events_.Publish("contact.created", contact.dump());
    Response res = http::JsonResponse(Status::created, contact);
    res.set(bhttp::field::location,
            "/api/contacts/" + std::to_string(contact["id"].get<long long>()));
    co_return res;
  });

  router.Add(verb::get, "/api/contacts", [this](Exchange& ex) -> Reply {
    auto target = ex.request().target();
    auto q = http::QueryParam(target, "q");
    PageRequest page = ParsePage(target);
    if (q && q->size() > 200) {
      throw InputError("q: at most 200 characters", "q");
    }
    std::string query = q.value_or("");
    json items = co_await db_([&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto rows = tx.exec_params(std::string("SELECT row_to_json(t)::text FROM (SELECT ") +
                                     kContactColumns +
                                     " FROM contacts WHERE id > $1 AND ($2 = '' OR name ILIKE $3 "
                                     "OR phone LIKE $3 OR $2 = ANY(tags)) "
                                     "ORDER BY id LIMIT $4) t",
                                 page.cursor, query, Contains(query), page.limit);
      return JsonRows(rows);
    });
    co_return PageResponse(std::move(items), page.limit);
  });

  router.Add(verb::get, "/api/contacts/{id}", [this](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    json contact = co_await db_([id](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto rows = tx.exec_params(std::string("SELECT row_to_json(t)::text FROM (SELECT ") +
                                     kContactColumns + " FROM contacts WHERE id = $1) t",
                                 id);
      if (rows.empty()) {
        throw NoSuch("contact", id);
      }
      return Parse(rows[0][0]);
    });
    co_return http::JsonResponse(Status::ok, contact);
  });

  router.Add(verb::patch, "/api/contacts/{id}", [this](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    ContactInput in = ParseContact(http::ParseJsonBody(ex.request()), true);
    json contact = co_await db_([&](pqxx::connection& c) {
      pqxx::work tx(c);
      try {
        auto rows = tx.exec_params(
            "UPDATE contacts SET name = coalesce($2, name), phone = coalesce($3, phone), "
            "tags = CASE WHEN $4::jsonb = 'null'::jsonb THEN tags "
            "            ELSE coalesce(ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), '{}') "
            "END, "
            "updated_at = now() WHERE id = $1 RETURNING row_to_json(contacts)::text",
            id, in.name ? in.name->c_str() : nullptr, in.phone ? in.phone->c_str() : nullptr,
            TagsJson(in.tags));
        if (rows.empty()) {
          throw NoSuch("contact", id);
        }
        tx.commit();
        return Parse(rows[0][0]);
      } catch (const pqxx::unique_violation&) {
        throw DuplicatePhone(*in.phone);
      }
    });
    events_.Publish("contact.updated", contact.dump());
    co_return http::JsonResponse(Status::ok, contact);
  });

  router.Add(verb::delete_, "/api/contacts/{id}", [this](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    co_await db_([id](pqxx::connection& c) {
      pqxx::work tx(c);
      if (tx.exec_params("DELETE FROM contacts WHERE id = $1", id).affected_rows() == 0) {
        throw NoSuch("contact", id);
      }
      tx.commit();
    });
    events_.Publish("contact.deleted", json{{"id", id}}.dump());
    Response res{Status::no_content, 11};
    co_return res;
  });

  // --- conversations and messages --------------------------------------------------------------
  static const std::string kConversationJson =
      "SELECT json_build_object('id', v.id, 'contact', json_build_object('id', c.id, 'name', "
      "c.name, 'phone', "
      "c.phone), 'last_message_at', v.last_message_at, 'unread', v.unread, 'created_at', "
      "v.created_at)::text "
      "FROM conversations v JOIN contacts c ON c.id = v.contact_id ";

  router.Add(verb::get, "/api/conversations", [this](Exchange& ex) -> Reply {
    PageRequest page = ParsePage(ex.request().target());
    json items = co_await db_([&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto rows = tx.exec_params(
          kConversationJson + "WHERE ($1 = 0 OR v.id < $1) ORDER BY v.id DESC LIMIT $2",
          page.cursor, page.limit);
      return JsonRows(rows);
    });
    co_return PageResponse(std::move(items), page.limit);
  });

  router.Add(verb::post, "/api/conversations", [this](Exchange& ex) -> Reply {
    json body = http::ParseJsonBody(ex.request());
    auto it = body.find("contact_id");
    if (it == body.end() || !it->is_number_integer() || it->get<long long>() <= 0) {
      throw InputError("contact_id: expected the id of a contact (a positive whole number)",
                       "contact_id");
    }
    long long contact_id = it->get<long long>();
    auto [conversation, created] = co_await db_([&](pqxx::connection& c) {
      pqxx::work tx(c);
      if (tx.exec_params("SELECT 1 FROM contacts WHERE id = $1", contact_id).empty()) {
        throw NoSuch("contact", contact_id);
      }
      auto inserted = tx.exec_params(
          "INSERT INTO conversations (contact_id) VALUES ($1) ON CONFLICT (contact_id) DO NOTHING "
          "RETURNING id",
          contact_id);
      auto row = tx.exec_params1(kConversationJson + "WHERE v.contact_id = $1", contact_id);
      tx.commit();
      return std::pair(Parse(row[0]), !inserted.empty());
    });
    co_return http::JsonResponse(created ? Status::created : Status::ok, conversation);
  });

  router.Add(verb::get, "/api/conversations/{id}", [this](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    json conversation = co_await db_([&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto rows = tx.exec_params(kConversationJson + "WHERE v.id = $1", id);
      if (rows.empty()) {
        throw NoSuch("conversation", id);
      }
      return Parse(rows[0][0]);
    });
    co_return http::JsonResponse(Status::ok, conversation);
  });

  router.Add(verb::get, "/api/conversations/{id}/messages", [this](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    PageRequest page = ParsePage(ex.request().target());
    json items = co_await db_([&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      if (tx.exec_params("SELECT 1 FROM conversations WHERE id = $1", id).empty()) {
        throw NoSuch("conversation", id);
      }
      auto rows = tx.exec_params(
          "SELECT row_to_json(m)::text FROM (SELECT id, conversation_id, direction, body, status, "
          "error, created_at "
          "FROM messages WHERE conversation_id = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT "
          "$3) m",
          id, page.cursor, page.limit);
      return JsonRows(rows);
    });
    co_return PageResponse(std::move(items), page.limit);
  });

  router.Add(verb::post, "/api/conversations/{id}/messages", [this](Exchange& ex) -> Reply {
    long long id = ParseId(ex.params()["id"], "id");
    json body = http::ParseJsonBody(ex.request());
    std::string text = http::RequireString(body, "body", 1, 4096);
    std::string direction = http::OptionalString(body, "direction", 1, 20).value_or("outbound");
    if (direction != "outbound" && direction != "inbound") {
      throw InputError("direction: expected \"outbound\" or \"inbound\", got \"" + direction + "\"",
                       "direction");
    }
    json message = co_await db_([&](pqxx::connection& c) {
      pqxx::work tx(c);
      auto rows = tx.exec_params(
          "WITH m AS (INSERT INTO messages (conversation_id, direction, body, status) "
          "  SELECT id, $2, $3, CASE WHEN $2 = 'inbound' THEN 'received' ELSE 'queued' END "
          "  FROM conversations WHERE id = $1 RETURNING *), "
          "u AS (UPDATE conversations SET last_message_at = now(), "
          "  unread = unread + CASE WHEN $2 = 'inbound' THEN 1 ELSE 0 END WHERE id = $1) "
          "SELECT row_to_json(x)::text, (SELECT c.phone FROM conversations v JOIN contacts c ON "
          "  c.id = v.contact_id WHERE v.id = $1) FROM (SELECT id, conversation_id, direction, "
          "  body, status, error, created_at FROM m) x",
          id, direction, text);
      if (rows.empty()) {
        throw NoSuch("conversation", id);
      }
      json m = Parse(rows[0][0]);
      if (direction == "outbound") {
        queue::EnqueueMessage(tx, m["id"].get<long long>(), rows[0][1].c_str());
      }
      tx.commit();
      return m;
    });
    if (direction == "outbound") {
      messaging_.Wake();
    }
    events_.Publish("message.created", message.dump());
    co_return http::JsonResponse(Status::created, message);
  });

  // --- live events (server-sent events) --------------------------------------------------------
  router.Add(verb::get, "/api/events", [this](Exchange& ex) -> Reply {
    auto executor = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(executor);
    auto subscriber = events_.Subscribe(
        [timer, executor] { asio::post(executor, [timer] { timer->cancel(); }); });
    bool stop = false;
    ex.OnStop([timer, &stop] {
      stop = true;
      timer->cancel();
    });
    bhttp::response<bhttp::empty_body> head{Status::ok, 11};
    head.set(bhttp::field::content_type, "text/event-stream");
    head.set(bhttp::field::cache_control, "no-store");
    head.chunked(true);
    head.keep_alive(false);
    bhttp::response_serializer<bhttp::empty_body> serializer{head};
    auto& stream = ex.stream();
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await bhttp::async_write_header(stream, serializer, kUseTuple);
    std::string hello = "retry: 2000\n: connected to slice " + std::to_string(slice_id_) + "\n\n";
    if (!ec) {
      std::tie(ec, n) =
          co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(hello)), kUseTuple);
    }
    while (!ec && !stop && !ex.stopping()) {
      std::deque<std::string> batch;
      bool overflowed = false;
      {
        std::lock_guard lock(subscriber->mutex);
        batch.swap(subscriber->pending);
        overflowed = subscriber->overflowed;
      }
      if (overflowed) {
        break;  // the client fell too far behind; it reconnects (retry:) and reloads
      }
      for (const auto& frame : batch) {
        stream.expires_after(std::chrono::seconds(30));
        std::tie(ec, n) =
            co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(frame)), kUseTuple);
        if (ec) {
          break;
        }
      }
      if (batch.empty() && !ec) {
        timer->expires_after(std::chrono::seconds(15));
        auto [wait_ec] = co_await timer->async_wait(kUseTuple);
        if (!wait_ec) {
          static const std::string kPing = ": ping\n\n";
          stream.expires_after(std::chrono::seconds(30));
          std::tie(ec, n) =
              co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(kPing)), kUseTuple);
        }
      }
    }
    events_.Unsubscribe(subscriber);
    ex.OnStop(nullptr);
    if (!ec) {
      stream.expires_after(std::chrono::seconds(1));
      co_await asio::async_write(stream, bhttp::make_chunk_last(), kUseTuple);
    }
    co_return std::nullopt;
  });
}

int RunSliceProcess(const config::RuntimeConfig& config, long long slice_id) {
  std::string name = "slice_" + std::to_string(slice_id);
  config::SetupLogging("slice-" + std::to_string(slice_id), config.log_level);
  http::BlockStopSignals();  // before the channel's and the dispatcher's threads start
  db::PoolOptions options;
  options.url = config.database_url;
  options.password = config.database_password;
  options.max_size = static_cast<std::size_t>(config.slice_db_max_open_conns);
  options.statement_timeout = config.statement_timeout;
  options.application_name = "crmd-" + name;
  options.search_path = name;
  db::Pool pool(options);
  // Refuse to serve a slice whose schema is missing or unreachable: the orchestrator's health
  // check then sees a process that exited with a reason in its log.
  pool.Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    tx.exec("SELECT count(*) FROM schema_migrations");
  });
  http::BlockingPool blocking(static_cast<std::size_t>(config.slice_db_max_open_conns));
  asio::io_context io(1);
  http::Metrics metrics;
  EventHub events;
  Messaging messaging(config, slice_id, pool, blocking, events);
  SliceApi api(slice_id, pool, blocking, metrics, events, messaging);
  http::Router router;
  api.Register(router);
  messaging.Register(router);
  messaging.Start();
  http::Server server(
      io, http::LimitsFrom(config), [&router](Exchange& ex) { return router.Dispatch(ex); },
      &metrics);
  auto bound = server.Listen(http::ParseEndpoint(config.listen));
  server.Start();
  // An idle tenant holds no PostgreSQL backend: connections unused for a minute are closed.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io);
        for (;;) {
          timer.expires_after(std::chrono::seconds(30));
          auto [ec] = co_await timer.async_wait(kUseTuple);
          if (ec) {
            co_return;
          }
          co_await blocking.Run([&] {
            messaging.CloseIdle(std::chrono::seconds(60));
            return pool.CloseIdle(std::chrono::seconds(60));
          });
        }
      },
      asio::detached);
  spdlog::info("slice {} serving on {}", slice_id, bound.ToString());
  http::ServeUntilSignal(io, server, 1, config.drain_timeout, [&] { messaging.Stop(); });
  return 0;
}

}  // namespace crm::slice
