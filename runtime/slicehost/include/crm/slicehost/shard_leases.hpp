// Which tenant hash ranges a slice host serves (docs/architecture.md, "Scale-out"): its own
// range under a lease it renews, plus the ranges of hosts whose leases expired (adopted), which
// it hands back when their home host asks for them again. Rows in gateway.shard_leases.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <string>
#include <vector>

#include "crm/queue/rate.hpp"

namespace crm::slicehost {

struct ShardLeaseOptions {
  /// This host's name, unique among slice hosts: where gateways reach it ("10.0.0.5:8081");
  /// empty: the address the host bound.
  std::string holder;
  queue::ShardRange own;  ///< WORKER_SHARD_RANGE, or the StatefulSet ordinal's share
  std::chrono::milliseconds ttl{15'000};
  bool adopt = true;  ///< take over the ranges of hosts whose leases expired
};

/// What one heartbeat found.
struct Beat {
  std::vector<queue::ShardRange> held;  ///< serve these
  /// Adopted ranges whose home host is back: stop their slices, then Release them.
  std::vector<queue::ShardRange> handing_back;
  std::vector<std::string> notes;  ///< what changed, for the log
};

class ShardLeases {
 public:
  explicit ShardLeases(ShardLeaseOptions options) : options_(std::move(options)) {}

  /// Claims or renews this host's own range, renews the adopted ones, adopts expired ones.
  /// Runs in the caller's transaction (committed by the caller).
  Beat Heartbeat(pqxx::work& tx);
  /// Lets an adopted range go (after its slices stopped here): its home claims it next.
  void Release(pqxx::work& tx, const queue::ShardRange& range);

  const ShardLeaseOptions& options() const { return options_; }

 private:
  ShardLeaseOptions options_;
  bool waiting_logged_ = false;
};

}  // namespace crm::slicehost
