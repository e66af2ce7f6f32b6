#include "crm/orchestrator/orchestrator.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/extend.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "crm/db/migrations.hpp"
#include "crm/http/probe.hpp"
#include "crm/orchestrator/slice_launcher.hpp"
#include "helpers.hpp"

namespace crm::orchestrator {
namespace bp = boost::process;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kFirstBackoff{100};
constexpr milliseconds kSuperviseEvery{100};  // a supervision round at least this often
constexpr milliseconds kMaxBackoff{30'000};
constexpr milliseconds kCrashLoopBackoff{10'000};
constexpr int kCrashLoopCrashes = 5;  // this many exits within kCrashWindow is a crash loop
constexpr std::chrono::seconds kCrashWindow{60};
constexpr std::chrono::seconds kStableAfter{60};
constexpr milliseconds kHealthTimeout{10'000};
constexpr std::size_t kStorageChunk = 100;  // schemas sized in one transaction
constexpr int kUnhealthyAfter = 3;  // missed probes in a row before a slice is killed
constexpr milliseconds kProbeTimeout{1'000};

std::string RoleOf(long long id) {
  return "slice_" + std::to_string(id);
}

// The password in an anonymous, sealed memory file: the slice reads it from the descriptor it
// inherits, and no copy exists on disk for another slice (or a backup) to read.
int SecretDescriptor(const std::string& secret) {
  int fd = ::memfd_create("crm-db-password", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    throw RuntimeError(std::string("memfd_create: ") + std::strerror(errno));
  }
  if (::write(fd, secret.data(), secret.size()) != static_cast<ssize_t>(secret.size()) ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0 ||
      ::lseek(fd, 0, SEEK_SET) != 0) {
    int error = errno;
    ::close(fd);
    throw RuntimeError(std::string("cannot pass the slice's password: ") + std::strerror(error));
  }
  return fd;
}

// The slice's role and schema, on a session of their own (DDL goes to PostgreSQL itself, not
// through a pooler). The role has no password: each process start sets the one it is given
// (unpooled) or nobody logs in as it (pooled). The gateway's user is granted the role
// (SliceStore::CreateRole), which is what a pooled slice, logging in as that user, sets in each
// transaction; dropping the role at destroy revokes it. The schema gets the whole slice set of
// migrations in one transaction (db::Migrate on a schema that has none).
void CreateSliceDatabase(db::Pool& pool, std::chrono::milliseconds statement_timeout,
                         const std::string& role) {
  pool.RunSession([&](pqxx::connection& c) {
    {
      pqxx::work tx(c);
      SliceStore(tx).CreateRole(role, statement_timeout);
      tx.commit();
    }
    db::Migrate(c, "slice", role, role);
  });
}

// The queue database as the orchestrator's login reaches it: its URL, as the main database's
// user when it names none.
std::string QueueUrl(const OrchestratorOptions& options) {
  std::string user = db::ConnInfoValue(options.database_url, "user");
  if (!db::ConnInfoValue(options.queue_database_url, "user").empty() || user.empty()) {
    return options.queue_database_url;
  }
  return db::BuildConnInfo(options.queue_database_url, {{"user", user}});
}

// How a slice logs in to PostgreSQL: its environment's URLs (no password in them), the password,
// which crosses through a descriptor, and whether the login is the slice's own role.
struct SliceLogin {
  std::map<std::string, std::string> env;
  std::string password;
  bool own_role = true;
};

// Unpooled a slice logs in as its own role with a password set for this start. Behind the host's
// pooler it does too, through the pooler, and reaches PostgreSQL itself for whole sessions
// (docs/operations.md, "Slices behind the host's pooler"). Behind a pooler in front of the
// database it logs in as the pool's shared user (database_url's) with that user's password, and
// becomes its role inside every transaction (docs/operations.md, "PostgreSQL behind
// PgBouncer"). The queue database's URL follows the same rule, with the same password.
SliceLogin LoginOf(const OrchestratorOptions& options, const SlicePooler* pooler,
                   const std::string& role) {
  SliceLogin login;
  auto add = [&](const char* name, const std::string& url,
                 const std::map<std::string, std::string>& overrides) {
    if (!url.empty()) {
      login.env[name] = db::BuildConnInfo(url, overrides);
    }
  };
  if (options.database_direct_url.empty()) {
    const std::map<std::string, std::string> own = {{"user", role}, {"password", ""}};
    if (pooler != nullptr) {
      login.env["CRM_DATABASE_URL"] = pooler->SliceUrl(role);
      add("CRM_DATABASE_DIRECT_URL", options.database_url, own);
    } else {
      add("CRM_DATABASE_URL", options.database_url, own);
    }
    add("CRM_QUEUE_DATABASE_URL", options.queue_database_url, own);
    login.password = RandomHex(24);
    return login;
  }
  add("CRM_DATABASE_URL", options.database_url, {{"password", ""}});
  add("CRM_DATABASE_DIRECT_URL", options.database_direct_url, {{"password", ""}});
  add("CRM_QUEUE_DATABASE_URL", options.queue_database_url.empty() ? "" : QueueUrl(options),
      {{"password", ""}});
  login.password = options.database_password.empty()
                       ? db::ConnInfoValue(options.database_url, "password")
                       : options.database_password;
  login.own_role = false;
  return login;
}

// The orchestrator's own pool in the queue database: its URL's user (a login that may create
// roles, as the main database's), its password or the main one's.
db::PoolOptions QueueAdminDatabase(const OrchestratorOptions& options) {
  db::PoolOptions pool;
  pool.url = QueueUrl(options);
  if (db::ConnInfoValue(options.queue_database_url, "password").empty()) {
    pool.password = options.database_password.empty()
                        ? db::ConnInfoValue(options.database_url, "password")
                        : options.database_password;
  }
  pool.max_size = 2;
  pool.statement_timeout = options.statement_timeout;
  pool.application_name = "crmd-queue";
  return pool;
}

// Whether a process listens on the Unix socket `path` (a refused connection means its owner is
// gone or draining with its acceptor closed).
bool SocketListens(const fs::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof addr.sun_path) {
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.native().size());
  // Non-blocking: a listener with a full backlog answers EAGAIN at once (and counts as alive).
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return true;  // cannot tell: keep it
  }
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  int error = errno;
  ::close(fd);
  return rc == 0 || (error != ECONNREFUSED && error != ENOENT);
}

// Socket files of earlier processes of the slice that nobody serves on any more (killed ones
// leave theirs); sockets of processes still listening are theirs to remove.
void RemoveStaleSockets(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("http-", 0) == 0 && entry.path().extension() == ".sock" &&
        !SocketListens(entry.path())) {
      std::error_code rm;
      fs::remove(entry.path(), rm);
    }
  }
}

// Points `link` at `target` (a name in the same directory) in one step: a client connecting
// through the link reaches either the old target or the new one, never nothing.
void PointLink(const fs::path& link, const fs::path& target) {
  fs::path next = link;
  next += ".next";
  std::error_code ec;
  fs::remove(next, ec);
  fs::create_symlink(target.filename(), next);
  fs::rename(next, link);
}

// The effective capability set holds `cap` (CAP_SETUID, …).
bool HasCapability(int cap) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      std::uint64_t bits = std::stoull(line.substr(7), nullptr, 16);
      return ((bits >> cap) & 1U) != 0;
    }
  }
  return false;
}

