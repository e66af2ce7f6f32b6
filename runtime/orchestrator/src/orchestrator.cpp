#include "crm/orchestrator/orchestrator.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/extend.hpp>
#include <fstream>

#include "crm/db/migrations.hpp"
#include "crm/http/probe.hpp"

namespace crm::orchestrator {
namespace bp = boost::process;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kFirstBackoff{100};
constexpr milliseconds kMaxBackoff{30'000};
constexpr milliseconds kCrashLoopBackoff{10'000};
constexpr int kCrashLoopCrashes = 5;  // this many exits within kCrashWindow is a crash loop
constexpr std::chrono::seconds kCrashWindow{60};
constexpr std::chrono::seconds kStableAfter{60};
constexpr milliseconds kHealthTimeout{10'000};
constexpr std::chrono::seconds kStorageEvery{60};

std::string RoleOf(long long id) {
  return "slice_" + std::to_string(id);
}

std::string RandomHex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
  hex.pop_back();
  return hex;
}

void WriteSecret(const fs::path& path, const std::string& secret) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, secret.data(), secret.size()) != static_cast<ssize_t>(secret.size())) {
    if (fd >= 0) {
      ::close(fd);
    }
    throw RuntimeError("cannot write " + path.string());
  }
  ::fchmod(fd, 0600);
  ::close(fd);
}

std::uint64_t DirectoryBytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      total += it->file_size(ec);
    }
  }
  return total;
}

std::string LastLines(const fs::path& file, std::size_t lines) {
  std::ifstream in(file);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (tail.size() > lines) {
      tail.pop_front();
    }
  }
  std::string out;
  for (const auto& l : tail) {
    out += (out.empty() ? "" : " | ") + l;
  }
  return out;
}

}  // namespace

struct Orchestrator::Process {
  std::unique_ptr<bp::child> child;
  bool wanted = false;  ///< should be running (available/assigned)
  bool health_pending = false;
  Clock::time_point started{};
  Clock::time_point next_start{};
  milliseconds backoff{0};
  std::deque<Clock::time_point> crashes;
  bool crashloop = false;
};

Orchestrator::Orchestrator(OrchestratorOptions options, db::Pool& pool)
    : options_(std::move(options)), pool_(pool), limiter_(MemoryLimiter::Detect()) {
  if (sodium_init() < 0) {
    throw RuntimeError("libsodium failed to initialise");
  }
  // /proc/self/exe, not the path it points to: a forked child executes the very binary the
  // gateway runs, even after a package upgrade replaced the file on disk.
  binary_ = options_.slice_binary.empty() ? "/proc/self/exe" : options_.slice_binary;
  fs::create_directories(options_.data_dir / "slices");
  spdlog::info("slice memory limits through {} ({} bytes per slice)", limiter_.name(),
               options_.slice_memory_limit);
}

Orchestrator::~Orchestrator() {
  Stop();
}

fs::path Orchestrator::SliceDir(long long slice_id) const {
  return options_.data_dir / "slices" / std::to_string(slice_id);
}

http::Endpoint Orchestrator::EndpointOf(long long slice_id) const {
  http::Endpoint ep;
  ep.is_unix = true;
  ep.path = (SliceDir(slice_id) / "http.sock").string();
  return ep;
}

// --- lifecycle in the database -----------------------------------------------------------------

SliceInfo Orchestrator::Transition(long long slice_id, SliceState to, const std::string& reason,
                                   std::optional<long long> user_id) {
  Transitioned moved = pool_.Write(
      [&](pqxx::work& tx) { return SliceStore(tx).Transition(slice_id, to, reason, user_id); });
  spdlog::info("slice {}: {} -> {} ({})", slice_id, ToString(moved.from), ToString(to), reason);
  return moved.slice;
}

