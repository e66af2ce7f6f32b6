#include "crm/channel/wa_web.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "crm/error.hpp"
#include "crm/process.hpp"

extern char** environ;

namespace crm::channel {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

constexpr std::int64_t kProtocolVersion = 1;

bool Blocked(const std::string& sidecar_state) {
  return sidecar_state == "failed" || sidecar_state == "banned";
}

std::string ErrnoText(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

/// The whole of `line` on a blocking socket (SO_SNDTIMEO bounds a sidecar that stops reading).
bool WriteAll(int fd, std::string_view line) {
  while (!line.empty()) {
    ssize_t n = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    line.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Whether `pid` runs the sidecar on `socket` (its command line names the socket): a pid file
/// that outlived its process may name someone else's process since.
bool IsOurSidecar(pid_t pid, const fs::path& socket) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmdline.find(std::string("--socket") + '\0' + socket.string() + '\0') != std::string::npos;
}

}  // namespace

WaWebChannel::WaWebChannel(WaWebOptions options, Sink sink, ContactSink contacts, StateSink state)
    : options_(std::move(options)),
      sink_(std::move(sink)),
      contacts_(std::move(contacts)),
      state_sink_(std::move(state)),
      socket_path_(options_.data_dir / "wa-web.sock"),
      auth_dir_(options_.data_dir / "wa-web-auth"),
      pid_path_(options_.data_dir / "wa-web.pid") {
  if (options_.engine != "noweb" && options_.engine != "webjs") {
    throw InputError("engine: expected noweb or webjs, got \"" + options_.engine + "\"", "engine");
  }
  if (options_.spawn && options_.sidecar.empty()) {
    throw InputError("wa-web: the sidecar's path (CRM_WA_WEB_SIDECAR) is empty", "sidecar");
  }
  if (options_.spawn && options_.node.empty()) {
    throw InputError("wa-web: the node binary (CRM_NODE) is empty", "node");
  }
  if (socket_path_.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
    throw InputError("wa-web: socket path too long for a Unix socket: " + socket_path_.string());
  }
}

WaWebChannel::~WaWebChannel() {
  Stop();
}

void WaWebChannel::Start() {
  std::error_code ec;
  fs::create_directories(auth_dir_, ec);
  // The WhatsApp session's keys: nobody else reads them, whatever the umask was.
  fs::permissions(auth_dir_, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) {
    spdlog::warn("wa-web: cannot make {} private: {}", auth_dir_.string(), ec.message());
  }
  KillLeftover();
  if (options_.on_demand && fs::is_empty(auth_dir_, ec) && !ec) {
    std::lock_guard lock(mutex_);
    wanted_ = false;
    sidecar_state_ = "dormant";
    detail_ = "the WhatsApp Web session starts when the connect page is opened";
  }
  running_ = true;
  thread_ = std::thread([this] { Run(); });
}

void WaWebChannel::Activate() {
  {
    std::lock_guard lock(mutex_);
    if (wanted_) {
      return;
    }
    wanted_ = true;
    sidecar_state_ = "connecting";
    detail_ = "starting the WhatsApp Web sidecar";
    kick_ = true;
  }
  changed_.notify_all();
}

void WaWebChannel::Stop() {
  if (!running_.exchange(false)) {
    return;
  }
  changed_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  KillSidecar(milliseconds(5'000));
}

// --- the reader thread ---------------------------------------------------------------------------

void WaWebChannel::Run() {
  milliseconds backoff = options_.backoff_min;
  while (running_) {
    ReapSidecar();
    bool spawn = false;
    bool wanted = false;
    {
      std::lock_guard lock(mutex_);
      wanted = wanted_;
      spawn = wanted && options_.spawn && child_ == 0 && !Blocked(sidecar_state_);
    }
    if (spawn) {
      try {
        SpawnSidecar();
      } catch (const std::exception& e) {
        spdlog::error("wa-web: {}", e.what());
        std::lock_guard lock(mutex_);
        detail_ = e.what();
      }
    }
    if (wanted && ConnectOnce()) {
      ReadLoop();
      bool hello = false;
      {
        std::lock_guard lock(mutex_);
        hello = hello_done_;
      }
      Disconnect("connection to the sidecar closed");
      // A session that got as far as hello starts its backoff afresh.
      if (hello) {
        backoff = options_.backoff_min;
      }
    }
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, backoff, [this] { return !running_.load() || kick_; });
    kick_ = false;
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
  Disconnect("stopping");
}

bool WaWebChannel::ConnectOnce() {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    spdlog::error("wa-web: {}", ErrnoText("socket"));
    return false;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string path = socket_path_.string();
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return false;
  }
  // The socket should be ours alone (docs/wa-web.md); one that is not is made so.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
    spdlog::warn("wa-web: {} had mode {:o}; set to 0600", path, st.st_mode & 0777);
    ::chmod(path.c_str(), 0600);
  }
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  {
    std::lock_guard lock(mutex_);
    fd_ = fd;
    ++connection_;
    hello_done_ = false;
  }
  return true;
}

void WaWebChannel::ReadLoop() {
  int fd = 0;
  std::uint64_t connection = 0;
  {
    std::lock_guard lock(mutex_);
    fd = fd_;
    connection = connection_;
  }
  auto hello = Submit("hello", {{"version", kProtocolVersion}}, false);
  std::int64_t hello_id = hello.value_or(-1);
  wa_web::LineBuffer lines;
  std::string chunk(64 * 1024, '\0');
  auto next_status = Clock::now();  // the first right after hello
  auto next_redelivery = Clock::now();
  while (running_) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, 250);
    if (ready < 0 && errno != EINTR) {
      spdlog::warn("wa-web: {}", ErrnoText("poll"));
      return;
    }
    if (ready > 0) {
      ssize_t n = ::read(fd, chunk.data(), chunk.size());
      if (n == 0) {
        spdlog::warn("wa-web: the sidecar closed the connection");
        return;
      }
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) {
          continue;
        }
        spdlog::warn("wa-web: {}", ErrnoText("read"));
        return;
      }
      try {
        lines.Append(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
        while (auto line = lines.Next()) {
          wa_web::Incoming in = wa_web::ParseLine(*line);
          if (in.is_response && in.id == hello_id) {
            if (!in.ok) {
              throw wa_web::ProtocolError("hello refused: " + in.body.dump().substr(0, 200));
            }
            const json& r = in.body;
            std::string state = r.contains("state") && r["state"].is_string()
                                    ? r["state"].get<std::string>()
                                    : "connecting";
            spdlog::info("wa-web: connected to the sidecar (engine {}, state {})",
                         r.value("engine", std::string("?")), state);
            SetSidecarState(state, "", "");
            bool logout = false;
            {
              std::lock_guard lock(mutex_);
              hello_done_ = true;
              logout = std::exchange(logout_after_hello_, false);
            }
            changed_.notify_all();
            if (logout) {
              Submit("logout", json::object(), false);
            }
            NotifyState();
            continue;
          }
          Handle(in);
        }
      } catch (const wa_web::ProtocolError& e) {
        spdlog::error("wa-web: protocol error from the sidecar: {}; reconnecting", e.what());
        return;
      }
    }
    auto now = Clock::now();
    bool ready_for_status = false;
    {
      std::lock_guard lock(mutex_);
      ready_for_status = hello_done_ && connection == connection_;
    }
    if (ready_for_status && now >= next_status) {
      next_status = now + options_.status_interval;
      if (auto id = Submit("status", json::object(), false)) {
        std::lock_guard lock(mutex_);
        status_id_ = *id;
      }
    }
    if (now >= next_redelivery) {
      next_redelivery = now + milliseconds(1'000);
      std::vector<ChannelEvents> again;
      {
        std::lock_guard lock(mutex_);
        again.swap(undelivered_);
      }
      for (auto& events : again) {
        try {
          sink_(events);
        } catch (const std::exception& e) {
          spdlog::warn("wa-web: handing events to the slice failed again: {}", e.what());
          std::lock_guard lock(mutex_);
          undelivered_.push_back(std::move(events));
        }
      }
    }
  }
}

