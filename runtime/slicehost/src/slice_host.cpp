#include "crm/slicehost/slice_host.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <prometheus/gauge.h>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <mutex>

#include <thread>

#include "crm/config/logging.hpp"
#include "crm/db/listener.hpp"
#include "crm/db/migrations.hpp"
#include "crm/http/metrics.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
#include "crm/http/server.hpp"
#include "crm/http/upstream.hpp"

namespace crm::slicehost {
namespace {

namespace bhttp = boost::beast::http;
using orchestrator::kGatewayTokenHeader;
using Clock = std::chrono::steady_clock;

// The ranges this host serves now, asked from any thread.
class HeldRanges {
 public:
  bool Serves(long long slice_id) const {
    std::lock_guard lock(mutex_);
    for (const auto& r : held_) {
      if (r.Owns(slice_id)) {
        return true;
      }
    }
    return false;
  }
  /// Replaces the set; true when it changed.
  bool Set(std::vector<queue::ShardRange> held) {
    std::lock_guard lock(mutex_);
    auto key = [](const std::vector<queue::ShardRange>& v) {
      std::vector<std::pair<int, int>> k;
      for (const auto& r : v) {
        k.emplace_back(r.from, r.to);
      }
      std::sort(k.begin(), k.end());
      return k;
    };
    bool changed = key(held) != key(held_);
    held_ = std::move(held);
    return changed;
  }
  nlohmann::json ToJson() const {
    std::lock_guard lock(mutex_);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : held_) {
      out.push_back(queue::ShardRangeText(r));
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<queue::ShardRange> held_;
};

// Renews the leases every third of their time; a host that could not renew for a whole lease
// time stops serving (a survivor may have adopted its ranges by then).
class LeaseKeeper {
 public:
  LeaseKeeper(ShardLeases& leases, db::Pool& pool, HeldRanges& held,
              orchestrator::Orchestrator& slices)
      : leases_(leases), pool_(pool), held_(held), slices_(slices) {}
  ~LeaseKeeper() { Stop(); }

  void Start() {
    Renew();  // before serving: the first ranges come from here
    thread_ = std::thread([this] {
      auto every = leases_.options().ttl / 3;
      std::unique_lock lock(mutex_);
      while (!stop_) {
        stopped_.wait_for(lock, every, [this] { return stop_; });
        if (stop_) {
          break;
        }
        lock.unlock();
        Renew();
        lock.lock();
      }
    });
  }

  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    stopped_.notify_all();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  void Renew() {
    Beat beat;
    try {
      beat = pool_.Write([this](pqxx::work& tx) { return leases_.Heartbeat(tx); });
      last_beat_ = Clock::now();
    } catch (const std::exception& e) {
      spdlog::warn("shard leases: cannot renew: {}", e.what());
      if (Clock::now() - last_beat_ < leases_.options().ttl) {
        return;  // keep serving what we hold until the lease time has passed
      }
      spdlog::error("shard leases: not renewed for {} ms; stopping every slice here",
                    leases_.options().ttl.count());
    }
    for (const auto& note : beat.notes) {
      spdlog::warn("shard leases: {}", note);
    }
    bool changed = held_.Set(beat.held);
    if (changed) {
      spdlog::info("serving tenant hash ranges {}", held_.ToJson().dump());
    }
    if (changed || !beat.handing_back.empty()) {
      slices_.Reconcile();
    }
    // Their slices stopped above: the home host may take them now.
    for (const auto& range : beat.handing_back) {
      try {
        pool_.Write([&](pqxx::work& tx) { leases_.Release(tx, range); });
        spdlog::info("handed range {} back to its home host", queue::ShardRangeText(range));
      } catch (const std::exception& e) {
        spdlog::warn("shard leases: cannot hand range {} back: {}", queue::ShardRangeText(range),
                     e.what());
      }
    }
  }