void Orchestrator::RecordHealth(long long slice_id, const std::string& health, bool restarted,
                                const std::string& error) {
  try {
    std::optional<int> pid;
    {
      std::lock_guard lock(mutex_);
      auto it = processes_.find(slice_id);
      if (it != processes_.end() && it->second->child) {
        pid = it->second->child->id();
      }
    }
    pool_.Write([&](pqxx::work& tx) {
      SliceStore(tx).RecordHealth(slice_id, health, restarted, pid, error);
    });
  } catch (const std::exception& e) {
    spdlog::warn("slice {}: cannot record health {}: {}", slice_id, health, e.what());
  }
}

SliceInfo Orchestrator::Get(long long slice_id) {
  SliceInfo info =
      pool_.Read([&](pqxx::read_transaction& tx) { return SliceStore(tx).Get(slice_id); });
  info.memory_bytes = limiter_.Usage(slice_id);
  if (info.holds_data()) {
    info.storage_bytes = RecordStorage(info);  // one slice is cheap to measure: always fresh
  }
  return info;
}

std::vector<SliceInfo> Orchestrator::List() {
  auto slices = pool_.Read([](pqxx::read_transaction& tx) { return SliceStore(tx).List(); });
  for (auto& s : slices) {
    s.memory_bytes = limiter_.Usage(s.id);
  }
  return slices;
}

// --- provisioning and destruction --------------------------------------------------------------

SliceInfo Orchestrator::Provision() {
  std::lock_guard provisioning(provision_mutex_);
  long long id = pool_.Write([&](pqxx::work& tx) {
    return SliceStore(tx).Insert(options_.slice_storage_quota, options_.slice_memory_limit,
                                 limiter_.name());
  });
  try {
    std::string role = RoleOf(id);
    std::string password = RandomHex(24);
    fs::path dir = SliceDir(id);
    fs::create_directories(dir / "files");
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    WriteSecret(dir / "db-password", password);
    pool_.Write([&](pqxx::work& tx) {
      SliceStore slices(tx);
      slices.CreateRole(role, password, options_.statement_timeout);
      slices.SetEndpoint(id, EndpointOf(id).ToString());
    });
    pool_.Run([&](pqxx::connection& c) { db::Migrate(c, "slice", role, role); });
    StartProcess(id, true);
    return Transition(id, SliceState::kAvailable, "provisioned");
  } catch (const std::exception& e) {
    spdlog::error("slice {}: provisioning failed: {}", id, e.what());
    RecordHealth(id, "stopped", false, std::string("provisioning failed: ") + e.what());
    try {
      Transition(id, SliceState::kDestroying, "provisioning failed");
      DropSliceData(id);
      Transition(id, SliceState::kDestroyed, "provisioning failed");
    } catch (const std::exception& cleanup) {
      spdlog::error("slice {}: cleanup after failed provisioning failed too: {}", id,
                    cleanup.what());
    }
    throw RuntimeError("provisioning slice " + std::to_string(id) + " failed: " + e.what());
  }
}

void Orchestrator::DropSliceData(long long slice_id) {
  StopProcess(slice_id);
  std::string role = RoleOf(slice_id);
  pool_.Write([&](pqxx::work& tx) {
    SliceStore slices(tx);
    slices.DropRoleAndSchema(role);
    slices.ClearRuntime(slice_id);
  });
  std::error_code ec;
  fs::remove_all(SliceDir(slice_id), ec);
  if (ec) {
    throw RuntimeError("cannot remove " + SliceDir(slice_id).string() + ": " + ec.message());
  }
}

SliceInfo Orchestrator::Destroy(long long slice_id, const std::string& reason) {
  Transition(slice_id, SliceState::kDestroying, reason);
  DropSliceData(slice_id);
  auto info = Transition(slice_id, SliceState::kDestroyed, reason);
  WakeReplenisher();
  return info;
}

