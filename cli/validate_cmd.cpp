// crmctl validate: structural rules plus the real tools on rendered configurations.
#include <fmt/format.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <thread>
#include <set>
#include <sstream>

#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/render.hpp"
#include "crm/planner/validate.hpp"
#include "crm/files.hpp"
#include "crm/ports.hpp"
#include "crm/process.hpp"
#include "tool_runner.hpp"

namespace crm::cli {
namespace {

namespace fs = std::filesystem;
using planner::Finding;

struct ValidateOptions {
  std::vector<std::string> dirs;
  bool all_tiers = false;
  bool require_tools = false;
};

enum class ToolStatus { kPassed, kFailed, kSkipped };

struct ToolReport {
  std::string tool;
  ToolStatus status = ToolStatus::kSkipped;
  std::string detail;  // why skipped, or what was checked
  int files = 0;
};

struct DirReport {
  std::string dir;
  std::vector<Finding> findings;
  std::vector<ToolReport> tools;
};

void WriteText(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// Files of a rendering, from its manifest: path → host.
std::vector<std::pair<std::string, std::string>> ManifestFiles(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  const nlohmann::json m = nlohmann::json::parse(ReadFile(dir / "manifest.json"));
  for (const auto& f : m.at("files")) {
    files.emplace_back(f.at("path").get<std::string>(), f.at("host").get<std::string>());
  }
  return files;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Lines of a tool's output that mention `scratch` (the copy we gave it) become findings on
// `original`, keeping the line number the tool reported (our copies preserve line numbers).
void FindingsFromOutput(const std::string& output, const std::string& scratch,
                        const std::string& original, const std::string& rule,
                        const std::string& hint, std::vector<Finding>& findings) {
  std::istringstream in(output);
  std::string line;
  bool any = false;
  const std::regex with_line(std::regex_replace(scratch, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                             R"([:" ]+(?:line )?(\d+))");
  while (std::getline(in, line)) {
    // nginx's closing "configuration file … test failed" repeats what the lines above said.
    if (line.empty() || line.find("test failed") != std::string::npos) {
      continue;
    }
    std::smatch m;
    int n = 0;
    if (std::regex_search(line, m, with_line)) {
      n = std::stoi(m[1].str());
    } else {
      static const std::regex bare(R"(\bline (\d+)\b)");
      if (std::regex_search(line, m, bare)) {
        n = std::stoi(m[1].str());
      }
    }
    std::string message = std::regex_replace(line, std::regex(std::regex_replace(
                                                       scratch, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)")),
                                             original);
    findings.push_back({original, n, rule, message, hint});
    any = true;
  }
  if (!any) {
    findings.push_back({original, 0, rule, "the tool failed without saying why", hint});
  }
}

class ToolChecks {
 public:
  ToolChecks(const fs::path& dir, const fs::path& scratch, std::vector<Finding>& findings)
      : dir_(dir), scratch_(scratch), findings_(findings), files_(ManifestFiles(dir)) {}

  std::vector<ToolReport> RunAll() {
    std::vector<ToolReport> reports;
    reports.push_back(Nginx());
    reports.push_back(Promtool());
    reports.push_back(Postgres());
    reports.push_back(PgBouncer());
    reports.push_back(Systemd());
    reports.push_back(Compose());
    reports.push_back(Kubernetes());
    return reports;
  }

 private:
  std::vector<std::string> FilesWhere(bool (*pred)(const std::string&)) const {
    std::vector<std::string> out;
    for (const auto& [path, host] : files_) {
      if (pred(path)) {
        out.push_back(path);
      }
    }
    return out;
  }

  static ToolReport Skip(const std::string& tool, const std::string& why) {
    return {tool, ToolStatus::kSkipped, why, 0};
  }

  ToolReport Finish(const std::string& tool, std::size_t before, int files, std::string detail) {
    return {tool, findings_.size() > before ? ToolStatus::kFailed : ToolStatus::kPassed,
            std::move(detail), files};
  }

  const std::string& SelfSignedCert() {
    if (cert_.empty()) {
      const auto openssl = FindTool("openssl");
      if (!openssl) {
        throw RuntimeError("openssl not found: needed for a scratch certificate for nginx -t");
      }
      const fs::path d = scratch_ / "tls";
      fs::create_directories(d);
      const ToolResult r = RunTool({*openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                    "-subj", "/CN=validate.invalid", "-keyout", (d / "key.pem").string(),
                                    "-out", (d / "cert.pem").string()},
                                   d.string(), std::chrono::seconds(30));
      if (r.exit_code != 0) {
        throw RuntimeError("openssl could not make a scratch certificate: " + r.output);
      }
      cert_ = d.string();
    }
    return cert_;
  }

  ToolReport Nginx() {
    const auto nginx = FindTool("nginx", {"/usr/sbin"});
    const auto sites = FilesWhere([](const std::string& p) {
      return p.find("nginx") != std::string::npos && EndsWith(p, ".conf");
    });
    if (sites.empty()) {
      return Skip("nginx -t", "no nginx configuration rendered");
    }
    if (!nginx) {
      return Skip("nginx -t", "nginx is not installed");
    }
    const std::size_t before = findings_.size();
    int n = 0;
    for (const std::string& site : sites) {
      const fs::path work = scratch_ / fmt::format("nginx-{}", n++);
      fs::create_directories(work / "logs");
      // The copy keeps every line in place: certificates point at a scratch pair, upstream host
      // names (which need not resolve here) at 127.0.0.1.
      std::string text = ReadFile(dir_ / site);
      const std::string tls = SelfSignedCert();
      text = std::regex_replace(text, std::regex(R"(ssl_certificate\s+\S+;)"),
                                "ssl_certificate " + tls + "/cert.pem;");
      text = std::regex_replace(text, std::regex(R"(ssl_certificate_key\s+\S+;)"),
                                "ssl_certificate_key " + tls + "/key.pem;");
      text = std::regex_replace(text, std::regex(R"((\n\s*server\s+)[A-Za-z][A-Za-z0-9.\-]*(:\d+))"),
                                "$01127.0.0.1$02");
      const fs::path copy = work / "site.conf";
      WriteText(copy, text);
      WriteText(work / "nginx.conf",
                fmt::format("pid {0}/nginx.pid;\nerror_log {0}/logs/error.log;\nevents {{}}\n"
                            "http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n"
                            "  client_body_temp_path {0}/body;\n  proxy_temp_path {0}/proxy;\n"
                            "  fastcgi_temp_path {0}/fastcgi;\n  uwsgi_temp_path {0}/uwsgi;\n"
                            "  scgi_temp_path {0}/scgi;\n  include {1};\n}}\n",
                            work.string(), copy.string()));
      const ToolResult r = RunTool({*nginx, "-t", "-q", "-p", work.string() + "/", "-c",
                                    (work / "nginx.conf").string(), "-e",
                                    (work / "logs/error.log").string()},
                                   work.string(), std::chrono::seconds(30));
      if (r.exit_code != 0 || r.timed_out) {
        FindingsFromOutput(r.output, copy.string(), site, "nginx -t",
                           "fix the directive nginx names", findings_);
      }
    }
    return Finish("nginx -t", before, n, "site(s) loaded by nginx with a scratch prefix");
  }

  ToolReport Promtool() {
    const auto promtool = FindTool("promtool");
    const auto files = FilesWhere([](const std::string& p) { return EndsWith(p, "prometheus.yml"); });
    if (files.empty()) {
      return Skip("promtool check config", "no prometheus.yml rendered");
    }
    if (!promtool) {
      return Skip("promtool check config", "promtool is not installed (package prometheus)");
    }
    const std::size_t before = findings_.size();
    for (const std::string& f : files) {
      const ToolResult r = RunTool({*promtool, "check", "config", (dir_ / f).string()}, dir_.string(),
                                   std::chrono::seconds(30));
      if (r.exit_code != 0 || r.timed_out) {
        FindingsFromOutput(r.output, (dir_ / f).string(), f, "promtool check config",
                           "fix the field promtool names", findings_);
      }
    }
    return Finish("promtool check config", before, static_cast<int>(files.size()), "");
  }

  // A scratch cluster whose postgresql.conf includes the rendered file: `postgres -C` then reads
  // every setting with the installed server's own parser.
  ToolReport Postgres() {
    const std::vector<std::string> pg_dirs = {"/usr/lib/postgresql/15/bin"};
    const auto initdb = FindTool("initdb", pg_dirs);
    const auto postgres = FindTool("postgres", pg_dirs);
    const auto files = FilesWhere([](const std::string& p) {
      return p.find("postgres") != std::string::npos && EndsWith(p, ".conf") &&
             p.find("pg_hba") == std::string::npos;
    });
    if (files.empty()) {
      return Skip("postgres -C", "no postgresql.conf rendered");
    }
    if (!initdb || !postgres) {
      return Skip("postgres -C", "PostgreSQL server binaries (initdb, postgres) are not installed");
    }
    const fs::path work = scratch_ / "pg";
    fs::create_directories(work);
    if (geteuid() == 0) {
      RunTool({"/bin/chown", "-R", "postgres", work.string()}, work.string(), std::chrono::seconds(10));
      RunTool({"/bin/chown", "postgres", scratch_.string()}, work.string(), std::chrono::seconds(10));
    }
    const fs::path data = work / "data";
    const ToolResult init = RunTool({*initdb, "-D", data.string(), "-A", "trust", "-U", "postgres"},
                                    work.string(), std::chrono::seconds(120), true);
    if (init.exit_code != 0) {
      throw RuntimeError("initdb of the scratch cluster failed: " + init.output);
    }
    {
      std::ofstream conf(data / "postgresql.conf", std::ios::app);
      conf << "\ninclude 'crm.conf'\n";
    }
    const std::size_t before = findings_.size();
    for (const std::string& f : files) {
      const fs::path copy = data / "crm.conf";
      WriteText(copy, ReadFile(dir_ / f));
      if (geteuid() == 0) {
        RunTool({"/bin/chown", "postgres", copy.string()}, work.string(), std::chrono::seconds(10));
      }
      const ToolResult r = RunTool({*postgres, "-D", data.string(), "-C", "max_connections"},
                                   work.string(), std::chrono::seconds(30), true);
      if (r.exit_code != 0 || r.timed_out) {
        FindingsFromOutput(r.output, copy.string(), f, "postgres -C",
                           "use a setting name and value PostgreSQL 15 accepts", findings_);
      }
    }
    return Finish("postgres -C", before, static_cast<int>(files.size()), "");
  }

  ToolReport PgBouncer() {
    const auto pgbouncer = FindTool("pgbouncer", {"/usr/sbin"});
    const auto files = FilesWhere([](const std::string& p) { return EndsWith(p, "pgbouncer.ini"); });
    if (files.empty()) {
      return Skip("pgbouncer", "no pgbouncer.ini rendered");
    }
    if (!pgbouncer) {
      return Skip("pgbouncer", "pgbouncer is not installed");
    }
    const std::size_t before = findings_.size();
    int n = 0;
    for (const std::string& f : files) {
      const fs::path work = scratch_ / fmt::format("pgbouncer-{}", n++);
      fs::create_directories(work);
      std::string text = ReadFile(dir_ / f);
      // Line-preserving: listen on loopback at a port of our own, files in the scratch dir.
      const int port = FreeLoopbackPort();
      text = std::regex_replace(text, std::regex(R"((\n)listen_addr\s*=[^\n]*)"), "$1listen_addr = 127.0.0.1");
      text = std::regex_replace(text, std::regex(R"((\n)listen_port\s*=[^\n]*)"), fmt::format("$1listen_port = {}", port));
      text = std::regex_replace(text, std::regex(R"((\n)auth_file\s*=[^\n]*)"), "$1auth_file = " + (work / "userlist.txt").string());
      text = std::regex_replace(text, std::regex(R"((\n)logfile\s*=[^\n]*)"), "$1logfile = " + (work / "pgbouncer.log").string());
      text = std::regex_replace(text, std::regex(R"((\n)pidfile\s*=[^\n]*)"), "$1pidfile = " + (work / "pgbouncer.pid").string());
      text += "unix_socket_dir = " + work.string() + "\n";
      const fs::path copy = work / "pgbouncer.ini";
      WriteText(copy, text);
      WriteText(work / "userlist.txt", "");
      if (geteuid() == 0) {
        RunTool({"/bin/chown", "-R", "postgres", work.string()}, work.string(), std::chrono::seconds(10));
      }
      // -d: pgbouncer loads the file, then daemonizes; a bad file makes it exit non-zero first.
      const ToolResult r = RunTool({*pgbouncer, "-d", copy.string()}, work.string(),
                                   std::chrono::seconds(20), true);
      const std::string log = ReadFileIfExists(work / "pgbouncer.log").value_or("");
      if (r.exit_code == 0 && !r.timed_out) {
        // The daemon writes its pid file after the parent has exited: give it a moment.
        std::optional<pid_t> pid = ReadPidFile(work / "pgbouncer.pid");
        for (int i = 0; i < 100 && !pid; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          pid = ReadPidFile(work / "pgbouncer.pid");
        }
        if (pid) {
          RunTool({"/bin/kill", std::to_string(*pid)}, work.string(), std::chrono::seconds(10));
        }
      }
      if (r.exit_code != 0 || r.timed_out) {
        FindingsFromOutput(r.output + log, copy.string(), f, "pgbouncer",
                           "use parameters PgBouncer 1.18 knows", findings_);
      }
    }
    return Finish("pgbouncer", before, n, "configuration loaded by pgbouncer -d");
  }

  ToolReport Systemd() {
    const auto analyze = FindTool("systemd-analyze");
    std::map<std::string, std::vector<std::string>> by_host;
    for (const auto& [path, host] : files_) {
      if (EndsWith(path, ".service") || EndsWith(path, ".timer")) {
        by_host[host].push_back(path);
      }
    }
    if (by_host.empty()) {
      return Skip("systemd-analyze verify", "no systemd units rendered");
    }
    if (!analyze) {
      return Skip("systemd-analyze verify", "systemd-analyze is not installed");
    }
    const std::size_t before = findings_.size();
    int count = 0;
    for (const auto& [host, units] : by_host) {
      const fs::path work = scratch_ / "systemd" / host;
      fs::create_directories(work);
      std::vector<std::string> args = {*analyze, "verify"};
      std::map<std::string, std::string> originals;
      for (const std::string& unit : units) {
        std::string text = ReadFile(dir_ / unit);
        // crmd is not installed where we validate: a stand-in binary keeps the unit loadable.
        if (access("/usr/local/bin/crmd", X_OK) != 0) {
          text = std::regex_replace(text, std::regex(R"(ExecStart=/usr/local/bin/crmd)"), "ExecStart=/bin/true");
        }
        const fs::path copy = work / fs::path(unit).filename();
        WriteText(copy, text);
        originals[copy.string()] = unit;
        args.push_back(copy.string());
        ++count;
      }
      const ToolResult r = RunTool(args, work.string(), std::chrono::seconds(60));
      // verify exits 0 on unknown keys and bad values: every line naming our files is a finding.
      std::istringstream in(r.output);
      std::string line;
      while (std::getline(in, line)) {
        for (const auto& [copy, original] : originals) {
          if (line.find(copy) != std::string::npos || (r.exit_code != 0 && line.find(fs::path(copy).filename().string()) != std::string::npos)) {
            std::vector<Finding> one;
            FindingsFromOutput(line, copy, original, "systemd-analyze verify",
                               "fix the unit key systemd names", one);
            findings_.insert(findings_.end(), one.begin(), one.end());
            break;
          }
        }
      }
    }
    return Finish("systemd-analyze verify", before, count, "");
  }

  ToolReport Compose() {
    const auto compose = FindTool("docker-compose");
    const auto files = FilesWhere([](const std::string& p) { return EndsWith(p, "docker-compose.yml"); });
    if (files.empty()) {
      return Skip("docker-compose config", "no docker-compose.yml rendered");
    }
    if (!compose) {
      return Skip("docker-compose config", "docker-compose is not installed");
    }
    const std::size_t before = findings_.size();
    for (const std::string& f : files) {
      const fs::path file = dir_ / f;
      const ToolResult r = RunTool({*compose, "-f", file.string(), "config", "-q"},
                                   file.parent_path().string(), std::chrono::seconds(60));
      if (r.exit_code != 0 || r.timed_out) {
        FindingsFromOutput(r.output, file.string(), f, "docker-compose config",
                           "fix the key docker-compose names", findings_);
      }
    }
    return Finish("docker-compose config", before, static_cast<int>(files.size()), "");
  }

  ToolReport Kubernetes() {
    const auto files = FilesWhere([](const std::string& p) { return EndsWith(p, ".yaml") && p.find("etc/") == std::string::npos; });
    bool k8s = false;
    for (const std::string& f : files) {
      if (ReadFile(dir_ / f).find("apiVersion:") != std::string::npos) {
        k8s = true;
      }
    }
    if (!k8s) {
      return Skip("kubernetes-models", "no Kubernetes manifests rendered");
    }
    const auto node = FindTool("node");
    const std::optional<std::string> script = K8sValidator();
    if (!node) {
      return Skip("kubernetes-models", "node is not installed");
    }
    if (!script) {
      return Skip("kubernetes-models",
                  "tools/k8s-validate is not installed (run scripts/bootstrap, or set CRM_K8S_VALIDATOR)");
    }
    const std::size_t before = findings_.size();
    std::vector<std::string> args = {*node, *script};
    for (const std::string& f : files) {
      args.push_back(f);
    }
    const ToolResult r = RunTool(args, dir_.string(), std::chrono::seconds(120));
    if (r.exit_code != 0 || r.timed_out) {
      std::istringstream in(r.output);
      std::string line;
      static const std::regex where(R"(^([^:\s]+):(\d+):\s*(.*)$)");
      while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_match(line, m, where)) {
          findings_.push_back({m[1].str(), std::stoi(m[2].str()), "kubernetes-models", m[3].str(),
                               "fix the field the schema names"});
        } else if (!line.empty()) {
          findings_.push_back({"", 0, "kubernetes-models", line, ""});
        }
      }
      if (findings_.size() == before) {
        findings_.push_back({"", 0, "kubernetes-models", "the validator failed without saying why", ""});
      }
    }
    return Finish("kubernetes-models", before, static_cast<int>(files.size()), "");
  }

  static std::optional<std::string> K8sValidator() {
    std::vector<fs::path> candidates;
    if (const char* env = std::getenv("CRM_K8S_VALIDATOR")) {
      candidates.emplace_back(env);
    }
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      // build/<preset>/cli/crmctl in a source tree; <prefix>/bin/crmctl when installed.
      candidates.push_back(exe.parent_path() / "../../../tools/k8s-validate/validate.js");
      candidates.push_back(exe.parent_path() / "../share/crmctl/k8s-validate/validate.js");
    }
    for (const fs::path& c : candidates) {
      if (fs::exists(c) && fs::exists(c.parent_path() / "node_modules")) {
        return fs::weakly_canonical(c).string();
      }
    }
    return std::nullopt;
  }

  fs::path dir_;
  fs::path scratch_;
  std::vector<Finding>& findings_;
  std::vector<std::pair<std::string, std::string>> files_;
  std::string cert_;
};

DirReport ValidateDir(const fs::path& dir) {
  DirReport report;
  report.dir = dir.string();
  report.findings = planner::CheckStructure(dir);
  char tmpl[] = "/tmp/crmctl-validate-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    throw RuntimeError("cannot create a scratch directory in /tmp");
  }
  const fs::path scratch(tmpl);
  try {
    ToolChecks tools(dir, scratch, report.findings);
    report.tools = tools.RunAll();
  } catch (...) {
    std::error_code ec;
    fs::remove_all(scratch, ec);
    throw;
  }
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return report;
}

std::string_view StatusName(ToolStatus s) {
  return s == ToolStatus::kPassed ? "passed" : s == ToolStatus::kFailed ? "failed" : "skipped";
}

void RunValidate(const ValidateOptions& opts, GlobalOptions& global) {
  if (opts.dirs.empty() && !opts.all_tiers) {
    throw InputError("validate: pass rendered directories, or --all-tiers");
  }
  std::vector<DirReport> reports;
  std::vector<fs::path> temporary;
  for (const std::string& d : opts.dirs) {
    reports.push_back(ValidateDir(d));
  }
  if (opts.all_tiers) {
    const planner::Catalog catalog = LoadCatalog(global);
    char tmpl[] = "/tmp/crmctl-tiers-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      throw RuntimeError("cannot create a scratch directory in /tmp");
    }
    const fs::path base(tmpl);
    for (const planner::Tier& tier : catalog.tiers()) {
      planner::PlanOptions plan_options;
      plan_options.only_tier = tier.id;
      const planner::Plan plan =
          planner::MakePlan(planner::ReferenceWorkload(tier), catalog, plan_options);
      for (planner::RenderTarget target : planner::TargetsFor(tier)) {
        planner::RenderOptions render_options;
        render_options.version = CRM_VERSION;
        const fs::path out = base / fmt::format("tier{}-{}", tier.id, planner::RenderTargetName(target));
        WriteRendering(out, plan, planner::Render(plan, target, render_options), render_options, false);
        reports.push_back(ValidateDir(out));
      }
    }
    temporary.push_back(base);
  }
  int findings = 0;
  int skipped = 0;
  const auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  nlohmann::ordered_json doc = nlohmann::ordered_json::array();
  for (DirReport& r : reports) {
    if (opts.require_tools) {
      for (const ToolReport& t : r.tools) {
        if (t.status == ToolStatus::kSkipped && t.detail.find("not installed") != std::string::npos) {
          r.findings.push_back({"", 0, t.tool, "skipped: " + t.detail + " (--require-tools)",
                                "run scripts/bootstrap"});
        }
      }
    }
    findings += static_cast<int>(r.findings.size());
    for (const ToolReport& t : r.tools) {
      skipped += t.status == ToolStatus::kSkipped ? 1 : 0;
    }
    if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
      nlohmann::ordered_json item;
      item["dir"] = r.dir;
      item["findings"] = nlohmann::ordered_json::array();
      for (const Finding& f : r.findings) {
        item["findings"].push_back({{"file", f.file}, {"line", f.line}, {"rule", f.rule},
                                    {"message", f.message}, {"hint", f.hint}});
      }
      item["tools"] = nlohmann::ordered_json::array();
      for (const ToolReport& t : r.tools) {
        item["tools"].push_back({{"tool", t.tool}, {"status", std::string(StatusName(t.status))},
                                 {"detail", t.detail}});
      }
      doc.push_back(item);
      continue;
    }
    std::cout << fmt::format("{}: {}\n", r.dir,
                             r.findings.empty() ? "ok" : fmt::format("{} finding(s)", r.findings.size()));
    for (const Finding& f : r.findings) {
      std::cout << "  " << planner::FormatFinding(f) << '\n';
    }
    if (!global.quiet) {
      std::cout << "  structural rules: ";
      bool first = true;
      for (const planner::StructuralRule& rule : planner::StructuralRules()) {
        std::cout << (first ? "" : ", ") << rule.name;
        first = false;
      }
      std::cout << '\n';
      for (const ToolReport& t : r.tools) {
        std::cout << fmt::format("  {:<24} {}{}\n", t.tool, StatusName(t.status),
                                 t.status == ToolStatus::kSkipped ? " (" + t.detail + ")" : "");
      }
    }
  }
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    PrintDocument(doc, format);
  } else {
    std::cout << fmt::format("{} director{} validated: {} finding(s), {} tool check(s) skipped\n",
                             reports.size(), reports.size() == 1 ? "y" : "ies", findings, skipped);
  }
  for (const fs::path& t : temporary) {
    std::error_code ec;
    fs::remove_all(t, ec);
  }
  if (findings > 0) {
    global.exit_code = 1;
  }
}

}  // namespace

void SetupValidate(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<ValidateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Check rendered configurations: structural rules and the real tools (nginx -t, promtool, "
      "postgres -C, pgbouncer, systemd-analyze, docker-compose, kubernetes-models). Exit 1 on any "
      "finding, 2 on bad usage");
  cmd->add_option("dirs", opts->dirs, "Directories written by crmctl render");
  cmd->add_flag("--all-tiers", opts->all_tiers,
                "Render every tier for every target that fits it and validate each");
  cmd->add_flag("--require-tools", opts->require_tools,
                "A tool that is not installed is a finding, not a skip (CI)");
  cmd->callback([opts, &global]() { RunValidate(*opts, global); });
}

}  // namespace crm::cli
