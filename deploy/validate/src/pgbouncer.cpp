// pgbouncer: the rendered pgbouncer.ini loaded by the installed PgBouncer (-d, then stopped).
#include "tool_check.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <optional>
#include <regex>
#include <thread>

#include "crm/files.hpp"
#include "crm/ports.hpp"
#include "crm/process.hpp"
#include "crm/tools/tool_runner.hpp"
#include "crm/validate/tool_output.hpp"

namespace crm::validate {

namespace fs = std::filesystem;

ToolReport CheckPgBouncer(CheckContext& check) {
  const auto pgbouncer = tools::FindTool("pgbouncer", {"/usr/sbin"});
  const auto files =
      check.FilesWhere([](const std::string& p) { return p.ends_with("pgbouncer.ini"); });
  if (files.empty()) {
    return CheckContext::Skip("pgbouncer", "no pgbouncer.ini rendered");
  }
  if (!pgbouncer) {
    return CheckContext::Skip("pgbouncer", "pgbouncer is not installed");
  }
  const std::size_t before = check.findings().size();
  int n = 0;
  for (const std::string& f : files) {
    const fs::path work = check.scratch() / fmt::format("pgbouncer-{}", n++);
    fs::create_directories(work);
    std::string text = ReadFile(check.dir() / f);
    // Line-preserving: listen on loopback at a port of our own, files in the scratch dir.
    const int port = FreeLoopbackPort();
    text = std::regex_replace(text, std::regex(R"((\n)listen_addr\s*=[^\n]*)"),
                              "$1listen_addr = 127.0.0.1");
    text = std::regex_replace(text, std::regex(R"((\n)listen_port\s*=[^\n]*)"),
                              fmt::format("$1listen_port = {}", port));
    text = std::regex_replace(text, std::regex(R"((\n)auth_file\s*=[^\n]*)"),
                              "$1auth_file = " + (work / "userlist.txt").string());
    text = std::regex_replace(text, std::regex(R"((\n)logfile\s*=[^\n]*)"),
                              "$1logfile = " + (work / "pgbouncer.log").string());
    text = std::regex_replace(text, std::regex(R"((\n)pidfile\s*=[^\n]*)"),
                              "$1pidfile = " + (work / "pgbouncer.pid").string());
    text += "unix_socket_dir = " + work.string() + "\n";
    const fs::path copy = work / "pgbouncer.ini";
    WriteFileAtomic(copy, text);
    WriteFileAtomic(work / "userlist.txt", "");
    if (geteuid() == 0) {
      tools::RunTool({"/bin/chown", "-R", "postgres", work.string()}, work.string(),
                     std::chrono::seconds(10));
    }
    // -d: pgbouncer loads the file, then daemonizes; a bad file makes it exit non-zero first.
    const tools::ToolResult r = tools::RunTool({*pgbouncer, "-d", copy.string()}, work.string(),
                                               std::chrono::seconds(20), true);
    // A file pgbouncer refuses leaves no log and no pid file.
    const std::string log = ReadFileIfExists(work / "pgbouncer.log").value_or("");
    if (r.exit_code == 0 && !r.timed_out) {
      // The daemon writes its pid file after the parent has exited: give it a moment.
      std::optional<pid_t> pid = ReadPidFile(work / "pgbouncer.pid");
      for (int i = 0; i < 100 && !pid; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        pid = ReadPidFile(work / "pgbouncer.pid");
      }
      if (pid) {
        tools::RunTool({"/bin/kill", std::to_string(*pid)}, work.string(),
                       std::chrono::seconds(10));
      }
    }
    if (r.exit_code != 0 || r.timed_out) {
      FindingsFromOutput(r.output + log, copy.string(), f, "pgbouncer",
                         "use parameters PgBouncer 1.18 knows", check.findings());
    }
  }
  return check.Finish("pgbouncer", before, n, "configuration loaded by pgbouncer -d");
}

}  // namespace crm::validate