std::optional<long long> Orchestrator::AssignWarm(long long user_id) {
  auto id = pool_.Run([&](pqxx::connection& c) -> std::optional<long long> {
    auto live_slice = [&] {
      pqxx::read_transaction tx(c);
      return SliceStore(tx).LiveSliceOf(user_id);
    };
    if (auto existing = live_slice()) {
      return existing;  // served meanwhile: the refill gives waiting accounts a slice too
    }
    try {
      pqxx::work tx(c);
      auto slice = SliceStore(tx).TakeAvailable(user_id);
      tx.commit();
      if (slice) {
        spdlog::info("slice {}: available -> assigned (user {})", *slice, user_id);
      }
      return slice;
    } catch (const pqxx::unique_violation&) {
      // Assigned concurrently by someone else (slices_user allows one live slice per user).
      return live_slice();
    }
  });
  WakeReplenisher();
  return id;
}

long long Orchestrator::AssignNow(long long user_id) {
  if (auto id = AssignWarm(user_id)) {
    return *id;
  }
  {
    // Signups faster than the refill: wait for the provisioning in flight, then take its slice.
    std::lock_guard provisioning(provision_mutex_);
  }
  if (auto id = AssignWarm(user_id)) {
    return *id;
  }
  Provision();
  if (auto id = AssignWarm(user_id)) {
    return *id;
  }
  throw RuntimeError("no slice could be assigned to user " + std::to_string(user_id));
}

SliceInfo Orchestrator::Assign(long long slice_id, long long user_id) {
  auto info = Transition(slice_id, SliceState::kAssigned,
                         "assigned by admin to user " + std::to_string(user_id), user_id);
  WakeReplenisher();
  return info;
}

SliceInfo Orchestrator::SetChannel(long long slice_id, const std::string& channel,
                                   const std::optional<std::string>& phone_number_id) {
  if (channel != "simulator" && channel != "cloud-api") {
    throw InputError("channel: expected simulator or cloud-api, got \"" + channel + "\"",
                     "channel");
  }
  if (channel == "cloud-api" && !phone_number_id) {
    throw InputError(
        "phone_number_id: required for the cloud-api channel (the id Meta shows for the number "
        "in WhatsApp Manager)",
        "phone_number_id");
  }
  if (phone_number_id && (phone_number_id->empty() || phone_number_id->size() > 32 ||
                          phone_number_id->find_first_not_of("0123456789") != std::string::npos)) {
    throw InputError("phone_number_id: expected digits only, got \"" + *phone_number_id + "\"",
                     "phone_number_id");
  }
  SliceInfo before = Get(slice_id);
  if (before.state == SliceState::kDestroying || before.state == SliceState::kDestroyed) {
    throw Conflict("slice " + std::to_string(slice_id) + " is " +
                   std::string(ToString(before.state)));
  }
  pool_.Write([&](pqxx::work& tx) {
    SliceStore(tx).SetChannel(slice_id, channel,
                              channel == "cloud-api" ? phone_number_id : std::nullopt);
  });
  // A running slice picks its channel up when it starts.
  if (before.runs()) {
    StopProcess(slice_id);
    StartProcess(slice_id, true);
  }
  return Get(slice_id);
}

SliceInfo Orchestrator::Suspend(long long slice_id, const std::string& reason) {
  auto info = Transition(slice_id, SliceState::kSuspended, reason);
  StopProcess(slice_id);
  RecordHealth(slice_id, "stopped", false);
  return Get(slice_id);
}

SliceInfo Orchestrator::Resume(long long slice_id) {
  Transition(slice_id, SliceState::kAssigned, "resumed");
  StartProcess(slice_id, true);
  return Get(slice_id);
}

// --- processes ---------------------------------------------------------------------------------