// A process's real uid and gid, from /proc/<pid>/status.
std::optional<std::pair<std::uint32_t, std::uint32_t>> ProcessIds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    std::uint32_t real = 0;
    fields >> key >> real;
    if (key == "Uid:" && fields) {
      uid = real;
    } else if (key == "Gid:" && fields) {
      gid = real;
    }
  }
  if (!uid || !gid) {
    return std::nullopt;
  }
  return std::pair{*uid, *gid};
}

// Hands the slice's directory to its uid. The group stays crmd's, so crmd can still open the
// slice's log, measure its files and remove them (no CAP_DAC_OVERRIDE needed); others, other
// slices included, get nothing. No setgid bit: the rendered units' RestrictSUIDSGID refuses it.
void HandOver(const fs::path& dir, std::uint32_t uid) {
  gid_t group = ::getegid();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    throw RuntimeError("cannot stat " + dir.string() + ": " + std::strerror(errno));
  }
  if (st.st_uid != uid) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (::lchown(it->path().c_str(), uid, group) != 0) {
        throw RuntimeError("cannot chown " + it->path().string() + ": " + std::strerror(errno));
      }
    }
  }
  if (::chown(dir.c_str(), uid, group) != 0 || ::chmod(dir.c_str(), 0770) != 0) {
    throw RuntimeError("cannot hand " + dir.string() + " to uid " + std::to_string(uid) + ": " +
                       std::strerror(errno));
  }
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

// A slice process, however it started: exec'd by this process (a boost child), or forked by the
// slice launcher (a pidfd to poll and signal; the launcher, its parent, reports its exit status).
class SliceChild {
 public:
  explicit SliceChild(std::unique_ptr<bp::child> child) : exec_(std::move(child)) {}
  SliceChild(std::shared_ptr<SliceLauncher> launcher, pid_t pid, int pidfd)
      : launcher_(std::move(launcher)), pid_(pid), pidfd_(pidfd) {}
  ~SliceChild() {
    if (pidfd_ >= 0) {
      ::close(pidfd_);
    }
  }
  SliceChild(const SliceChild&) = delete;
  SliceChild& operator=(const SliceChild&) = delete;

