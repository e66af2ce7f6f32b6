#include "crm/slicehost/shard_leases.hpp"

namespace crm::slicehost {
namespace {

long long Ms(std::chrono::milliseconds d) {
  return d.count();
}

// Rows hold basis points, as ShardRange does.
queue::ShardRange RangeOf(const pqxx::row& r) {
  return {r["from_bp"].as<int>(), r["to_bp"].as<int>()};
}

}  // namespace

Beat ShardLeases::Heartbeat(pqxx::work& tx) {
  Beat beat;
  const auto& me = options_.holder;
  const auto& own = options_.own;
  const long long ttl = Ms(options_.ttl);
  // Another live lease overlapping ours: two hosts configured with overlapping ranges. Serving
  // anyway would run a tenant twice; the dispatcher's lease would still stop double sends.
  auto overlap = tx.exec_params(
      "SELECT from_bp, to_bp, holder FROM gateway.shard_leases WHERE expires_at > now() "
      "AND holder <> $1 AND from_bp < $3 AND to_bp > $2 AND NOT (from_bp = $2 AND "
      "to_bp = $3)",
      me, own.from, own.to);
  if (!overlap.empty()) {
    beat.notes.push_back("WORKER_SHARD_RANGE " + queue::ShardRangeText(own) + " overlaps range " +
                         queue::ShardRangeText(RangeOf(overlap[0])) + " of host " +
                         overlap[0]["holder"].as<std::string>() +
                         ": not serving it; give each slice host a range of its own");
  } else {
    auto claimed = tx.exec_params(
        "INSERT INTO gateway.shard_leases (from_bp, to_bp, home, holder, address, "
        "expires_at) VALUES ($1, $2, $3, $3, $3, now() + make_interval(secs => $4 / 1000.0)) "
        "ON CONFLICT (from_bp, to_bp) DO UPDATE SET home = EXCLUDED.home, holder = "
        "EXCLUDED.holder, address = EXCLUDED.address, expires_at = EXCLUDED.expires_at, "
        "wanted_by = NULL WHERE shard_leases.holder = EXCLUDED.holder OR shard_leases.expires_at "
        "< now() RETURNING 1",
        own.from, own.to, me, ttl);
    if (!claimed.empty()) {
      beat.held.push_back(own);
      waiting_logged_ = false;
    } else {
      // A survivor adopted it while this host was away: ask for it back.
      auto holder = tx.exec_params(
          "UPDATE gateway.shard_leases SET wanted_by = $3 WHERE from_bp = $1 AND to_bp = $2 "
          "RETURNING holder",
          own.from, own.to, me);
      if (!waiting_logged_ && !holder.empty()) {
        beat.notes.push_back("range " + queue::ShardRangeText(own) + " is served by " +
                             holder[0][0].as<std::string>() +
                             " since this host's lease expired; asked for it back");
        waiting_logged_ = true;
      }
    }
  }
  for (const auto& r : tx.exec_params(
           "SELECT from_bp, to_bp, wanted_by FROM gateway.shard_leases WHERE holder = $1 "
           "AND NOT (from_bp = $2 AND to_bp = $3)",
           me, own.from, own.to)) {
    if (r["wanted_by"].is_null()) {
      beat.held.push_back(RangeOf(r));
    } else {
      beat.handing_back.push_back(RangeOf(r));
    }
  }
  tx.exec_params(
      "UPDATE gateway.shard_leases SET expires_at = now() + make_interval(secs => $2 / 1000.0) "
      "WHERE holder = $1 AND wanted_by IS NULL",
      me, ttl);
  if (options_.adopt) {
    // An expired lease whose home asked for it is left one more lease time for the home.
    for (const auto& r : tx.exec_params(
             "UPDATE gateway.shard_leases SET holder = $1, address = $1, expires_at = now() + "
             "make_interval(secs => $2 / 1000.0) WHERE holder <> $1 AND (wanted_by IS NULL AND "
             "expires_at < now() OR expires_at < now() - make_interval(secs => $2 / 1000.0)) "
             "RETURNING from_bp, to_bp, home",
             me, ttl)) {
      beat.held.push_back(RangeOf(r));
      beat.notes.push_back("adopted range " + queue::ShardRangeText(RangeOf(r)) + " of host " +
                           r["home"].as<std::string>() + ": its lease expired");
    }
  }
  return beat;
}

void ShardLeases::Release(pqxx::work& tx, const queue::ShardRange& range) {
  tx.exec_params(
      "UPDATE gateway.shard_leases SET holder = home, address = home, expires_at = now() - "
      "interval '1 millisecond' WHERE from_bp = $1 AND to_bp = $2 AND holder = $3",
      range.from, range.to, options_.holder);
}

}  // namespace crm::slicehost
