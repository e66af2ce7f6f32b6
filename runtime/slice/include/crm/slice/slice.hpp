// One slice process (`crmd --role slice --slice-id N`): the tenant's CRM API on its own schema
// `slice_<N>`, reached through its own database role.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "crm/db/pool.hpp"
#include "crm/http/endpoint.hpp"
#include "crm/http/limits.hpp"
#include "crm/slice/messaging.hpp"

namespace crm::slice {

struct SliceOptions {
  long long slice_id = 0;
  std::string log_level = "info";
  http::Endpoint listen;
  http::ServerLimits limits;
  std::chrono::milliseconds drain_timeout{10'000};
  /// The pool serving HTTP requests (search_path = the slice's schema); as many blocking
  /// threads as connections.
  db::PoolOptions database;
  /// The queue database's pool (QUEUE_DATABASE_URL; docs/architecture.md, "The queue
  /// database"); nullopt: the queue is in the slice's schema.
  std::optional<db::PoolOptions> queue_database;
  /// Pooled connections (this pool's and messaging's) unused this long are closed: an idle
  /// tenant holds no PostgreSQL backend.
  std::chrono::milliseconds db_idle_close{60'000};
  long long queue_max_depth = 50'000;  ///< pending tasks past which broadcasts are refused
  std::size_t max_event_streams = 20;  ///< open GET /api/events at once; the next gets 429
  /// Recipients in one broadcast, rows in one contact import; more is refused (413) while the
  /// upload is read, before it is held in memory as a whole.
  std::size_t upload_max_rows = 50'000;
  MessagingOptions messaging;
  /// Started by its provisioning (CRM_SLICE_FRESH), which migrated the schema just before: the
  /// start's schema check is skipped, and the start opens no database connection.
  bool fresh = false;
};

/// Runs a slice process until SIGTERM/SIGINT: /api/contacts…, /api/conversations…, /api/export,
/// /api/messages, /api/broadcasts…, /api/channel…, /api/status, /api/events, and /health,
/// /ready, /metrics. Returns the exit code.
int RunSliceProcess(const SliceOptions& options);

}  // namespace crm::slice
