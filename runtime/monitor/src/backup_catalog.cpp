// `pgbackrest info` for the monitor: the newest backup's stop time, with a time limit so a hung
// repository (an unreachable bucket) never holds the monitor up.
#include "crm/monitor/backup_catalog.hpp"

#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/io.hpp>
#include <boost/process/search_path.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "crm/error.hpp"

namespace crm::monitor {

namespace bp = boost::process;
namespace fs = std::filesystem;

namespace {

// pgBackRest's stanza status codes (`pgbackrest info`): 0 ok, 2 no valid backups.
constexpr int kStatusOk = 0;
constexpr int kStatusNoBackup = 2;
constexpr std::size_t kQuoted = 300;  // of pgBackRest's output in an alert's message

std::string Shorten(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.size() <= kQuoted) {
    return text;
  }
  std::size_t cut = kQuoted;
  // Never inside a UTF-8 sequence: the alert's message is JSON.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return text.substr(0, cut) + "...";
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A temporary file, removed when it goes.
class TempFile {
 public:
  explicit TempFile(const char* what) {
    std::string name = (fs::temp_directory_path() / fmt::format("crmd-{}-XXXXXX", what)).string();
    const int fd = ::mkstemp(name.data());
    if (fd < 0) {
      throw RuntimeError(
          fmt::format("cannot create a temporary file in {}", fs::temp_directory_path().string()));
    }
    ::close(fd);
    path_ = name;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

std::optional<TimePoint> NewestBackupIn(const std::string& info_json, const std::string& stanza) {
  const auto doc = nlohmann::json::parse(info_json, nullptr, false);
  if (doc.is_discarded() || !doc.is_array()) {
    throw RuntimeError("pgbackrest info printed no JSON list: " + Shorten(info_json));
  }
  for (const auto& s : doc) {
    if (!s.is_object() || s.value("name", "") != stanza) {
      continue;
    }
    const auto& status = s.contains("status") ? s["status"] : nlohmann::json::object();
    const int code = status.is_object() ? status.value("code", -1) : -1;
    if (code != kStatusOk && code != kStatusNoBackup) {
      std::string message = status.is_object() ? status.value("message", "") : "";
      // The reason is often only in the repository's own status ("other": a cipher error).
      if (s.contains("repo") && s["repo"].is_array()) {
        for (const auto& repo : s["repo"]) {
          if (repo.is_object() && repo.contains("status") && repo["status"].is_object() &&
              repo["status"].value("code", 0) != kStatusOk) {
            message += "; repo" + std::to_string(repo.value("key", 0)) + ": " +
                       repo["status"].value("message", "");
          }
        }
      }
      throw RuntimeError(fmt::format("stanza {}: status {} ({})", stanza, code, Shorten(message)));
    }
    std::optional<TimePoint> newest;
    if (s.contains("backup") && s["backup"].is_array()) {
      for (const auto& b : s["backup"]) {
        if (!b.is_object() || !b.contains("timestamp") || !b["timestamp"].is_object() ||
            !b["timestamp"].contains("stop") || !b["timestamp"]["stop"].is_number_integer()) {
          continue;
        }
        const TimePoint stop{std::chrono::seconds(b["timestamp"]["stop"].get<long long>())};
        if (!newest || stop > *newest) {
          newest = stop;
        }
      }
    }
    return newest;
  }
  throw RuntimeError(fmt::format("pgbackrest info lists no stanza {}", stanza));
}

PgBackRestCatalog::PgBackRestCatalog(std::string stanza, std::string config,
                                     std::chrono::seconds timeout)
    : stanza_(std::move(stanza)), config_(std::move(config)), timeout_(timeout) {}

std::optional<TimePoint> PgBackRestCatalog::NewestBackup() {
  const fs::path binary = bp::search_path("pgbackrest").string();
  if (binary.empty()) {
    throw RuntimeError("pgbackrest is not installed (not on PATH)");
  }
  std::vector<std::string> args;
  if (!config_.empty()) {
    args.push_back("--config=" + config_);
  }
  // Only the JSON on stdout: no log file of ours in the repository's log directory, warnings on
  // stderr for the message.
  args.insert(args.end(), {"--stanza=" + stanza_, "--output=json", "--log-level-file=off",
                           "--log-level-console=off", "--log-level-stderr=warn", "info"});
  const TempFile out("pgbackrest-info");
  const TempFile err("pgbackrest-info-err");
  int exit_code = -1;
  try {
    bp::child child(bp::exe = binary.string(), bp::args = args,
                    bp::std_in<bp::null, bp::std_out> out.path().string(),
                    bp::std_err > err.path().string());
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (child.running()) {
      if (std::chrono::steady_clock::now() > deadline) {
        child.terminate();
        throw RuntimeError(
            fmt::format("pgbackrest info did not answer within {} s", timeout_.count()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    child.wait();
    exit_code = child.exit_code();
  } catch (const bp::process_error& e) {
    throw RuntimeError(fmt::format("cannot run pgbackrest: {}", e.what()));
  }
  const std::string json = ReadAll(out.path());
  if (exit_code != 0) {
    throw RuntimeError(fmt::format("pgbackrest info exited {}: {}", exit_code,
                                   Shorten(ReadAll(err.path()) + json)));
  }
  return NewestBackupIn(json, stanza_);
}

}  // namespace crm::monitor
