#include "crm/tools/tool_runner.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "crm/error.hpp"

namespace crm::tools {

namespace bp = boost::process;
namespace fs = std::filesystem;

std::optional<std::string> FindTool(const std::string& name,
                                    const std::vector<std::string>& extra_dirs) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string p(path);
    std::size_t start = 0;
    while (start <= p.size()) {
      const std::size_t colon = p.find(':', start);
      dirs.push_back(
          p.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
      if (colon == std::string::npos) {
        break;
      }
      start = colon + 1;
    }
  }
  dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
  for (const std::string& d : dirs) {
    if (d.empty()) {
      continue;
    }
    const fs::path candidate = fs::path(d) / name;
    if (access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) {
      return candidate.string();
    }
  }
  return std::nullopt;
}

namespace {

bp::environment Environment(const std::map<std::string, std::string>& add,
                            const std::string& drop_prefix) {
  bp::environment env = boost::this_process::environment();
  if (!drop_prefix.empty()) {
    std::vector<std::string> drop;
    for (const auto& entry : env) {
      if (entry.get_name().rfind(drop_prefix, 0) == 0) {
        drop.push_back(entry.get_name());
      }
    }
    for (const std::string& name : drop) {
      env.erase(name);
    }
  }
  for (const auto& [key, value] : add) {
    env[key] = value;
  }
  return env;
}

}  // namespace

ToolResult RunTool(const std::vector<std::string>& argv, const std::string& cwd,
                   std::chrono::seconds timeout, bool as_postgres) {
  ProcessSpec spec;
  spec.argv = argv;
  spec.cwd = cwd;
  spec.timeout = timeout;
  spec.as_postgres = as_postgres;
  return RunProcess(spec);
}

ToolResult RunProcess(const ProcessSpec& spec) {
  std::vector<std::string> args = spec.argv;
  const auto timeout = spec.timeout;
  if (spec.as_postgres && geteuid() == 0) {
    const auto runuser = FindTool("runuser", {"/usr/sbin", "/sbin"});
    if (!runuser) {
      throw RuntimeError("runuser not found: needed to run PostgreSQL tools as postgres when root");
    }
    args.insert(args.begin(), {*runuser, "-u", "postgres", "--"});
  }
  const fs::path log =
      fs::temp_directory_path() / fmt::format("crmctl-tool-{}-{}.log", getpid(), std::rand());
  ToolResult result;
  bp::environment env = Environment(spec.env, spec.drop_env_prefix);
  try {
    bp::opstream input;
    bp::child child =
        spec.input ? bp::child(
                         bp::exe = args.front(),
                         bp::args = std::vector<std::string>(args.begin() + 1, args.end()),
                         bp::start_dir = spec.cwd, env, (bp::std_out & bp::std_err) > log.string(),
                         bp::std_in < input,
                         bp::extend::on_exec_setup = [](auto&) { std::signal(SIGPIPE, SIG_DFL); })
                   : bp::child(
                         bp::exe = args.front(),
                         bp::args = std::vector<std::string>(args.begin() + 1, args.end()),
                         bp::start_dir = spec.cwd, env, (bp::std_out & bp::std_err) > log.string(),
                         bp::std_in < bp::null,
                         bp::extend::on_exec_setup = [](auto&) { std::signal(SIGPIPE, SIG_DFL); });
    if (spec.input) {
      input << *spec.input;
      input.flush();
      input.pipe().close();
    }
    // Boost's wait_for sleeps in coarse steps; a short poll keeps validate fast.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (child.running()) {
      if (std::chrono::steady_clock::now() > deadline) {
        child.terminate();
        result.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!result.timed_out) {
      child.wait();
      result.exit_code = child.exit_code();
    }
  } catch (const bp::process_error& e) {
    throw RuntimeError(fmt::format("cannot run {}: {}", args.front(), e.what()));
  }
  std::ifstream in(log);
  std::ostringstream ss;
  ss << in.rdbuf();
  result.output = ss.str();
  std::error_code ec;
  fs::remove(log, ec);
  return result;
}

pid_t StartDetached(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env_add, const fs::path& log,
                    const std::string& cwd, const std::string& drop_env_prefix) {
  bp::environment env = Environment(env_add, drop_env_prefix);
  FILE* out = std::fopen(log.c_str(), "ae");
  if (out == nullptr) {
    throw RuntimeError(fmt::format("cannot open {}: {}", log.string(), std::strerror(errno)));
  }
  try {
    // setsid: the process leaves our session, so a Ctrl-C in crmctl's terminal or the end of
    // crmctl does not reach it.
    bp::child child(
        bp::exe = argv.front(), bp::args = std::vector<std::string>(argv.begin() + 1, argv.end()),
        bp::start_dir = cwd, env, bp::std_out > out, bp::std_err > out, bp::std_in < bp::null,
        bp::extend::on_exec_setup = [](auto&) {
          ::setsid();
          std::signal(SIGPIPE, SIG_DFL);
        });
    const pid_t pid = child.id();
    child.detach();
    std::fclose(out);
    return pid;
  } catch (const bp::process_error& e) {
    std::fclose(out);
    throw RuntimeError(fmt::format("cannot start {}: {}", argv.front(), e.what()));
  }
}

}  // namespace crm::tools