  ShardLeases& leases_;
  db::Pool& pool_;
  HeldRanges& held_;
  orchestrator::Orchestrator& slices_;
  Clock::time_point last_beat_ = Clock::now();
  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stop_ = false;
  std::thread thread_;
};

// What the router works with.
struct Router {
  const SliceHostOptions& options;
  HeldRanges& held;
  http::Metrics& metrics;
  prometheus::Gauge& slices_running;
  prometheus::Gauge& ranges_held;
  orchestrator::Orchestrator* slices;  ///< set before the server starts
  std::mutex mutex;
  std::map<long long, std::shared_ptr<http::Upstream>> upstreams;

  std::shared_ptr<http::Upstream> UpstreamOf(long long slice_id) {
    std::lock_guard lock(mutex);
    auto& up = upstreams[slice_id];
    if (!up) {
      up = std::make_shared<http::Upstream>(slices->EndpointOf(slice_id), 32,
                                            std::chrono::seconds(30));
    }
    return up;
  }
};

bool TokenMatches(const std::string& expected, std::string_view given) {
  return given.size() == expected.size() &&
         sodium_memcmp(expected.data(), given.data(), expected.size()) == 0;
}

// "slice-17" → 17.
std::optional<long long> SliceOfHost(std::string_view host) {
  constexpr std::string_view kPrefix = "slice-";
  if (!host.starts_with(kPrefix)) {
    return std::nullopt;
  }
  host.remove_prefix(kPrefix.size());
  long long id = 0;
  auto [end, ec] = std::from_chars(host.data(), host.data() + host.size(), id);
  if (ec != std::errc() || end != host.data() + host.size() || id <= 0) {
    return std::nullopt;
  }
  return id;
}

// The slice's answer, whole, as it gave it (the gateway picks what reaches the browser).
http::Reply Forward(std::shared_ptr<http::Upstream> upstream, http::Exchange& ex) {
  http::Response res = co_await upstream->Send(ex.request());
  co_return res;
}

http::Reply Relay(Router& router, http::Exchange& ex) {
  http::Request& req = ex.request();
  std::string_view path = http::TargetPath(req.target());
  if ((path == "/health" || path == "/ready") && req.method() == bhttp::verb::get) {
    return http::Ready(http::JsonResponse(
        http::Status::ok,
        {{"status", "ok"}, {"role", "slice-host"}, {"ranges", router.held.ToJson()}}));
  }
  if (path == "/metrics" && req.method() == bhttp::verb::get) {
    // For Prometheus on the private network, as the gateway's: counts, no tenant's data.
    router.slices_running.Set(static_cast<double>(router.slices->ProcessCount()));
    router.ranges_held.Set(static_cast<double>(router.held.ToJson().size()));
    http::Response res{http::Status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
    res.body() = router.metrics.Serialize();
    return http::Ready(std::move(res));
  }
  if (!router.options.internal_token.empty() &&
      !TokenMatches(router.options.internal_token, req[kGatewayTokenHeader])) {
    return http::Ready(http::ErrorResponse(http::Status::unauthorized,
                                           "this is a slice host: only gateways call it"));
  }
  auto slice_id = SliceOfHost(req[bhttp::field::host]);
  if (!slice_id) {
    return http::Ready(http::ErrorResponse(http::Status::bad_request,
                                           "Host: expected slice-<id>, the slice to reach"));
  }
  if (!router.held.Serves(*slice_id)) {
    auto res = http::ErrorResponse(
        http::Status::service_unavailable,
        "slice " + std::to_string(*slice_id) + " is not served by this host (its range moved)");
    res.set(bhttp::field::retry_after, "1");
    return http::Ready(std::move(res));
  }
  req.erase(kGatewayTokenHeader);
  auto upstream = router.UpstreamOf(*slice_id);
  if (req.method() == bhttp::verb::get && (path == "/api/events" || path == "/api/export")) {
    http::Request out = req;
    return upstream->Relay(std::move(out), ex,
                           path == "/api/events" ? http::Upstream::StreamEnd::kLive
                                                 : http::Upstream::StreamEnd::kDownload);
  }
  return Forward(std::move(upstream), ex);
}

bool Loopback(const http::Endpoint& endpoint) {
  return endpoint.is_unix || endpoint.host == "127.0.0.1" || endpoint.host == "::1" ||
         endpoint.host == "localhost";
}

}  // namespace

int RunSliceHost(const SliceHostOptions& options) {
  config::SetupLogging("slice-host", options.log_level);
  if (sodium_init() < 0) {
    throw RuntimeError("libsodium failed to initialise");
  }
  if (options.internal_token.empty() && !Loopback(options.listen)) {
    throw InputError(
        "a slice host listening on " + options.listen.ToString() +
            " needs internal_token (CRM_INTERNAL_TOKEN or CRM_INTERNAL_TOKEN_FILE), the secret "
            "gateways present: without it anyone who reaches the port acts as any tenant",
        "internal_token");
  }
  http::BlockStopSignals();  // before any thread starts
  db::Pool pool(options.database);
  spdlog::info("database: {}", db::RedactedConnInfo(pool.conninfo()));
  // On a session of its own: to PostgreSQL itself when a pooler is in between.
  for (const auto& line :
       pool.RunSession([](pqxx::connection& c) { return db::MigrateEverything(c); })) {
    spdlog::info("migrations: {}", line);
  }
  // Bound first: with port 0 (tests) the address gateways reach is only known now.
  http::IoPool io(options.io_threads);
  HeldRanges held;
  std::unique_ptr<orchestrator::Orchestrator> slices;
  http::Metrics metrics;
  auto& running = prometheus::BuildGauge()
                      .Name("crm_slice_host_slices")
                      .Help("Slice processes this slice host supervises")
                      .Register(metrics.registry())
                      .Add({});
  auto& ranges = prometheus::BuildGauge()
                     .Name("crm_slice_host_ranges")
                     .Help("Tenant hash ranges this slice host serves (its own and adopted ones)")
                     .Register(metrics.registry())
                     .Add({});
  Router router{options, held, metrics, running, ranges, nullptr, {}, {}};
  http::Server server(
      io, options.limits, [&router](http::Exchange& ex) { return Relay(router, ex); }, &metrics);
  auto bound = server.Listen(options.listen);
  ShardLeaseOptions lease_options = options.leases;
  if (lease_options.holder.empty()) {
    if (!bound.is_unix && (bound.host == "0.0.0.0" || bound.host == "::")) {
      throw InputError(
          "advertise_address: a slice host listening on a wildcard address with an "
          "ephemeral port needs CRM_ADVERTISE_ADDRESS",
          "advertise_address");
    }
    lease_options.holder = bound.ToString();
  }
  orchestrator::OrchestratorOptions slice_options = options.orchestrator;
  slice_options.placement = orchestrator::Placement::kSliceHost;
  slice_options.routed_address = lease_options.holder;
  slice_options.serves = [&held](long long id) { return held.Serves(id); };
  slices = std::make_unique<orchestrator::Orchestrator>(slice_options, pool);
  router.slices = slices.get();
  ShardLeases leases(lease_options);
  LeaseKeeper keeper(leases, pool, held, *slices);
  keeper.Start();
  slices->Start();
  // A slice's row changed (provisioned, suspended, moved, restarted by generation): look now.
  // LISTEN needs a whole session: to PostgreSQL itself when a pooler is in between.
  std::string conninfo = pool.session_conninfo();
  db::ChannelListener changes([conninfo] { return std::make_unique<pqxx::connection>(conninfo); },
                              "crm_slices", [&slices](const std::string&) { slices->Wake(); },
                              [&slices] { slices->Wake(); });
  server.Start();
  spdlog::info("slice host {} (own range {}) serving on http://{}", lease_options.holder,
               queue::ShardRangeText(lease_options.own), bound.ToString());
  http::ServeUntilSignal(io, server, options.drain_timeout);
  keeper.Stop();
  slices->Stop();
  return 0;
}

}  // namespace crm::slicehost