void WaWebChannel::Handle(const wa_web::Incoming& in) {
  if (in.is_response) {
    std::lock_guard lock(mutex_);
    if (in.id == status_id_) {
      status_id_ = 0;
      const json& r = in.body;
      if (in.ok && r.contains("rss_bytes") && r["rss_bytes"].is_number_unsigned()) {
        rss_bytes_ = r["rss_bytes"].get<std::uint64_t>();
      }
      if (in.ok && r.contains("phone") && r["phone"].is_string()) {
        phone_ = r["phone"].get<std::string>();
      }
      return;
    }
    auto it = pending_.find(in.id);
    if (it != pending_.end()) {
      it->second.done = true;
      it->second.response = in.body;
      changed_.notify_all();
    }
    return;
  }
  const json& e = in.body;
  if (in.event == "state") {
    auto state = e.find("state");
    if (state == e.end() || !state->is_string()) {
      spdlog::warn("wa-web: state event without a state; ignored");
      return;
    }
    SetSidecarState(state->get<std::string>(), e.value("phone", std::string()),
                    e.value("detail", std::string()));
    NotifyState();
    return;
  }
  if (in.event == "qr") {
    auto qr = e.find("qr");
    if (qr == e.end() || !qr->is_string() || qr->get_ref<const std::string&>().empty() ||
        qr->get_ref<const std::string&>().size() > 4'000) {
      spdlog::warn("wa-web: qr event without a usable qr string; ignored");
      return;
    }
    {
      std::lock_guard lock(mutex_);
      qr_ = qr->get<std::string>();
      long long expires = e.contains("expires_in_ms") && e["expires_in_ms"].is_number_integer()
                              ? e["expires_in_ms"].get<long long>()
                              : 0;
      qr_expires_ = std::chrono::system_clock::now() + milliseconds(std::max(0LL, expires));
      if (sidecar_state_ != "connected") {
        sidecar_state_ = "qr";
      }
    }
    NotifyState();
    return;
  }
  wa_web::EventEffect effect;
  try {
    effect = wa_web::MapEvent(in);
  } catch (const wa_web::ProtocolError& error) {
    // One bad event is dropped; the connection and the events around it are fine.
    spdlog::warn("wa-web: {}; dropped", error.what());
    return;
  }
  if (effect.contact && contacts_) {
    try {
      contacts_(effect.contact->first, effect.contact->second);
    } catch (const std::exception& error) {
      spdlog::warn("wa-web: contact name for {} not kept: {}", effect.contact->first, error.what());
    }
  }
  if (!effect.events.empty()) {
    try {
      sink_(effect.events);
    } catch (const std::exception& error) {
      spdlog::warn("wa-web: handing an event to the slice failed: {}; retrying", error.what());
      std::lock_guard lock(mutex_);
      undelivered_.push_back(std::move(effect.events));
    }
  }
}