  int id() const { return exec_ ? exec_->id() : pid_; }
  /// Whether its exit is reported through the orchestrator's epoll set (else polled each round).
  bool exit_watched = false;
  bool running() {
    if (exec_) {
      return exec_->running();
    }
    if (!exited_) {
      pollfd p{pidfd_, POLLIN, 0};
      exited_ = ::poll(&p, 1, 0) > 0;
    }
    return !exited_;
  }
  /// As boost reports it: the exit code, or the signal that ended it; -1 when unknown (the
  /// launcher went with it).
  int exit_code() {
    if (exec_) {
      return exec_->exit_code();
    }
    TakeStatus();
    if (!status_) {
      return -1;
    }
    return WIFEXITED(*status_) ? WEXITSTATUS(*status_)
                               : (WIFSIGNALED(*status_) ? WTERMSIG(*status_) : *status_);
  }
  void Signal(int signal) {
    if (exec_) {
      ::kill(exec_->id(), signal);
    } else if (!exited_) {
      ::syscall(SYS_pidfd_send_signal, pidfd_, signal, nullptr, 0);
    }
  }
  /// SIGKILL, then waits for it.
  void terminate() {
    if (exec_) {
      exec_->terminate();
      return;
    }
    Signal(SIGKILL);
    wait();
  }
  void wait() {
    if (exec_) {
      std::error_code ec;
      exec_->wait(ec);
      return;
    }
    pollfd p{pidfd_, POLLIN, 0};
    while (!exited_ && ::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    exited_ = true;
    TakeStatus();
  }

 private:
  void TakeStatus() {
    if (!status_ && !status_taken_) {
      status_ = launcher_->TakeExitStatus(pid_, milliseconds(1'000));
      status_taken_ = true;
    }
  }

  std::unique_ptr<bp::child> exec_;
  std::shared_ptr<SliceLauncher> launcher_;
  pid_t pid_ = 0;
  int pidfd_ = -1;
  bool exited_ = false;
  bool status_taken_ = false;
  std::optional<int> status_;
};

// The slice launcher slices are forked from (docs/architecture.md, "Processes"): one per crmd
// process and slice binary, started at the first slice start and kept alive by the slices it
// started (each holds it); with none left it ends, and the next start starts another. Null when
// it cannot start (a slice binary of an earlier version, without the role): slices are then
// exec'd one by one, and the launcher is tried again a minute later.
std::shared_ptr<SliceLauncher> LauncherFor(const std::string& binary) {
  static std::mutex mutex;
  static std::weak_ptr<SliceLauncher> current;
  static std::string current_binary;
  static Clock::time_point retry{};
  std::lock_guard lock(mutex);
  auto launcher = current.lock();
  if (launcher && current_binary == binary && launcher->Alive()) {
    return launcher;
  }
  if (launcher && current_binary == binary) {
    spdlog::warn("the slice launcher (pid {}) has exited; starting another", launcher->pid());
  }
  if (current_binary == binary && Clock::now() < retry) {
    return nullptr;
  }
  current_binary = binary;
  try {
    launcher = SliceLauncher::Start(binary);
    current = launcher;
    spdlog::info("slice launcher started (pid {}): slices are forked from it", launcher->pid());
    return launcher;
  } catch (const std::exception& e) {
    retry = Clock::now() + std::chrono::minutes(1);
    spdlog::warn("{}; slices are started on their own (tried again in a minute)", e.what());
    return nullptr;
  }
}

}  // namespace

struct Orchestrator::Process {
  std::unique_ptr<SliceChild> child;
  bool wanted = false;  ///< should be running (available/assigned)
  bool health_pending = false;
  Clock::time_point started{};
  Clock::time_point next_start{};
  milliseconds backoff{0};
  std::deque<Clock::time_point> crashes;
  bool crashloop = false;
  http::Endpoint endpoint;  ///< this process's own socket
  Clock::time_point next_probe{};
  int probe_failures = 0;
  bool killed_unresponsive = false;
  bool own_uid = false;
  bool secret_via_fd = false;
  long long generation = 0;  ///< the slice's generation this process was started for
};

Orchestrator::Orchestrator(OrchestratorOptions options, db::Pool& pool)
    : options_(std::move(options)),
      pool_(pool),
      limiter_(MemoryLimiter::Detect()),
      cpu_limiter_(CpuLimiter::Detect()) {
  if (sodium_init() < 0) {
    throw RuntimeError("libsodium failed to initialise");
  }
  // /proc/self/exe, not the path it points to: a forked child executes the very binary the
  // gateway runs, even after a package upgrade replaced the file on disk.
  binary_ = options_.slice_binary.empty() ? "/proc/self/exe" : options_.slice_binary;
  fs::create_directories(options_.data_dir / "slices");
  if (options_.pooler && RunsSlices()) {
    pooler_ = std::make_unique<SlicePooler>(*options_.pooler);
  }
  if (!options_.queue_database_url.empty()) {
    queue_pool_ = std::make_unique<db::Pool>(QueueAdminDatabase(options_));
    // A queue "database" that is the main one would put two schemas of one name in one place.
    bool main = queue_pool_->Read([](pqxx::read_transaction& tx) {
      return tx.exec1("SELECT to_regclass('gateway.slices') IS NOT NULL")[0].as<bool>();
    });
    if (main) {
      throw InputError(
          "queue_database_url: " + db::RedactedConnInfo(options_.queue_database_url) +
              " is the main database (it has the gateway schema); name a database of its own, "
              "or leave QUEUE_DATABASE_URL unset to keep each queue in its slice's schema",
          "queue_database_url");
    }
  }
  spdlog::info("slice memory limits through {} ({} bytes per slice)", limiter_.name(),
               options_.slice_memory_limit);
  if (options_.slice_cpu_limit > 0) {
    spdlog::info("slice CPU limits through {} ({} cores per slice)", cpu_limiter_.name(),
                 options_.slice_cpu_limit);
  }
  if (options_.slice_uid_first == 0) {
    spdlog::info("slices run as crmd's own uid {} (no slice_uid_range configured)", ::getuid());
  } else if (!HasCapability(CAP_SETUID) || !HasCapability(CAP_SETGID) ||
             !HasCapability(CAP_CHOWN)) {
    spdlog::warn(
        "slice_uid_range {}-{} is configured but crmd lacks CAP_SETUID, CAP_SETGID or CAP_CHOWN: "
        "slices run as crmd's own uid {} and can read each other's memory and files",
        options_.slice_uid_first, options_.slice_uid_last, ::getuid());
  } else {
    uid_first_ = options_.slice_uid_first;
    spdlog::info("slices run under uids of their own: slice N as uid/gid {} + N (up to {})",
                 options_.slice_uid_first, options_.slice_uid_last);
  }
  // Slice directories hold sockets other uids must reach: the path to them must be searchable.
  if (uid_first_ != 0) {
    for (const fs::path& d : {options_.data_dir, options_.data_dir / "slices"}) {
      fs::permissions(d, fs::perms::others_exec | fs::perms::group_exec, fs::perm_options::add);
    }
  }
}

Orchestrator::~Orchestrator() {
  Stop();
  if (exits_ >= 0) {
    ::close(exits_);
  }
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

std::optional<SliceIsolation> Orchestrator::IsolationOf(long long slice_id) const {
  SliceIsolation isolation;
  int pid = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = processes_.find(slice_id);
    if (it == processes_.end() || !it->second->child || !it->second->child->running()) {
      return std::nullopt;
    }
    pid = it->second->child->id();
    isolation.own_uid = it->second->own_uid;
    isolation.secret_via_fd = it->second->secret_via_fd;
  }
  auto ids = ProcessIds(pid);
  if (!ids) {
    return std::nullopt;
  }
  std::tie(isolation.uid, isolation.gid) = *ids;
  // A process that is not dumpable has the files in its /proc directory owned by root, whatever
  // its uid (the directory itself keeps its uid).
  struct stat st {};
  std::string proc = "/proc/" + std::to_string(pid) + "/status";
  if (isolation.uid != 0 && ::stat(proc.c_str(), &st) == 0) {
    isolation.dumpable = st.st_uid == isolation.uid;
  }
  return isolation;
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
  info.isolation = IsolationOf(slice_id);
  // One slice is cheap to measure: always fresh, where its files are (behind gateways its host
  // measures it).
  if (info.holds_data() && RunsSlices()) {
    info.storage_bytes = RecordStorage(info);
  }
  return info;
}

std::vector<SliceInfo> Orchestrator::List() {
  auto slices = pool_.Read([](pqxx::read_transaction& tx) { return SliceStore(tx).List(); });
  for (auto& s : slices) {
    s.memory_bytes = limiter_.Usage(s.id);
    s.isolation = IsolationOf(s.id);
  }
  return slices;
}

// --- provisioning and destruction --------------------------------------------------------------

std::optional<std::string> Orchestrator::FullReason() {
  if (options_.max_slices <= 0) {
    return std::nullopt;
  }
  long long live = pool_.Read([](pqxx::read_transaction& tx) {
    return SliceStore(tx).Count({SliceState::kProvisioning, SliceState::kAvailable,
                                 SliceState::kAssigned, SliceState::kSuspended,
                                 SliceState::kDestroying});
  });
  if (live < options_.max_slices) {
    return std::nullopt;
  }
  return "this server is full: it holds " + std::to_string(live) + " slices, its maximum " +
         "(max_slices, CRM_MAX_SLICES = " + std::to_string(options_.max_slices) +
         "); destroy unused slices or raise the key";
}

SliceInfo Orchestrator::Provision() {
  if (options_.placement == Placement::kSliceHost) {
    throw Conflict("slice hosts do not provision slices: a gateway does");
  }
  long long id = 0;
  {
    std::lock_guard provisioning(provision_mutex_);
    if (auto full = FullReason()) {
      throw ServerFull(*full, std::chrono::seconds(60));
    }
    id = pool_.Write([&](pqxx::work& tx) {
      return SliceStore(tx).Insert(options_.slice_storage_quota, options_.slice_memory_limit,
                                   limiter_.name(), options_.slice_cpu_limit,
                                   options_.slice_cpu_limit > 0 ? cpu_limiter_.name() : "none");
    });
    ++provisioning_;
  }
  // The slice's own work (its role, its schema's migrations, its process and health check) does
  // not need the lock: several slices provision at once (docs/benchmarks.md, "Density").
  struct Ended {
    Orchestrator& o;
    ~Ended() {
      {
        std::lock_guard lock(o.provision_mutex_);
        --o.provisioning_;
        ++o.provisionings_ended_;
      }
      o.provisioned_.notify_all();
    }
  } ended{*this};
  try {
    std::string role = RoleOf(id);
    if (RunsSlices()) {
      fs::path dir = SliceDir(id);
      fs::create_directories(dir / "files");
      fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    }
    CreateSliceDatabase(pool_, options_.statement_timeout, role);
    EnsureQueueSchema(role);
    if (!RunsSlices()) {
      // The slice host whose range holds it starts it (woken by the row's notification); until
      // its endpoint is recorded the gateway answers 503 with Retry-After.
      return Transition(id, SliceState::kAvailable, "provisioned; its slice host starts it");
    }
    StartProcess(id, true, 0, SchemaAt::kJustMigrated);
    return Transition(id, SliceState::kAvailable, "provisioned");
  } catch (const std::exception& e) {
    spdlog::error("slice {}: provisioning failed: {}", id, e.what());
    if (RunsSlices()) {
      RecordHealth(id, "stopped", false, std::string("provisioning failed: ") + e.what());
    }
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

void Orchestrator::EnsureQueueSchema(const std::string& role) {
  if (!queue_pool_) {
    return;
  }
  queue_pool_->RunSession([&](pqxx::connection& c) {
    {
      pqxx::work tx(c);
      if (tx.exec_params("SELECT 1 FROM pg_roles WHERE rolname = $1", role).empty()) {
        SliceStore(tx).CreateRole(role, options_.statement_timeout);
      }
      tx.commit();
    }
    db::Migrate(c, "queue", role, role);
  });
}

void Orchestrator::DropSliceData(long long slice_id) {
  std::string role = RoleOf(slice_id);
  if (RunsSlices()) {
    StopProcess(slice_id);
    if (pooler_) {
      pooler_->Forget(role);
    }
  } else {
    AwaitStoppedElsewhere(slice_id);
  }
  if (queue_pool_) {
    // First: in a shared cluster the role still owns the queue's schema until this.
    queue_pool_->Write([&](pqxx::work& tx) { SliceStore(tx).DropQueueSchema(role); });
  }
  pool_.Write([&](pqxx::work& tx) {
    SliceStore slices(tx);
    slices.DropRoleAndSchema(role);
    slices.ClearRuntime(slice_id);
  });
  if (!RunsSlices()) {
    return;  // the slice's host removes its directory when it stops it
  }
  std::error_code ec;
  fs::remove_all(SliceDir(slice_id), ec);
  if (ec) {
    throw RuntimeError("cannot remove " + SliceDir(slice_id).string() + ": " + ec.message());
  }
}

void Orchestrator::AwaitStoppedElsewhere(long long slice_id) {
  // The host stops the process when the row leaves available/assigned (it is notified), then
  // clears the endpoint. A host that is down stops nothing: dropping the role ends the sessions.
  constexpr milliseconds kWait{15'000};
  auto deadline = Clock::now() + kWait;
  while (Clock::now() < deadline) {
    auto endpoint = pool_.Read(
        [&](pqxx::read_transaction& tx) { return SliceStore(tx).Get(slice_id).endpoint; });
    if (endpoint.empty()) {
      return;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  spdlog::warn("slice {}: its slice host did not stop it within {} s; dropping its data anyway",
               slice_id, kWait.count() / 1000);
}

SliceInfo Orchestrator::Destroy(long long slice_id, const std::string& reason) {
  Transition(slice_id, SliceState::kDestroying, reason);
  DropSliceData(slice_id);
  auto info = Transition(slice_id, SliceState::kDestroyed, reason);
  Wake();
  return info;
}

std::optional<long long> Orchestrator::AssignWarm(long long user_id) {
  auto id = pool_.Run([&](pqxx::connection& c) -> std::optional<long long> {
    try {
      pqxx::work tx(c);
      pool_.Enter(tx);
      SliceStore store(tx);
      // Whoever else assigns to this user (the refill, another gateway's sign-up) has committed
      // once the lock is ours: its slice is then seen here, not skipped as a locked row.
      if (!store.LockUser(user_id)) {
        return std::optional<long long>();
      }
      if (auto existing = store.LiveSliceOf(user_id)) {
        return existing;  // served meanwhile: the refill gives waiting accounts a slice too
      }
      auto slice = store.TakeAvailable(user_id);
      tx.commit();
      if (slice) {
        spdlog::info("slice {}: available -> assigned (user {})", *slice, user_id);
      }
      return slice;
    } catch (const pqxx::unique_violation&) {
      // Assigned concurrently by a path that does not lock the user (an administrator's assign;
      // slices_user allows one live slice per user).
      pqxx::read_transaction tx(c);
      pool_.Enter(tx);
      return SliceStore(tx).LiveSliceOf(user_id);
    }
  });
  Wake();
  return id;
}

long long Orchestrator::AssignNow(long long user_id) {
  if (auto id = AssignWarm(user_id)) {
    return *id;
  }
  {
    // Signups faster than the refill: wait for a provisioning in flight to end, then take its
    // slice (or, taken meanwhile, provision one).
    std::unique_lock provisioning(provision_mutex_);
    const long long ended = provisionings_ended_;
    provisioned_.wait(provisioning,
                      [&] { return provisioning_ == 0 || provisionings_ended_ != ended; });
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
  Wake();
  return info;
}

SliceInfo Orchestrator::SetChannel(long long slice_id, const std::string& channel,
                                   const std::optional<std::string>& phone_number_id,
                                   const std::optional<std::string>& engine) {
  if (channel != "simulator" && channel != "cloud-api" && channel != "wa-web") {
    throw InputError("channel: expected simulator, cloud-api or wa-web, got \"" + channel + "\"",
                     "channel");
  }
  if (engine && *engine != "noweb" && *engine != "webjs") {
    throw InputError("engine: expected noweb or webjs, got \"" + *engine + "\"", "engine");
  }
  if (engine && channel != "wa-web") {
    throw InputError("engine: only the wa-web channel has an engine", "engine");
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
                              channel == "cloud-api" ? phone_number_id : std::nullopt, engine);
  });
  // A running slice picks its channel up when it starts.
  if (before.runs() && RunsSlices()) {
    StopProcess(slice_id);
    StartProcess(slice_id, true);
  } else if (before.runs()) {
    pool_.Write([&](pqxx::work& tx) { SliceStore(tx).BumpGeneration(slice_id); });
  }
  return Get(slice_id);
}

SliceInfo Orchestrator::Suspend(long long slice_id, const std::string& reason) {
  Transition(slice_id, SliceState::kSuspended, reason);
  if (RunsSlices()) {
    StopProcess(slice_id);
    RecordHealth(slice_id, "stopped", false);
  }
  return Get(slice_id);
}

SliceInfo Orchestrator::Resume(long long slice_id) {
  Transition(slice_id, SliceState::kAssigned, "resumed");
  if (RunsSlices()) {
    StartProcess(slice_id, true);
  }
  return Get(slice_id);
}

// --- processes ---------------------------------------------------------------------------------

void Orchestrator::StartProcess(long long slice_id, bool await_health, long long generation,
                                SchemaAt schema) {
  fs::path dir = SliceDir(slice_id);
  std::string role = RoleOf(slice_id);
  // A host restored from the database alone has no slice directories: the slice's data is all in
  // its schema (docs/operations.md, "Backups (rendered targets)"), so its directory is remade.
  if (!fs::exists(dir)) {
    fs::create_directories(dir / "files");
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
  }
  std::optional<std::uint32_t> uid;
  if (uid_first_ != 0) {
    auto wanted = static_cast<long long>(uid_first_) + slice_id;
    if (wanted > static_cast<long long>(options_.slice_uid_last)) {
      throw RuntimeError("slice " + std::to_string(slice_id) + " is past slice_uid_range " +
                         std::to_string(uid_first_) + "-" +
                         std::to_string(options_.slice_uid_last) + ": widen the range");
    }
    uid = static_cast<std::uint32_t>(wanted);
    HandOver(dir, *uid);
  }
  RemoveStaleSockets(dir);
  std::error_code legacy;
  fs::remove(dir / "db-password", legacy);  // written by earlier versions
  // A socket path of this process's own, behind the slice's stable http.sock link (what the
  // gateway routes to): a previous process still draining (after a gateway restart, say)
  // removes its own file when it exits, never this one's, and never the link.
  http::Endpoint endpoint;
  endpoint.is_unix = true;
  endpoint.path = (dir / ("http-" + RandomHex(6) + ".sock")).string();
  PointLink(dir / "http.sock", endpoint.path);
  SliceLogin login = LoginOf(options_, pooler_.get(), role);
  // One secret for PostgreSQL and the pooler: it logs in to PostgreSQL with the slice's proof.
  const std::string secret =
      login.own_role ? ScramSecret(login.password, kScramIterations) : std::string();
  if (queue_pool_) {
    EnsureQueueSchema(role);
    if (login.own_role) {
      queue_pool_->Write([&](pqxx::work& tx) {
        SliceStore(tx).SetLogin(role, secret, options_.statement_timeout);
      });
    }
  }
  pool_.Write([&](pqxx::work& tx) {
    SliceStore slices(tx);
    if (login.own_role) {
      slices.SetLogin(role, secret, options_.statement_timeout);
    }
    if (options_.placement == Placement::kSliceHost) {
      // Gateways reach it through this host's router, which knows its socket.
      slices.MarkStarting(slice_id, options_.routed_address, generation);
    } else {
      slices.SetEndpoint(slice_id, EndpointOf(slice_id).ToString());
    }
  });
  if (pooler_) {
    pooler_->Admit(role, secret);
  }
  std::map<std::string, std::string> env;
  const char* path = std::getenv("PATH");
  env["PATH"] = path != nullptr ? path : "/usr/bin:/bin";
  // A slice sees only its own credentials: never billing secrets, nor (unpooled) the gateway's
  // password.
  for (const auto& [name, value] : login.env) {
    env[name] = value;
  }
  env["CRM_LISTEN"] = endpoint.ToString();
  env["CRM_DATA_DIR"] = dir.string();
  for (const auto& [name, value] : options_.slice_environment) {
    env[name] = value;
  }
  // After slice_environment: true of this start only, which only the orchestrator knows. It
  // spares PostgreSQL a backend per provisioning (docs/benchmarks.md, "Density").
  env["CRM_SLICE_FRESH"] = schema == SchemaAt::kJustMigrated ? "1" : "0";
  // The channel: the slice's own choice, else the deployment's default. Only a Cloud API slice
  // gets the access token, and only its own number.
  auto [channel, phone_number_id, engine] =
      pool_.Read([&](pqxx::read_transaction& tx) { return SliceStore(tx).ChannelOf(slice_id); });
  if (channel.empty()) {
    channel = options_.default_channel;
  }
  env["CRM_CHANNEL"] = channel;
  if (channel == "wa-web") {
    env["CRM_WA_WEB_ENGINE"] = engine.empty() ? options_.default_wa_web_engine : engine;
  }
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
  int secret_fd = -1;
  try {
    secret_fd = SecretDescriptor(login.password);
  } catch (...) {
    ::close(log_fd);
    throw;
  }
  std::uint64_t limit = options_.slice_memory_limit;
  const MemoryLimiter& limiter = limiter_;
  // The slice's groups exist, with their limits, before the process does: it joins them itself
  // before exec, so nothing it starts (a wa-web sidecar) ever runs outside them. A group that
  // cannot be set up leaves the slice unlimited, with a warning, as before.
  GroupJoin join;
  std::vector<fs::path> group_files;  // the same files, for the launcher's child to join
  try {
    if (auto procs = limiter_.Prepare(slice_id, limit)) {
      join.Add(*procs);
      group_files.push_back(*procs);
    }
  } catch (const std::exception& e) {
    spdlog::warn("slice {}: {}", slice_id, e.what());
  }
  try {
    if (auto procs = cpu_limiter_.Prepare(slice_id, options_.slice_cpu_limit)) {
      join.Add(*procs);
      group_files.push_back(*procs);
    }
  } catch (const std::exception& e) {
    spdlog::warn("slice {}: {}", slice_id, e.what());
  }
  const GroupJoin& groups = join;
  // 0 = stay crmd's uid; a slice never runs as root when a range is configured.
  uid_t child_uid = uid ? static_cast<uid_t>(*uid) : 0;
  std::unique_ptr<SliceChild> child;
  // Forked by the launcher when it runs (docs/architecture.md, "Processes"): it shares the
  // launcher's relocated and initialised pages. Else exec'd here, as it always was.
  if (auto launcher = LauncherFor(binary_)) {
    SliceSpawn spawn;
    spawn.slice_id = slice_id;
    for (const auto& [name, value] : env) {
      spawn.environment.push_back(name + "=" + value);
    }
    spawn.log_fd = log_fd;
    spawn.secret_fd = secret_fd;
    spawn.uid = child_uid;
    // As MemoryLimiter::ChildSetup sets it for an exec'd slice.
    if (limiter_.mechanism() == LimitMechanism::kRlimit) {
      spawn.address_space_limit = limit + (256ull << 20);
    }
    bool opened = true;
    for (const auto& file : group_files) {
      int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
      opened = opened && fd >= 0;
      if (fd >= 0) {
        spawn.group_fds.push_back(fd);
      }
    }
    try {
      if (!opened) {
        throw RuntimeError("cannot open the slice's cgroup.procs: " +
                           std::string(std::strerror(errno)));
      }
      auto [pid, pidfd] = launcher->Launch(spawn);
      child = std::make_unique<SliceChild>(launcher, pid, pidfd);
      // Level-triggered: readable from its exit until the pidfd closes (with the child), which
      // also takes it out of the set.
      epoll_event watch{};
      watch.events = EPOLLIN;
      watch.data.u64 = static_cast<std::uint64_t>(slice_id);
      child->exit_watched = exits_ >= 0 && ::epoll_ctl(exits_, EPOLL_CTL_ADD, pidfd, &watch) == 0;
    } catch (const std::exception& e) {
      spdlog::warn("slice {}: {}; starting it on its own", slice_id, e.what());
    }
    for (int fd : spawn.group_fds) {
      ::close(fd);
    }
  }
  try {
    if (!child) {
      bp::environment exec_env;
      for (const auto& [name, value] : env) {
        exec_env[name] = value;
      }
      exec_env["CRM_DATABASE_PASSWORD_FD"] = std::to_string(secret_fd);
      child = std::make_unique<SliceChild>(std::make_unique<bp::child>(
        binary_, bp::args({"--role", "slice", "--slice-id", std::to_string(slice_id)}), exec_env,
        bp::extend::on_exec_setup = [log_fd, secret_fd, limit, child_uid, &limiter,
                                     &groups](auto&) {
          ::dup2(log_fd, STDOUT_FILENO);
          ::dup2(log_fd, STDERR_FILENO);
          // Before setuid (the group files are root's) and before exec: a group prepared but
          // not joined would be a slice without its limits, so it does not start at all.
          if (!groups.Join()) {
            ChildSetupFailed("joining the slice's cgroup");
          }
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
          // The one descriptor that does cross: the password, read and closed by the slice.
          ::fcntl(secret_fd, F_SETFD, 0);
          limiter.ChildSetup(limit);
          DropToSliceUser(static_cast<unsigned>(child_uid));
          // After setuid, which clears it: a slice never outlives its orchestrator.
          ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        }));
    }
  } catch (const std::exception& e) {
    ::close(log_fd);
    ::close(secret_fd);
    throw RuntimeError("cannot start slice " + std::to_string(slice_id) + " (" + binary_ +
                       "): " + e.what());
  }
  ::close(log_fd);
  ::close(secret_fd);
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
    p->endpoint = endpoint;
    p->next_probe = p->started + options_.health_interval;
    p->probe_failures = 0;
    p->killed_unresponsive = false;
    p->own_uid = uid.has_value();
    p->secret_via_fd = true;
    p->generation = generation;
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
  std::unique_ptr<SliceChild> child;
  http::Endpoint endpoint;
  {
    std::lock_guard lock(mutex_);
    auto it = processes_.find(slice_id);
    if (it == processes_.end()) {
      return;
    }
    child = std::move(it->second->child);
    endpoint = it->second->endpoint;
    processes_.erase(it);
  }
  if (child && child->running()) {
    child->Signal(SIGTERM);
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
    child->wait();
  }
  if (!endpoint.path.empty()) {
    std::error_code ec;
    fs::remove(endpoint.path, ec);  // the process's own path: left behind when it was killed
  }
  limiter_.Release(slice_id);
  cpu_limiter_.Release(slice_id);
}

void Orchestrator::Wake() {
  std::lock_guard lock(wake_mutex_);
  woken_ = true;
  wake_.notify_all();
}

void Orchestrator::Start() {
  if (exits_ < 0) {
    exits_ = ::epoll_create1(EPOLL_CLOEXEC);  // still -1: every slice is asked each round
  }
  if (pooler_) {
    pooler_->Start();
  }
  if (options_.placement != Placement::kSliceHost) {
    CleanUpAndStartRecorded();
  }
  running_ = true;
  supervisor_ = std::thread([this] { Supervise(); });
  replenisher_ = std::thread([this] {
    StoragePasses storage;
    while (running_) {
      BackgroundRound(storage);
    }
  });
}

void Orchestrator::CleanUpAndStartRecorded() {
  // Finish what a previous run left half done, then start what should run. Behind several
  // gateways a provisioning may be another gateway's, in flight: only one untouched for ten
  // minutes is taken for interrupted.
  auto slices = List();
  auto stale = pool_.Read([](pqxx::read_transaction& tx) {
    return SliceStore(tx).ProvisioningUntouchedFor(std::chrono::minutes(10));
  });
  for (const auto& s : slices) {
    if (options_.placement == Placement::kGateway && s.state == SliceState::kProvisioning &&
        std::find(stale.begin(), stale.end(), s.id) == stale.end()) {
      continue;
    }
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
    if (s.runs() && RunsSlices()) {
      try {
        StartProcess(s.id, false);
        // Its record names the previous run's process until the supervisor's first health
        // answer: the monitor, which starts next, would take the slice for down.
        RecordHealth(s.id, s.health, false);
      } catch (const std::exception& e) {
        spdlog::error("slice {}: {}", s.id, e.what());
      }
    }
  }
}

void Orchestrator::BackgroundRound(StoragePasses& storage) {
  try {
    if (options_.placement == Placement::kSliceHost) {
      Reconcile();
    } else if (!options_.leads || options_.leads()) {
      Replenish();
    }
    // Storage is measured where the files are: by the host that runs the slice, and only here
    // (the monitor reads what is recorded). Every schema now and then, the written ones between.
    auto now = Clock::now();
    if (RunsSlices() && (!storage.last || now - *storage.last >= options_.storage_interval)) {
      const bool full =
          !storage.last_full || now - *storage.last_full >= options_.storage_full_interval;
      RefreshStorage(!full);
      if (full) {
        storage.last_full = now;
      }
      storage.last = Clock::now();
    }
  } catch (const std::exception& e) {
    spdlog::error("{}: {}",
                  options_.placement == Placement::kSliceHost ? "reconciling slices" : "warm pool",
                  e.what());
  }
  std::unique_lock lock(wake_mutex_);
  wake_.wait_for(lock, std::chrono::seconds(2), [this] { return woken_ || !running_; });
  woken_ = false;
}

void Orchestrator::Reconcile() {
  std::lock_guard reconciling(reconcile_mutex_);
  std::map<long long, long long> wanted;  // slice → generation
  std::set<long long> holding_data;       // not destroying or destroyed: a directory to keep
  for (const auto& p :
       pool_.Read([](pqxx::read_transaction& tx) { return SliceStore(tx).Placements(); })) {
    if (p.runs && options_.serves && options_.serves(p.id)) {
      wanted[p.id] = p.generation;
    }
    if (!p.destroying) {
      holding_data.insert(p.id);
    }
  }
  std::vector<long long> to_stop;
  std::vector<std::pair<long long, long long>> to_start;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, p] : processes_) {
      auto it = wanted.find(id);
      if (it == wanted.end() || it->second != p->generation) {
        to_stop.push_back(id);
      }
    }
    for (const auto& [id, generation] : wanted) {
      auto it = processes_.find(id);
      if (it == processes_.end() || it->second->generation != generation) {
        to_start.emplace_back(id, generation);
      }
    }
  }
  for (long long id : to_stop) {
    StopProcess(id);
    bool restarting = wanted.count(id) != 0;
    if (!restarting) {
      // Routed elsewhere now (or nowhere): gateways retry until the next host records its own.
      pool_.Write(
          [&](pqxx::work& tx) { SliceStore(tx).ClearEndpointIf(id, options_.routed_address); });
      spdlog::info("slice {}: stopped here (no longer served by this host, or not running)", id);
    }
  }
  for (const auto& [id, generation] : to_start) {
    try {
      StartProcess(id, false, generation);
      spdlog::info("slice {}: started here (generation {})", id, generation);
    } catch (const std::exception& e) {
      spdlog::error("slice {}: {}", id, e.what());
    }
  }
  // A slice destroyed while this host served it: its directory goes too.
  for (const auto& entry : fs::directory_iterator(options_.data_dir / "slices")) {
    long long id = 0;
    std::string name = entry.path().filename().string();
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
    if (ec == std::errc() && end == name.data() + name.size() && holding_data.count(id) == 0) {
      std::error_code rm;
      fs::remove_all(entry.path(), rm);
    }
  }
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
  if (pooler_) {
    pooler_->Stop();
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
    std::vector<std::pair<long long, long long>> to_start;  // slice, generation
    std::vector<std::pair<long long, http::Endpoint>> to_probe;
    // The launched slices that exited (their pidfds readable until reset below); the others are
    // not asked. Without the set, on an error, or with a full batch of exits, every slice is.
    std::set<long long> exited;
    bool exit_left = false;  // an exit reported but not taken (its pidfd still readable)
    bool ask_all = exits_ < 0;
    if (!ask_all) {
      std::array<epoll_event, 256> ready{};
      int n = ::epoll_wait(exits_, ready.data(), static_cast<int>(ready.size()), 0);
      ask_all = n < 0 || n == static_cast<int>(ready.size());
      for (int i = 0; i < n; ++i) {
        exited.insert(static_cast<long long>(ready[static_cast<std::size_t>(i)].data.u64));
      }
    }
    auto now = Clock::now();
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, p] : processes_) {
        if (!p->wanted) {
          // Being stopped: its stopper waits for it. Its pidfd may stay readable meanwhile.
          exit_left |= exited.count(id) > 0;
          continue;
        }
        if (p->child && (ask_all || !p->child->exit_watched || exited.count(id) > 0) &&
            !p->child->running()) {
          int code = p->child->exit_code();
          p->child.reset();
          limiter_.Release(id);
          cpu_limiter_.Release(id);
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
          std::string error = p->killed_unresponsive
                                  ? std::string("killed: it stopped answering GET /health")
                                  : "process exited (status " + std::to_string(code) + ")";
          p->killed_unresponsive = false;
          spdlog::warn("slice {}: {}; restart in {} ms", id, error, p->backoff.count());
          events.push_back({id, loop ? "crashloop" : "restarting", false, error});
        }
        if (!p->child && now >= p->next_start) {
          to_start.emplace_back(id, p->generation);
        }
        if (p->child && p->health_pending) {
          to_probe.emplace_back(id, p->endpoint);
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
    for (const auto& [id, generation] : to_start) {
      try {
        StartProcess(id, false, generation);
        RecordHealth(id, "restarting", true);
      } catch (const std::exception& e) {
        spdlog::error("slice {}: {}", id, e.what());
        std::lock_guard lock(mutex_);
        if (auto it = processes_.find(id); it != processes_.end()) {
          it->second->next_start = Clock::now() + std::max(it->second->backoff, kFirstBackoff);
        }
      }
    }
    for (const auto& [id, endpoint] : to_probe) {
      if (http::Probe(endpoint, "/health", milliseconds(500))) {
        {
          std::lock_guard lock(mutex_);
          if (auto it = processes_.find(id); it != processes_.end()) {
            it->second->health_pending = false;
          }
        }
        RecordHealth(id, "healthy", false);
      }
    }
    if (pooler_) {
      pooler_->Supervise();
    }
    ProbeRunning();
    if (exits_ >= 0 && !exit_left) {
      // Woken at once by a slice's exit, else every kSuperviseEvery: restarts falling due, a
      // start's health and the probes' schedule need no finer step, and a round walks every
      // slice.
      epoll_event ev{};
      ::epoll_wait(exits_, &ev, 1, static_cast<int>(kSuperviseEvery.count()));
    } else {
      std::this_thread::sleep_for(milliseconds(25));
    }
  }
}

void Orchestrator::ProbeRunning() {
  struct Due {
    long long id;
    int pid;
    http::Endpoint endpoint;
    bool never_healthy;
  };
  std::vector<Due> due;
  auto now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, p] : processes_) {
      if (!p->wanted || !p->child || p->killed_unresponsive || now < p->next_probe) {
        continue;
      }
      // A process still starting is probed by Supervise until kHealthTimeout has passed.
      if (p->health_pending && now - p->started < kHealthTimeout) {
        continue;
      }
      p->next_probe = now + options_.health_interval;
      due.push_back({id, p->child->id(), p->endpoint, p->health_pending});
    }
  }
  for (const auto& d : due) {
    // One that never came up fails at once; one that served gets kUnhealthyAfter chances.
    bool healthy = !d.never_healthy && http::Probe(d.endpoint, "/health", kProbeTimeout);
    bool kill = false;
    {
      std::lock_guard lock(mutex_);
      auto it = processes_.find(d.id);
      if (it == processes_.end() || !it->second->child || it->second->child->id() != d.pid) {
        continue;  // stopped or replaced meanwhile
      }
      auto& p = *it->second;
      p.probe_failures = healthy ? 0 : p.probe_failures + 1;
      if (d.never_healthy || p.probe_failures >= kUnhealthyAfter) {
        kill = true;
        p.killed_unresponsive = true;
        p.health_pending = false;
      }
    }
    if (!healthy) {
      spdlog::warn("slice {}: no answer to GET /health on {}{}", d.id, d.endpoint.ToString(),
                   kill ? "; killing it to restart it" : "");
    }
    if (kill) {
      RecordHealth(d.id, "unhealthy", false,
                   d.never_healthy ? "did not become healthy after starting"
                                   : "no answer to GET /health " + std::to_string(kUnhealthyAfter) +
                                         " times in a row");
      // SIGKILL: a process that does not answer would not drain either. Supervise sees it exit
      // and restarts it under the crash-loop policy.
      ::kill(d.pid, SIGKILL);
    }
  }
}

