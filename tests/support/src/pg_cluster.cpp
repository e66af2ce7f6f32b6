#include "crm/testing/pg_cluster.hpp"

#include <unistd.h>

#include <boost/process.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace crm::testing {
namespace {

namespace bp = boost::process;
namespace fs = std::filesystem;

constexpr int kSocketPort = 5432;  // names the socket file only: it lives in our own directory

std::string PgBinary(const std::string& name) {
  for (const char* dir : {"/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin"}) {
    const fs::path p = fs::path(dir) / name;
    if (access(p.c_str(), X_OK) == 0) {
      return p.string();
    }
  }
  throw std::runtime_error("PostgreSQL 15 is not installed: no " + name +
                           " (scripts/bootstrap installs postgresql-15)");
}

// Runs a command to completion (as postgres when root) and returns its output; throws with that
// output when it fails. The commands bound their own time (initdb is local work; pg_ctl gets -t).
std::string Run(std::vector<std::string> args) {
  if (geteuid() == 0) {
    args.insert(args.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  }
  bp::ipstream out;
  bp::child child(bp::exe = args.front(),
                  bp::args = std::vector<std::string>(args.begin() + 1, args.end()),
                  (bp::std_out & bp::std_err) > out, bp::std_in < bp::null);
  std::string text;
  std::string line;
  while (std::getline(out, line)) {
    text += line + "\n";
  }
  child.wait();
  if (child.exit_code() != 0) {
    std::string command;
    for (const std::string& a : args) {
      command += a + " ";
    }
    throw std::runtime_error(command + "failed (exit " + std::to_string(child.exit_code()) +
                             "):\n" + text);
  }
  return text;
}

}  // namespace

std::unique_ptr<PgCluster> PgCluster::Start() {
  return Start(std::string());
}

std::unique_ptr<PgCluster> PgCluster::Start(const std::string& settings) {
  std::string tmpl = (fs::temp_directory_path() / "crm-pg-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("cannot create a temporary directory for PostgreSQL");
  }
  std::unique_ptr<PgCluster> cluster(new PgCluster(tmpl));
  if (geteuid() == 0) {
    Run({"/bin/true"});  // fails early, and clearly, if runuser or the postgres user is missing
    std::vector<std::string> chown = {"/bin/chown", "postgres:postgres", tmpl};
    bp::system(bp::exe = chown[0],
               bp::args = std::vector<std::string>(chown.begin() + 1, chown.end()));
  }
  const fs::path data = cluster->dir_ / "data";
  Run({PgBinary("initdb"), "-D", data.string(), "-A", "trust", "-U", "postgres", "-E", "UTF8",
       "--no-sync", "--no-instructions"});
  if (!settings.empty()) {
    // Written by us (root or not) before pg_ctl starts the server: readable by postgres.
    fs::create_directories(data / "conf.d");
    std::ofstream(data / "conf.d" / "crm.conf") << settings;
    std::ofstream(data / "postgresql.conf", std::ios::app) << "include_dir = 'conf.d'\n";
    if (geteuid() == 0) {
      std::vector<std::string> chown = {"/bin/chown", "-R", "postgres:postgres",
                                        (data / "conf.d").string()};
      bp::system(bp::exe = chown[0],
                 bp::args = std::vector<std::string>(chown.begin() + 1, chown.end()));
    }
  }
  try {
    cluster->PgCtl("start");
  } catch (const std::exception& e) {
    std::ifstream log(cluster->dir_ / "server.log");
    std::ostringstream ss;
    ss << log.rdbuf();
    throw std::runtime_error(std::string(e.what()) + "\nserver log:\n" + ss.str());
  }
  cluster->running_ = true;
  return cluster;
}

std::unique_ptr<PgCluster> PgCluster::StartStandby() const {
  std::string tmpl = (fs::temp_directory_path() / "crm-pg-standby-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("cannot create a temporary directory for the standby");
  }
  std::unique_ptr<PgCluster> standby(new PgCluster(tmpl));
  if (geteuid() == 0) {
    std::vector<std::string> chown = {"/bin/chown", "postgres:postgres", tmpl};
    bp::system(bp::exe = chown[0],
               bp::args = std::vector<std::string>(chown.begin() + 1, chown.end()));
  }
  // A fast checkpoint: a spread one takes minutes on a primary with large rendered
  // shared_buffers and checkpoint_completion_target.
  Run({PgBinary("pg_basebackup"), "-D", (standby->dir_ / "data").string(), "-R", "-X", "stream",
       "-h", dir_.string(), "-p", std::to_string(kSocketPort), "-U", "postgres", "--no-sync",
       "--checkpoint=fast"});
  try {
    standby->PgCtl("start");
  } catch (const std::exception& e) {
    std::ifstream log(standby->dir_ / "server.log");
    std::ostringstream ss;
    ss << log.rdbuf();
    throw std::runtime_error(std::string(e.what()) + "\nstandby log:\n" + ss.str());
  }
  standby->running_ = true;
  return standby;
}

PgCluster::~PgCluster() {
  try {
    Stop();
  } catch (...) {
    // A destructor must not throw; the directory is in /tmp either way.
  }
}

void PgCluster::PgCtl(const std::string& action) {
  Run({PgBinary("pg_ctl"), "-D", (dir_ / "data").string(), "-l", (dir_ / "server.log").string(),
       "-m", "fast", "-w", "-t", "60", "-o",
       "-k " + dir_.string() + " -p " + std::to_string(kSocketPort) +
           " -c listen_addresses='' -c fsync=off -c full_page_writes=off",
       action});
}

void PgCluster::Restart() {
  PgCtl("restart");
}

void PgCluster::Pause() {
  PgCtl("stop");
}

void PgCluster::Stop() {
  if (running_) {
    running_ = false;
    Run({PgBinary("pg_ctl"), "-D", (dir_ / "data").string(), "-m", "fast", "-w", "-t", "60",
         "stop"});
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PgCluster::ConnectionString(const std::string& database) const {
  return "host=" + dir_.string() + " port=" + std::to_string(kSocketPort) +
         " user=postgres dbname=" + database + " connect_timeout=10";
}

}  // namespace crm::testing