void Orchestrator::StartProcess(long long slice_id, bool await_health) {
  fs::path dir = SliceDir(slice_id);
  std::string role = RoleOf(slice_id);
  bp::environment env;
  const char* path = std::getenv("PATH");
  env["PATH"] = path != nullptr ? path : "/usr/bin:/bin";
  // A slice sees only its own credentials: never the gateway's password or billing secrets.
  env["CRM_DATABASE_URL"] =
      db::BuildConnInfo(options_.database_url, {{"user", role}, {"password", ""}});
  env["CRM_DATABASE_PASSWORD_FILE"] = (dir / "db-password").string();
  env["CRM_LISTEN"] = EndpointOf(slice_id).ToString();
  env["CRM_DATA_DIR"] = dir.string();
  for (const auto& [name, value] : options_.slice_environment) {
    env[name] = value;
  }
  // The channel: the slice's own choice, else the deployment's default. Only a Cloud API slice
  // gets the access token, and only its own number.
  auto [channel, phone_number_id] =
      pool_.Read([&](pqxx::read_transaction& tx) { return SliceStore(tx).ChannelOf(slice_id); });
  if (channel.empty()) {
    channel = options_.default_channel;
  }
  env["CRM_CHANNEL"] = channel;
  if (channel == "cloud-api") {
    env["CRM_WHATSAPP_API_URL"] = options_.cloud_api_url;
    env["CRM_WHATSAPP_PHONE_NUMBER_ID"] = phone_number_id;
    if (!options_.cloud_api_token.empty()) {
      env["CRM_WHATSAPP_TOKEN"] = options_.cloud_api_token;
    }
  }

  int log_fd = ::open((dir / "slice.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    throw RuntimeError("cannot open " + (dir / "slice.log").string());
  }
  std::uint64_t limit = options_.slice_memory_limit;
  const MemoryLimiter& limiter = limiter_;
  std::unique_ptr<bp::child> child;
  try {
    child = std::make_unique<bp::child>(
        binary_, bp::args({"--role", "slice", "--slice-id", std::to_string(slice_id)}), env,
        bp::extend::on_exec_setup = [log_fd, limit, &limiter](auto&) {
          ::dup2(log_fd, STDOUT_FILENO);
          ::dup2(log_fd, STDERR_FILENO);
          ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a slice never outlives its orchestrator
          // Nothing of the gateway's crosses exec: not its listening port (which a slice would
          // hold after the gateway died), not its clients' connections, not its database
          // sockets.
          if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
            for (int fd = 3; fd < 65'536; ++fd) {
              int flags = ::fcntl(fd, F_GETFD);
              if (flags >= 0) {
                ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
              }
            }
          }
          limiter.ChildSetup(limit);
        });
  } catch (const std::exception& e) {
    ::close(log_fd);
    throw RuntimeError("cannot start slice " + std::to_string(slice_id) + " (" + binary_ +
                       "): " + e.what());
  }
  ::close(log_fd);
  try {
    limiter_.Apply(slice_id, child->id(), limit);
  } catch (const std::exception& e) {
    spdlog::warn("slice {}: {}", slice_id, e.what());
  }
  {
    std::lock_guard lock(mutex_);
    auto& p = processes_[slice_id];
    if (!p) {
      p = std::make_unique<Process>();
    }
    p->child = std::move(child);
    p->wanted = true;
    p->started = Clock::now();
    p->health_pending = !await_health;
  }
  if (await_health) {
    if (!AwaitHealth(slice_id, kHealthTimeout)) {
      std::string log = LastLines(dir / "slice.log", 3);
      StopProcess(slice_id);
      throw RuntimeError("slice " + std::to_string(slice_id) + " did not become healthy within " +
                         std::to_string(kHealthTimeout.count() / 1000) +
                         " s; its log ends: " + log);
    }
    RecordHealth(slice_id, "healthy", false);
  }
}

