// postgres -C: the rendered postgresql.conf read by the installed server's own parser.
#include "tool_check.hpp"

#include <unistd.h>

#include <fstream>

#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/tools/tool_runner.hpp"
#include "crm/validate/tool_output.hpp"

namespace crm::validate {

namespace fs = std::filesystem;

ToolReport CheckPostgres(CheckContext& check) {
  const std::vector<std::string> pg_dirs = {"/usr/lib/postgresql/15/bin"};
  const auto initdb = tools::FindTool("initdb", pg_dirs);
  const auto postgres = tools::FindTool("postgres", pg_dirs);
  // PostgreSQL's own configuration only: a host named postgres also carries pgbackrest.conf.
  const auto files = check.FilesWhere([](const std::string& p) {
    const bool in_pg_dir =
        p.starts_with("etc/postgresql/") || p.find("/etc/postgresql/") != std::string::npos;
    return (in_pg_dir || p.ends_with("postgresql.conf")) && p.ends_with(".conf") &&
           p.find("pg_hba") == std::string::npos;
  });
  if (files.empty()) {
    return CheckContext::Skip("postgres -C", "no postgresql.conf rendered");
  }
  if (!initdb || !postgres) {
    return CheckContext::Skip("postgres -C",
                              "PostgreSQL server binaries (initdb, postgres) are not installed");
  }
  const fs::path work = check.scratch() / "pg";
  fs::create_directories(work);
  if (geteuid() == 0) {
    tools::RunTool({"/bin/chown", "-R", "postgres", work.string()}, work.string(),
                   std::chrono::seconds(10));
    tools::RunTool({"/bin/chown", "postgres", check.scratch().string()}, work.string(),
                   std::chrono::seconds(10));
  }
  const fs::path data = work / "data";
  const tools::ToolResult init =
      tools::RunTool({*initdb, "-D", data.string(), "-A", "trust", "-U", "postgres"}, work.string(),
                     std::chrono::seconds(120), true);
  if (init.exit_code != 0) {
    throw RuntimeError("initdb of the scratch cluster failed: " + init.output);
  }
  {
    std::ofstream conf(data / "postgresql.conf", std::ios::app);
    conf << "\ninclude 'crm.conf'\n";
  }
  const std::size_t before = check.findings().size();
  for (const std::string& f : files) {
    const fs::path copy = data / "crm.conf";
    WriteFileAtomic(copy, ReadFile(check.dir() / f));
    if (geteuid() == 0) {
      tools::RunTool({"/bin/chown", "postgres", copy.string()}, work.string(),
                     std::chrono::seconds(10));
    }
    const tools::ToolResult r =
        tools::RunTool({*postgres, "-D", data.string(), "-C", "max_connections"}, work.string(),
                       std::chrono::seconds(30), true);
    if (r.exit_code != 0 || r.timed_out) {
      FindingsFromOutput(r.output, copy.string(), f, "postgres -C",
                         "use a setting name and value PostgreSQL 15 accepts", check.findings());
    }
  }
  return check.Finish("postgres -C", before, static_cast<int>(files.size()), "");
}

}  // namespace crm::validate