void WaWebChannel::Disconnect(const std::string& why) {
  int fd = -1;
  {
    std::lock_guard lock(mutex_);
    fd = std::exchange(fd_, -1);
    hello_done_ = false;
    status_id_ = 0;
    for (auto& [id, p] : pending_) {
      if (!p.done) {
        p.done = true;
        p.response = nullptr;
      }
    }
    if (fd >= 0 && !Blocked(sidecar_state_)) {
      sidecar_state_ = "connecting";
      detail_ = why;
    }
  }
  changed_.notify_all();
  if (fd >= 0) {
    std::lock_guard write(write_mutex_);
    ::close(fd);
    NotifyState();
  }
}

void WaWebChannel::SetSidecarState(const std::string& state, const std::string& phone,
                                   const std::string& detail) {
  std::lock_guard lock(mutex_);
  if (state != sidecar_state_) {
    spdlog::info("wa-web: {} → {}{}", sidecar_state_, state, detail.empty() ? "" : ": " + detail);
  }
  sidecar_state_ = state;
  detail_ = detail.substr(0, 500);
  if (state == "connected") {
    qr_.clear();
    if (!phone.empty()) {
      phone_ = phone.substr(0, 32);
    }
  } else if (state != "qr") {
    qr_.clear();
  }
  if (state == "logged_out" || state == "replaced" || state == "banned") {
    phone_.clear();
  }
}

