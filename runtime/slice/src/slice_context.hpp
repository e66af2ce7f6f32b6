// What every route file of a slice works with: the slice's database, its live events and its
// messaging. Owned by RunSliceProcess; outlives the router.
#pragma once

#include <chrono>
#include <cstddef>

#include "crm/http/metrics.hpp"
#include "crm/http/route_context.hpp"
#include "crm/slice/events.hpp"
#include "crm/slice/messaging.hpp"

namespace crm::slice {

using namespace http::route_names;  // Exchange, Reply, Response, Status, json, bhttp

struct SliceContext {
  long long slice_id = 0;
  http::DbCall db;
  /// Where the queue's tables are (broadcasts, their progress, the depth): the same pool as db,
  /// or the queue database's (QUEUE_DATABASE_URL; docs/architecture.md, "The queue database").
  http::DbCall queue;
  EventHub& events;
  Messaging& messaging;
  http::Metrics& metrics;
  long long queue_max_depth = 50'000;    ///< QUEUE_MAX_DEPTH: pending tasks before a 429
  std::size_t upload_max_rows = 50'000;  ///< UPLOAD_MAX_ROWS: recipients/rows before a 413
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

}  // namespace crm::slice