bool Orchestrator::AwaitHealth(long long slice_id, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  http::Endpoint ep = EndpointOf(slice_id);
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(mutex_);
      auto it = processes_.find(slice_id);
      if (it == processes_.end() || !it->second->child || !it->second->child->running()) {
        return false;
      }
    }
    if (http::Probe(ep, "/health", milliseconds(1000))) {
      return true;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

void Orchestrator::StopProcess(long long slice_id) {
  std::unique_ptr<bp::child> child;
  {
    std::lock_guard lock(mutex_);
    auto it = processes_.find(slice_id);
    if (it == processes_.end()) {
      return;
    }
    child = std::move(it->second->child);
    processes_.erase(it);
  }
  if (child && child->running()) {
    ::kill(child->id(), SIGTERM);
    auto deadline = Clock::now() + std::chrono::seconds(3);
    while (child->running() && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    if (child->running()) {
      spdlog::warn("slice {}: still running 3 s after SIGTERM, killing it", slice_id);
      child->terminate();
    }
  }
  if (child) {
    std::error_code ec;
    child->wait(ec);
  }
  limiter_.Release(slice_id);
}

void Orchestrator::WakeReplenisher() {
  std::lock_guard lock(wake_mutex_);
  woken_ = true;
  wake_.notify_all();
}

void Orchestrator::Start() {
  // Finish what a previous run left half done, then start what should run.
  auto slices = List();
  for (const auto& s : slices) {
    if (s.state == SliceState::kProvisioning || s.state == SliceState::kDestroying) {
      try {
        if (s.state == SliceState::kProvisioning) {
          Transition(s.id, SliceState::kDestroying, "provisioning interrupted by a restart");
        }
        DropSliceData(s.id);
        Transition(s.id, SliceState::kDestroyed, "cleanup after a restart");
      } catch (const std::exception& e) {
        spdlog::error("slice {}: cleanup failed: {}", s.id, e.what());
      }
    }
  }
  for (const auto& s : slices) {
    if (s.runs()) {
      try {
        StartProcess(s.id, false);
      } catch (const std::exception& e) {
        spdlog::error("slice {}: {}", s.id, e.what());
      }
    }
  }
  running_ = true;
  supervisor_ = std::thread([this] { Supervise(); });
  replenisher_ = std::thread([this] {
    auto last_storage = Clock::now() - kStorageEvery;
    while (running_) {
      try {
        Replenish();
        if (Clock::now() - last_storage >= kStorageEvery) {
          RefreshStorage();
          last_storage = Clock::now();
        }
      } catch (const std::exception& e) {
        spdlog::error("warm pool: {}", e.what());
      }
      std::unique_lock lock(wake_mutex_);
      wake_.wait_for(lock, std::chrono::seconds(2), [this] { return woken_ || !running_; });
      woken_ = false;
    }
  });
}

void Orchestrator::Stop() {
  if (running_.exchange(false)) {
    {
      std::lock_guard lock(wake_mutex_);
      wake_.notify_all();
    }
    if (supervisor_.joinable()) {
      supervisor_.join();
    }
    if (replenisher_.joinable()) {
      replenisher_.join();
    }
  }
  std::vector<long long> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, p] : processes_) {
      ids.push_back(id);
    }
  }
  for (long long id : ids) {
    StopProcess(id);
  }
}

void Orchestrator::Supervise() {
  while (running_) {
    struct Event {
      long long id;
      std::string health;
      bool restarted;
      std::string error;
    };
    std::vector<Event> events;
    std::vector<long long> to_start;
    std::vector<long long> to_probe;
    auto now = Clock::now();
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, p] : processes_) {
        if (!p->wanted) {
          continue;
        }
        if (p->child && !p->child->running()) {
          int code = p->child->exit_code();
          p->child.reset();
          limiter_.Release(id);
          p->crashes.push_back(now);
          while (!p->crashes.empty() && now - p->crashes.front() > kCrashWindow) {
            p->crashes.pop_front();
          }
          p->backoff =
              p->backoff.count() == 0 ? kFirstBackoff : std::min(p->backoff * 2, kMaxBackoff);
          bool loop = static_cast<int>(p->crashes.size()) >= kCrashLoopCrashes;
          if (loop) {
            p->backoff = std::max(p->backoff, kCrashLoopBackoff);
            if (!p->crashloop) {
              spdlog::error(
                  "slice {}: crash loop ({} exits within {} s); restarting every {} s at most", id,
                  p->crashes.size(), kCrashWindow.count(), p->backoff.count() / 1000);
            }
          }
          p->crashloop = loop;
          p->next_start = now + p->backoff;
          std::string error = "process exited (status " + std::to_string(code) + ")";
          spdlog::warn("slice {}: {}; restart in {} ms", id, error, p->backoff.count());
          events.push_back({id, loop ? "crashloop" : "restarting", false, error});
        }
        if (!p->child && now >= p->next_start) {
          to_start.push_back(id);
        }
        if (p->child && p->health_pending) {
          to_probe.push_back(id);
        }
        if (p->child && !p->crashes.empty() && now - p->started > kStableAfter) {
          p->crashes.clear();
          p->backoff = milliseconds(0);
          p->crashloop = false;
        }
      }
    }
    for (const auto& e : events) {
      RecordHealth(e.id, e.health, e.restarted, e.error);
    }
    for (long long id : to_start) {
      try {
        StartProcess(id, false);
        RecordHealth(id, "restarting", true);
      } catch (const std::exception& e) {
        spdlog::error("slice {}: {}", id, e.what());
        std::lock_guard lock(mutex_);
        if (auto it = processes_.find(id); it != processes_.end()) {
          it->second->next_start = Clock::now() + std::max(it->second->backoff, kFirstBackoff);
        }
      }
    }
    for (long long id : to_probe) {
      if (http::Probe(EndpointOf(id), "/health", milliseconds(500))) {
        {
          std::lock_guard lock(mutex_);
          if (auto it = processes_.find(id); it != processes_.end()) {
            it->second->health_pending = false;
          }
        }
        RecordHealth(id, "healthy", false);
      }
    }
    std::this_thread::sleep_for(milliseconds(25));
  }
}