void Orchestrator::Replenish() {
  // Users waiting for a slice (none was warm when they registered) come first.
  auto waiting =
      pool_.Read([](pqxx::read_transaction& tx) { return SliceStore(tx).UsersWaiting(); });
  for (long long user : waiting) {
    if (!AssignWarm(user)) {
      if (FullReason()) {
        return;  // a full server: they wait until a slice is destroyed (server_slices_full)
      }
      Provision();
      AssignWarm(user);
    }
  }
  for (;;) {
    long long warm = pool_.Read([](pqxx::read_transaction& tx) {
      return SliceStore(tx).Count({SliceState::kAvailable, SliceState::kProvisioning});
    });
    // A full server keeps no warm pool beyond what it has: no retry storm of refusals.
    if (warm >= options_.warm_slices || !running_ || FullReason()) {
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

void Orchestrator::RefreshStorage(bool only_changed) {
  // The schemas' sizes in a few queries (below): a query per slice read all of pg_class each
  // time, ~50 rows a slice (seconds of PostgreSQL's CPU a minute at 1,000 slices). Each record
  // stays a transaction of its own: a sign-up's FOR UPDATE SKIP LOCKED must not find every row
  // locked.
  std::lock_guard storage(storage_mutex_);
  std::vector<SliceInfo> live;
  std::vector<std::string> roles;  // live[i]'s schema is roles[i]
  for (auto& s : List()) {
    if (s.holds_data()) {
      roles.push_back(RoleOf(s.id));
      live.push_back(std::move(s));
    }
  }
  if (live.empty()) {
    schemas_.clear();
    return;
  }
  // Read before the sizes: a write in between shows as a change at the next pass.
  auto activity =
      pool_.Read([&](pqxx::read_transaction& tx) { return SliceStore(tx).SchemaActivity(roles); });
  std::vector<std::string> schemas;  // those to size now
  for (std::size_t i = 0; i < live.size(); ++i) {
    auto seen = schemas_.find(live[i].id);
    if (!only_changed || seen == schemas_.end() || seen->second.activity != activity[roles[i]]) {
      schemas.push_back(roles[i]);
    }
  }
  // On a connection closed afterwards: the sizes open every relation of every slice. A
  // transaction per kStorageChunk schemas: one for all of them ran past the statement timeout
  // at 1,000 slices (and held a lock on each of their ~35,000 relations until it ended).
  std::map<std::string, std::uint64_t> bytes;
  if (!schemas.empty()) {
    bytes = pool_.RunClosed([&](pqxx::connection& c) {
      std::map<std::string, std::uint64_t> all;
      for (std::size_t from = 0; from < schemas.size(); from += kStorageChunk) {
        auto first = schemas.begin() + static_cast<std::ptrdiff_t>(from);
        auto last =
            first + static_cast<std::ptrdiff_t>(std::min(kStorageChunk, schemas.size() - from));
        pqxx::read_transaction tx(c);
        all.merge(SliceStore(tx).SchemaBytes({first, last}));
      }
      return all;
    });
  }
  std::map<long long, SchemaSeen> seen;
  for (std::size_t i = 0; i < live.size(); ++i) {
    const SliceInfo& s = live[i];
    auto sized = bytes.find(roles[i]);
    const SchemaSeen& now = seen[s.id] = {
        activity[roles[i]], sized != bytes.end() ? sized->second : schemas_.at(s.id).bytes};
    std::uint64_t total = now.bytes + DirectoryBytes(SliceDir(s.id) / "files");
    // Only a size that moved is written: an idle slice's does not, and a row written a slice a
    // minute is a commit (a WAL flush) a slice a minute, ~17 a second at 1,000 idle tenants.
    if (total != s.storage_bytes) {
      pool_.Write([&](pqxx::work& tx) { SliceStore(tx).SetStorage(s.id, total); });
    }
    if (total > s.storage_quota_bytes) {
      spdlog::warn("slice {}: storage {} bytes is over its quota of {} bytes", s.id, total,
                   s.storage_quota_bytes);
    }
  }
  schemas_ = std::move(seen);
}

nlohmann::json Orchestrator::RollingRestart(int batch) {
  if (batch < 1) {
    throw InputError("batch: expected at least 1", "batch");
  }
  // Here: restart each process and wait for its health check. Behind gateways: ask each slice's
  // host by bumping its generation, and wait until the host reports that generation healthy
  // (twice a start's own bound: the host has to notice first).
  std::vector<long long> ids;
  std::map<long long, long long> asked;  // slice → generation asked for (behind gateways)
  auto deadline = Clock::now();
  std::function<void(const std::vector<long long>&)> restart;
  std::function<bool(long long)> healthy;
  if (RunsSlices()) {
    std::lock_guard lock(mutex_);
    for (const auto& [id, p] : processes_) {
      if (p->wanted) {
        ids.push_back(id);
      }
    }
    restart = [this](const std::vector<long long>& group) {
      for (long long id : group) {
        StopProcess(id);
        StartProcess(id, false);
      }
    };
    healthy = [this](long long id) {
      bool ok = AwaitHealth(id, kHealthTimeout);
      RecordHealth(id, ok ? "healthy" : "restarting", true);
      return ok;
    };
  } else {
    for (const auto& s : List()) {
      if (s.runs()) {
        ids.push_back(s.id);
      }
    }
    restart = [&](const std::vector<long long>& group) {
      pool_.Write([&](pqxx::work& tx) {
        SliceStore slices(tx);
        for (long long id : group) {
          asked[id] = slices.BumpGeneration(id);
        }
      });
      deadline = Clock::now() + 2 * kHealthTimeout;
    };
    healthy = [&](long long id) {
      for (;;) {
        if (pool_.Read([&](pqxx::read_transaction& tx) {
              return SliceStore(tx).RunsGeneration(id, asked[id]);
            })) {
          return true;
        }
        if (Clock::now() >= deadline) {
          return false;
        }
        std::this_thread::sleep_for(milliseconds(100));
      }
    };
  }
  nlohmann::json batches = nlohmann::json::array();
  for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(batch)) {
    nlohmann::json done = nlohmann::json::array();
    std::vector<long long> group(
        ids.begin() + static_cast<long>(i),
        ids.begin() + static_cast<long>(std::min(ids.size(), i + static_cast<std::size_t>(batch))));
    restart(group);
    for (long long id : group) {
      bool ok = healthy(id);
      done.push_back({{"slice", id}, {"healthy", ok}});
      if (!ok) {
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