void WaWebChannel::NotifyState() {
  if (!state_sink_) {
    return;
  }
  try {
    state_sink_();
  } catch (const std::exception& e) {
    spdlog::warn("wa-web: publishing the channel state failed: {}", e.what());
  }
}

// --- the child -----------------------------------------------------------------------------------

void WaWebChannel::SpawnSidecar() {
  std::error_code ec;
  fs::remove(socket_path_, ec);  // a socket the last sidecar left: the new one binds afresh
  std::vector<std::string> args = {
      options_.node, options_.sidecar.string(), "--socket", socket_path_.string(),
      "--auth",      auth_dir_.string(),        "--engine", options_.engine};
  // The sidecar needs no secret of the slice's: a small environment of its own.
  std::vector<std::string> env;
  const char* path = std::getenv("PATH");
  env.push_back(std::string("PATH=") + (path != nullptr ? path : "/usr/bin:/bin"));
  env.push_back("HOME=" + options_.data_dir.string());
  env.push_back("NODE_ENV=production");
  for (const char* name : {"LANG", "TZ"}) {
    if (const char* value = std::getenv(name)) {
      env.push_back(std::string(name) + "=" + value);
    }
  }
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // stdout and stderr stay the slice's log; nothing else of the slice's crosses (its database
  // connections, its HTTP sockets).
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  // Its own process group: Stop() signals the sidecar and whatever it started (chromium).
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // Under the orchestrator's rlimit mechanism (no cgroups) the address-space limit is the
  // slice's plus 256 MiB: Node's V8 reserves more than that at start and aborts.
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY &&
      as.rlim_cur < (1ull << 30)) {
    spdlog::warn(
        "wa-web: the address-space limit is {} MiB (rlimit, not a cgroup): Node usually needs "
        "1 GiB of address space to start; use cgroup memory limits for wa-web slices",
        as.rlim_cur >> 20);
  }
  pid_t pid = 0;
  int rc =
      options_.node.find('/') == std::string::npos
          ? ::posix_spawnp(&pid, options_.node.c_str(), &actions, &attr, argv.data(), envp.data())
          : ::posix_spawn(&pid, options_.node.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw RuntimeError("cannot start the sidecar (" + options_.node + " " +
                       options_.sidecar.string() + "): " + std::strerror(rc));
  }
  {
    std::ofstream out(pid_path_, std::ios::trunc);
    out << pid << "\n";
  }
  std::lock_guard lock(mutex_);
  child_ = pid;
  spdlog::info("wa-web: started the sidecar (pid {}, engine {})", pid, options_.engine);
}

bool WaWebChannel::ReapSidecar() {
  pid_t pid = 0;
  {
    std::lock_guard lock(mutex_);
    pid = child_;
  }
  if (pid == 0) {
    return true;
  }
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == 0) {
    return false;
  }
  std::string how = r < 0               ? "is gone"
                    : WIFEXITED(status) ? "exited with " + std::to_string(WEXITSTATUS(status))
                    : WIFSIGNALED(status)
                        ? "was killed by signal " + std::to_string(WTERMSIG(status))
                        : "ended";
  std::lock_guard lock(mutex_);
  child_ = 0;
  rss_bytes_.reset();
  if (Blocked(sidecar_state_)) {
    spdlog::warn("wa-web: the sidecar {} while {}: not restarted", how, sidecar_state_);
    if (detail_.find("not restarted") == std::string::npos) {
      detail_ += std::string(detail_.empty() ? "" : "; ") +
                 "the sidecar stopped and is not restarted: log out to pair again";
    }
  } else {
    spdlog::warn("wa-web: the sidecar (pid {}) {}; restarting it", pid, how);
    sidecar_state_ = "connecting";
    detail_ = "the sidecar " + how + "; restarting it";
  }
  return true;
}