void Orchestrator::Replenish() {
  // Users waiting for a slice (none was warm when they registered) come first.
  auto waiting =
      pool_.Read([](pqxx::read_transaction& tx) { return SliceStore(tx).UsersWaiting(); });
  for (long long user : waiting) {
    if (!AssignWarm(user)) {
      Provision();
      AssignWarm(user);
    }
  }
  for (;;) {
    long long warm = pool_.Read([](pqxx::read_transaction& tx) {
      return SliceStore(tx).Count({SliceState::kAvailable, SliceState::kProvisioning});
    });
    if (warm >= options_.warm_slices || !running_) {
      return;
    }
    Provision();
  }
}

std::uint64_t Orchestrator::RecordStorage(const SliceInfo& slice) {
  std::uint64_t files = DirectoryBytes(SliceDir(slice.id) / "files");
  std::uint64_t total = pool_.Write([&](pqxx::work& tx) {
    return SliceStore(tx).RecordStorage(slice.id, RoleOf(slice.id), files);
  });
  if (total > slice.storage_quota_bytes) {
    spdlog::warn("slice {}: storage {} bytes is over its quota of {} bytes", slice.id, total,
                 slice.storage_quota_bytes);
  }
  return total;
}

void Orchestrator::RefreshStorage() {
  for (const auto& s : List()) {
    if (s.holds_data()) {
      RecordStorage(s);
    }
  }
}

nlohmann::json Orchestrator::RollingRestart(int batch) {
  if (batch < 1) {
    throw InputError("batch: expected at least 1", "batch");
  }
  std::vector<long long> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, p] : processes_) {
      if (p->wanted) {
        ids.push_back(id);
      }
    }
  }
  nlohmann::json batches = nlohmann::json::array();
  for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(batch)) {
    nlohmann::json done = nlohmann::json::array();
    std::vector<long long> group(
        ids.begin() + static_cast<long>(i),
        ids.begin() + static_cast<long>(std::min(ids.size(), i + static_cast<std::size_t>(batch))));
    for (long long id : group) {
      StopProcess(id);
      StartProcess(id, false);
    }
    for (long long id : group) {
      bool healthy = AwaitHealth(id, kHealthTimeout);
      RecordHealth(id, healthy ? "healthy" : "restarting", true);
      done.push_back({{"slice", id}, {"healthy", healthy}});
      if (!healthy) {
        batches.push_back(done);
        return {{"batches", batches},
                {"stopped_early", true},
                {"reason", "slice " + std::to_string(id) +
                               " did not become healthy; later batches were not restarted"}};
      }
    }
    batches.push_back(done);
  }
  return {{"batches", batches}, {"stopped_early", false}};
}

}  // namespace crm::orchestrator
