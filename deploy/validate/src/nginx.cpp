// nginx -t: each rendered site loaded by the installed nginx with a scratch prefix.
#include "tool_check.hpp"

#include <fmt/format.h>

#include <regex>

#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/tools/tool_runner.hpp"
#include "crm/validate/tool_output.hpp"

namespace crm::validate {
namespace {

namespace fs = std::filesystem;

// A throwaway key pair for the ssl_certificate lines (the real one is not here).
std::string SelfSignedCert(const fs::path& scratch) {
  const auto openssl = tools::FindTool("openssl");
  if (!openssl) {
    throw RuntimeError("openssl not found: needed for a scratch certificate for nginx -t");
  }
  const fs::path d = scratch / "tls";
  fs::create_directories(d);
  const tools::ToolResult r =
      tools::RunTool({*openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                      "-subj", "/CN=validate.invalid", "-keyout", (d / "key.pem").string(), "-out",
                      (d / "cert.pem").string()},
                     d.string(), std::chrono::seconds(30));
  if (r.exit_code != 0) {
    throw RuntimeError("openssl could not make a scratch certificate: " + r.output);
  }
  return d.string();
}

}  // namespace

ToolReport CheckNginx(CheckContext& check) {
  const auto nginx = tools::FindTool("nginx", {"/usr/sbin"});
  const auto sites = check.FilesWhere([](const std::string& p) {
    return p.find("nginx") != std::string::npos && p.ends_with(".conf");
  });
  if (sites.empty()) {
    return CheckContext::Skip("nginx -t", "no nginx configuration rendered");
  }
  if (!nginx) {
    return CheckContext::Skip("nginx -t", "nginx is not installed");
  }
  const std::size_t before = check.findings().size();
  int n = 0;
  const std::string tls = SelfSignedCert(check.scratch());
  for (const std::string& site : sites) {
    const fs::path work = check.scratch() / fmt::format("nginx-{}", n++);
    fs::create_directories(work / "logs");
    // The copy keeps every line in place: certificates point at a scratch pair, upstream host
    // names (which need not resolve here) at 127.0.0.1.
    std::string text = ReadFile(check.dir() / site);
    text = std::regex_replace(text, std::regex(R"(ssl_certificate\s+\S+;)"),
                              "ssl_certificate " + tls + "/cert.pem;");
    text = std::regex_replace(text, std::regex(R"(ssl_certificate_key\s+\S+;)"),
                              "ssl_certificate_key " + tls + "/key.pem;");
    text = std::regex_replace(text, std::regex(R"((\n\s*server\s+)[A-Za-z][A-Za-z0-9.\-]*(:\d+))"),
                              "$01127.0.0.1$02");
    const fs::path copy = work / "site.conf";
    WriteFileAtomic(copy, text);
    WriteFileAtomic(work / "nginx.conf",
                    fmt::format("pid {0}/nginx.pid;\nerror_log {0}/logs/error.log;\nevents {{}}\n"
                                "http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n"
                                "  client_body_temp_path {0}/body;\n  proxy_temp_path {0}/proxy;\n"
                                "  fastcgi_temp_path {0}/fastcgi;\n  uwsgi_temp_path {0}/uwsgi;\n"
                                "  scgi_temp_path {0}/scgi;\n  include {1};\n}}\n",
                                work.string(), copy.string()));
    const tools::ToolResult r =
        tools::RunTool({*nginx, "-t", "-q", "-p", work.string() + "/", "-c",
                        (work / "nginx.conf").string(), "-e", (work / "logs/error.log").string()},
                       work.string(), std::chrono::seconds(30));
    if (r.exit_code != 0 || r.timed_out) {
      FindingsFromOutput(r.output, copy.string(), site, "nginx -t", "fix the directive nginx names",
                         check.findings());
    }
  }
  return check.Finish("nginx -t", before, n, "site(s) loaded by nginx with a scratch prefix");
}

}  // namespace crm::validate