void WaWebChannel::KillSidecar(milliseconds grace) {
  pid_t pid = 0;
  {
    std::lock_guard lock(mutex_);
    pid = child_;
  }
  if (pid == 0) {
    return;
  }
  ::kill(-pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  while (Clock::now() < deadline) {
    if (::waitpid(pid, nullptr, WNOHANG) != 0) {
      ::kill(-pid, SIGKILL);  // what it started and left behind
      std::lock_guard lock(mutex_);
      child_ = 0;
      std::error_code ec;
      fs::remove(pid_path_, ec);
      return;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  spdlog::warn("wa-web: the sidecar (pid {}) ignored SIGTERM for {} ms; killing it", pid,
               grace.count());
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  std::lock_guard lock(mutex_);
  child_ = 0;
  std::error_code ec;
  fs::remove(pid_path_, ec);
}

// A slice killed with SIGKILL leaves its sidecar running (posix_spawn has no parent-death
// signal): the next slice process ends it before starting its own.
void WaWebChannel::KillLeftover() {
  auto pid = ReadPidFile(pid_path_);
  if (!pid || !ProcessExists(*pid) || !IsOurSidecar(*pid, socket_path_)) {
    return;
  }
  spdlog::warn("wa-web: ending the sidecar a previous slice process left (pid {})", *pid);
  ::kill(-*pid, SIGKILL);
  ::kill(*pid, SIGKILL);
  for (int i = 0; i < 100 && ProcessExists(*pid) && !IsZombie(*pid); ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
}

pid_t WaWebChannel::SidecarPid() const {
  std::lock_guard lock(mutex_);
  return child_;
}

// --- requests ------------------------------------------------------------------------------------

std::optional<std::int64_t> WaWebChannel::Submit(const std::string& op, const json& fields,
                                                 bool awaited) {
  std::int64_t id = 0;
  int fd = -1;
  {
    std::lock_guard lock(mutex_);
    if (fd_ < 0) {
      return std::nullopt;
    }
    fd = fd_;
    id = next_id_++;
    if (awaited) {
      pending_[id] = Pending{};
    }
  }
  std::string line = wa_web::RequestLine(id, op, fields);
  bool written = false;
  {
    // Disconnect() closes the descriptor under write_mutex_: while we hold it, a descriptor that
    // is still fd_ stays open (and is not another connection's).
    std::lock_guard write(write_mutex_);
    {
      std::lock_guard lock(mutex_);
      written = fd_ == fd;
    }
    if (written) {
      written = WriteAll(fd, line);
    }
  }
  if (!written) {
    std::lock_guard lock(mutex_);
    pending_.erase(id);
    if (fd_ == fd && fd_ >= 0) {
      ::shutdown(fd_, SHUT_RDWR);  // the reader sees the end and reconnects
    }
    return std::nullopt;
  }
  return id;
}

std::optional<json> WaWebChannel::Await(std::int64_t id, Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] {
    auto it = pending_.find(id);
    return it == pending_.end() || it->second.done || !running_;
  });
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    return std::nullopt;
  }
  std::optional<json> out;
  if (it->second.done && !it->second.response.is_null()) {
    out = std::move(it->second.response);
  }
  pending_.erase(it);
  return out;
}

bool WaWebChannel::WaitConnected(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [this] {
    return (fd_ >= 0 && hello_done_) || !running_;
  }) && running_;
}

std::optional<json> WaWebChannel::Call(const std::string& op, const json& fields,
                                       milliseconds timeout) {
  auto id = Submit(op, fields);
  if (!id) {
    return std::nullopt;
  }
  return Await(*id, Clock::now() + timeout);
}

std::vector<SendResult> WaWebChannel::Send(const std::vector<OutboundMessage>& batch) {
  Activate();
  std::vector<SendResult> results(batch.size());
  SendResult not_connected;
  not_connected.outcome = Outcome::kRetry;
  not_connected.throttle = Throttle::kPhone;
  not_connected.retry_after = milliseconds(1'000);
  not_connected.held = true;  // never handed over: waits for the session, no attempt used
  {
    std::lock_guard lock(mutex_);
    if (fd_ < 0 || !hello_done_ || sidecar_state_ != "connected") {
      not_connected.error =
          "wa-web: WhatsApp is not connected (" + wa_web::ChannelStateOf(sidecar_state_) + ")";
      std::fill(results.begin(), results.end(), not_connected);
      return results;
    }
  }
  const auto deadline = Clock::now() + options_.request_timeout;
  // A key whose last send got no answer may have reached WhatsApp: ask the journal first.
  std::vector<bool> skip(batch.size(), false);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const std::string& key = batch[i].idempotency_key;
    bool doubtful = false;
    {
      std::lock_guard lock(mutex_);
      doubtful = in_doubt_.count(key) > 0;
    }
    if (!doubtful) {
      continue;
    }
    auto id = Submit("lookup", {{"client_id", key}});
    auto answer = id ? Await(*id, deadline) : std::nullopt;
    if (!answer) {
      results[i] = not_connected;
      results[i].held = false;  // a sidecar that does not answer: this attempt counts
      results[i].error = "wa-web: no answer to the lookup of an interrupted send";
      skip[i] = true;
      continue;
    }
    auto found = wa_web::MapLookupResponse(*answer);
    {
      std::lock_guard lock(mutex_);
      in_doubt_.erase(key);
    }
    if (!found) {
      results[i].outcome = Outcome::kFailed;
      results[i].error =
          "wa-web: an interrupted send that the sidecar cannot account for; not "
          "sent again";
      skip[i] = true;
    } else if (!found->empty()) {
      results[i].outcome = Outcome::kSent;
      results[i].provider_id = *found;
      skip[i] = true;
    }
  }
  std::vector<std::optional<std::int64_t>> ids(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (skip[i]) {
      continue;
    }
    if (batch[i].tmpl) {
      results[i].outcome = Outcome::kFailed;
      results[i].error = "wa-web: message templates are a Cloud API feature; send text";
      skip[i] = true;
      continue;
    }
    ids[i] = Submit(
        "send",
        {{"client_id", batch[i].idempotency_key}, {"to", batch[i].to}, {"text", batch[i].text}});
    if (!ids[i]) {
      results[i] = not_connected;
      results[i].error = "wa-web: the connection to the sidecar broke";
      skip[i] = true;
    }
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (skip[i]) {
      continue;
    }
    auto answer = Await(*ids[i], deadline);
    if (answer) {
      results[i] = wa_web::MapSendResponse(*answer);
      continue;
    }
    // Handed over, perhaps: the sidecar's journal says at the next attempt.
    {
      std::lock_guard lock(mutex_);
      in_doubt_.insert(batch[i].idempotency_key);
    }
    results[i].outcome = Outcome::kRetry;
    results[i].error = "wa-web: no answer from the sidecar (it is looked up before a new attempt)";
    results[i].retry_after = milliseconds(1'000);
  }
  return results;
}

std::optional<std::string> WaWebChannel::Lookup(const std::string& idempotency_key) {
  auto deadline = Clock::now() + options_.request_timeout;
  {
    // The dispatcher looks up every in-doubt task in turn: while the sidecar stays away they
    // share one wait, rather than each waiting the whole timeout.
    std::lock_guard lock(mutex_);
    if (fd_ < 0 || !hello_done_) {
      if (!absent_since_ || Clock::now() - *absent_since_ > 2 * options_.request_timeout) {
        absent_since_ = Clock::now();
      }
      deadline = std::min(deadline, *absent_since_ + options_.request_timeout);
    } else {
      absent_since_.reset();
    }
  }
  if (!WaitConnected(deadline)) {
    return std::nullopt;
  }
  auto id = Submit("lookup", {{"client_id", idempotency_key}});
  if (!id) {
    return std::nullopt;
  }
  auto answer = Await(*id, deadline);
  return answer ? wa_web::MapLookupResponse(*answer) : std::nullopt;
}

std::string WaWebChannel::PairCode(const std::string& phone) {
  Activate();
  auto answer = Call("pair_code", {{"phone", phone}}, milliseconds(30'000));
  if (!answer) {
    throw Unavailable("the WhatsApp Web sidecar is not connected; try again in a moment",
                      std::chrono::seconds(2));
  }
  if (!answer->value("ok", false)) {
    json error = answer->contains("error") && (*answer)["error"].is_object() ? (*answer)["error"]
                                                                             : json::object();
    throw InputError(
        "phone: " + error.value("message", error.value("code", std::string("refused"))), "phone");
  }
  auto code = answer->find("code");
  if (code == answer->end() || !code->is_string() || code->get_ref<const std::string&>().empty() ||
      code->get_ref<const std::string&>().size() > 16) {
    throw RuntimeError("wa-web: pair_code answered without a usable code");
  }
  return code->get<std::string>();
}

void WaWebChannel::Logout() {
  Activate();
  bool connected = false;
  {
    std::lock_guard lock(mutex_);
    connected = fd_ >= 0 && hello_done_;
    if (!connected) {
      // Sent once the sidecar answers hello; a failed or banned one is started again for it.
      logout_after_hello_ = true;
      if (Blocked(sidecar_state_)) {
        sidecar_state_ = "connecting";
        detail_ = "starting the sidecar again after a logout";
      }
      kick_ = true;
    }
  }
  changed_.notify_all();
  if (!connected) {
    return;
  }
  auto answer = Call("logout", json::object(), milliseconds(30'000));
  if (!answer) {
    throw Unavailable("the WhatsApp Web sidecar did not answer the logout; try again",
                      std::chrono::seconds(2));
  }
  if (!answer->value("ok", false)) {
    throw RuntimeError("wa-web: logout refused: " + answer->dump().substr(0, 200));
  }
}

// --- the slice's view ----------------------------------------------------------------------------

ChannelState WaWebChannel::State() const {
  std::lock_guard lock(mutex_);
  ChannelState s;
  s.kind = "wa-web";
  s.state = fd_ >= 0 && hello_done_   ? wa_web::ChannelStateOf(sidecar_state_)
            : Blocked(sidecar_state_) ? sidecar_state_
                                      : "disconnected";
  s.phone = s.state == "connected" ? phone_ : "";
  s.detail = detail_;
  if (s.detail.empty() && s.state == "unpaired") {
    s.detail = "scan the QR code with WhatsApp (Linked devices) or request a pairing code";
  }
  s.memory_bytes = rss_bytes_;
  return s;
}

SendReadiness WaWebChannel::Readiness() const {
  ChannelState s = State();
  if (s.state == "connected") {
    return {};
  }
  std::string sidecar_state;
  {
    std::lock_guard lock(mutex_);
    sidecar_state = sidecar_state_;
  }
  std::string detail = s.detail.empty() ? "" : " (" + s.detail + ")";
  std::string why;
  if (sidecar_state == "dormant" || s.state == "unpaired") {
    why = "WhatsApp is not paired: open the connect page and scan the QR code";
  } else if (s.state == "banned") {
    why = "WhatsApp banned this number" + detail + ": log out and pair another number";
  } else if (s.state == "failed") {
    why = "the WhatsApp session failed" + detail + ": log out and pair again";
  } else if (sidecar_state == "logged_out" || sidecar_state == "replaced") {
    why = "WhatsApp logged this device out" + detail + ": pair again";
  } else {
    why = "WhatsApp is disconnected" + detail + "; sending resumes once it reconnects";
  }
  return {false, "messages wait: " + why};
}

json WaWebChannel::Describe() const {
  ChannelState s = State();
  SendReadiness readiness = Readiness();
  std::lock_guard lock(mutex_);
  json qr_expires = nullptr;
  if (!qr_.empty()) {
    qr_expires = std::chrono::duration_cast<milliseconds>(qr_expires_.time_since_epoch()).count();
  }
  return {{"kind", s.kind},
          {"state", s.state},
          {"sidecar_state", sidecar_state_},
          {"phone", s.phone.empty() ? json(nullptr) : json(s.phone)},
          {"qr", qr_.empty() || s.state == "connected" ? json(nullptr) : json(qr_)},
          {"qr_expires_at_ms", qr_expires},
          {"detail", s.detail},
          {"engine", options_.engine},
          {"rss_bytes", rss_bytes_ ? json(*rss_bytes_) : json(nullptr)},
          {"held_reason", readiness.ready ? json(nullptr) : json(readiness.reason)}};
}

}  // namespace crm::channel
