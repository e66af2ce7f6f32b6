// The structural rules of a rendered deployment directory: the manifest's files and hashes,
// resources requested vs. the hosts, unique ports per host, every runtime knob set and in range,
// no secret value inline, secret-referencing files not readable by others, Grafana dashboards
// Grafana can load.
#include "crm/validate/structure.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/hash_range.hpp"
#include "crm/render/render.hpp"
#include "crm/text.hpp"
#include "crm/units.hpp"

namespace crm::validate {
namespace {

namespace fs = std::filesystem;

constexpr double kMiB = 1024.0 * 1024;

struct HostInfo {
  std::string role;
  double vcpu = 0;
  double ram_bytes = 0;
};

struct ManifestFile {
  std::string path;
  std::string sha256;
  std::string host;
};

struct Loaded {
  std::string path;  // relative
  std::string host;
  std::string text;
  std::vector<std::string> lines;
};

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

std::string Trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t\r"));
  s.erase(s.find_last_not_of(" \t\r") + 1);
  return s;
}

// "4GB", "512MB", "8192kB", "131072" (8 kB pages) → bytes, PostgreSQL's notation.
std::optional<double> PgSize(std::string v) {
  v = Trim(v);
  if (!v.empty() && (v.front() == '\'' || v.front() == '"')) {
    v = v.substr(1, v.size() - 2);
  }
  static const std::regex re(R"(^(\d+)\s*(kB|MB|GB|TB)?$)");
  std::smatch m;
  if (!std::regex_match(v, m, re)) {
    return std::nullopt;
  }
  const double n = std::stod(m[1].str());
  const std::string unit = m[2].str();
  if (unit.empty()) {
    return n * 8192;
  }
  const double f = unit == "kB"   ? 1024
                   : unit == "MB" ? kMiB
                   : unit == "GB" ? kMiB * 1024
                                  : kMiB * kMiB;
  return n * f;
}

// systemd's MemoryMax: bytes with K/M/G/T suffixes (binary), or a percentage.
std::optional<double> SystemdSize(std::string v) {
  v = Trim(v);
  static const std::regex re(R"(^(\d+(?:\.\d+)?)([KMGT]?)$)");
  std::smatch m;
  if (!std::regex_match(v, m, re)) {
    return std::nullopt;
  }
  const double n = std::stod(m[1].str());
  const std::string u = m[2].str();
  const double f = u.empty()  ? 1
                   : u == "K" ? 1024
                   : u == "M" ? kMiB
                   : u == "G" ? kMiB * 1024
                              : kMiB * kMiB;
  return n * f;
}

// Compose's mem_limit: "1024m", "2g", bytes.
std::optional<double> ComposeSize(std::string v) {
  v = Trim(v);
  static const std::regex re(R"(^(\d+(?:\.\d+)?)([bkmg]?)$)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(v, m, re)) {
    return std::nullopt;
  }
  const double n = std::stod(m[1].str());
  const char u = m[2].str().empty() ? 'b' : static_cast<char>(std::tolower(m[2].str()[0]));
  const double f = u == 'k' ? 1024 : u == 'm' ? kMiB : u == 'g' ? kMiB * 1024 : 1;
  return n * f;
}

// Kubernetes quantities: "4096Mi", "1Gi", "500M", "0.5".
std::optional<double> KubeSize(std::string v) {
  v = Trim(v);
  static const std::regex re(R"(^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$)");
  std::smatch m;
  if (!std::regex_match(v, m, re)) {
    return std::nullopt;
  }
  static const std::map<std::string, double> units = {
      {"", 1},    {"Ki", 1024}, {"Mi", kMiB}, {"Gi", kMiB * 1024}, {"Ti", kMiB * kMiB},
      {"k", 1e3}, {"M", 1e6},   {"G", 1e9},   {"T", 1e12}};
  return std::stod(m[1].str()) * units.at(m[2].str());
}

struct Checker {
  std::vector<Finding>& findings;
  void Add(const std::string& file, int line, const std::string& rule, std::string message,
           std::string hint) {
    findings.push_back({file, line, rule, std::move(message), std::move(hint)});
  }
};

// The runtime's knobs: name, and what makes a value acceptable.
struct KnobRule {
  const char* name;
  const char* pattern;  // full-match regex for the value
  double min;
  double max;  // for numeric values; min > max means "not numeric"
  bool slice_only;
};

const std::vector<KnobRule>& KnobRules() {
  static const std::vector<KnobRule> rules = {
      {"CRM_DATABASE_URL", R"(postgres(ql)?://[^:@/\s]+@[^\s]+)", 1, 0, false},
      {"CRM_LISTEN", R"([0-9a-zA-Z.\-\[\]:]+:\d{1,5})", 1, 0, false},
      {"CRM_DATA_DIR", R"(/\S*)", 1, 0, false},
      {"DB_MAX_OPEN_CONNS", R"(\d+)", 1, 10'000, false},
      {"WORKER_CONCURRENCY", R"(\d+)", 1, 100'000, false},
      {"QUEUE_MAX_DEPTH", R"(\d+)", 1, 1e10, false},
      {"PHONE_RPS", R"(\d+)", 1, 1'000, false},
      {"STATEMENT_TIMEOUT", R"(\d+(ms|s|min))", 1, 0, false},
      {"SLICE_MEMORY_LIMIT", R"(\d+)", 16e6, 1e12, false},
      {"SLICE_STORAGE_QUOTA", R"(\d+)", 1e6, 1e15, false},
      {"WORKER_SHARD_RANGE", R"(\d{1,3}(\.\d{1,2})?-\d{1,3}(\.\d{1,2})?)", 1, 0, true},
  };
  return rules;
}

void CheckKnobSet(Checker& c, const std::string& file,
                  const std::map<std::string, std::pair<std::string, int>>& values,
                  bool slice_host) {
  for (const KnobRule& rule : KnobRules()) {
    if (rule.slice_only && !slice_host) {
      continue;
    }
    const auto it = values.find(rule.name);
    if (it == values.end()) {
      c.Add(file, 0, "knobs-set",
            fmt::format("{} is not set; crmd reads it at start-up", rule.name),
            "re-render from the plan, or add the value the plan computes");
      continue;
    }
    const auto& [value, line] = it->second;
    std::smatch m;
    if (!std::regex_match(value, m, std::regex(rule.pattern))) {
      c.Add(file, line, "knobs-in-range", fmt::format("{}={} is malformed", rule.name, value),
            fmt::format("expected a value matching {}", rule.pattern));
      continue;
    }
    if (std::string(rule.name) == "WORKER_SHARD_RANGE") {
      try {
        ParseHashRange(value);  // what crmd reads at start-up
      } catch (const InputError&) {
        c.Add(file, line, "knobs-in-range",
              fmt::format("WORKER_SHARD_RANGE={} is empty or past 100", value),
              "ranges are LOW-HIGH percent of the tenant hash space with at most two decimals, "
              "0 <= LOW < HIGH <= 100");
      }
    } else if (rule.min <= rule.max) {
      const double v = std::stod(value);
      if (v < rule.min || v > rule.max) {
        c.Add(file, line, "knobs-in-range",
              fmt::format("{}={} is outside {} to {}", rule.name, value, FormatNumber(rule.min),
                          FormatNumber(rule.max)),
              "re-render from the plan");
      }
    }
  }
}

// Secret values written into a file instead of referenced.
void CheckSecrets(Checker& c, const Loaded& f) {
  static const std::regex assignment(
      R"((password|passwd|secret|token|api[_-]?key|private[_-]?key)\s*[:=]\s*["']?([^\s"'#;]+))",
      std::regex::icase);
  static const std::regex url_password(R"(postgres(ql)?://[^:@/\s]+:[^@\s]+@)");
  static const std::regex known(
      R"((sk_(live|test)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{8,}|EAA[A-Za-z0-9]{20,}|-----BEGIN [A-Z ]*PRIVATE KEY-----))");
  for (std::size_t i = 0; i < f.lines.size(); ++i) {
    const std::string& line = f.lines[i];
    const int n = static_cast<int>(i) + 1;
    std::smatch m;
    if (std::regex_search(line, m, url_password)) {
      c.Add(f.path, n, "no-inline-secret", "a password inside a database URL",
            "drop the password from the URL and reference a password file "
            "(CRM_DATABASE_PASSWORD_FILE)");
    }
    if (std::regex_search(line, m, known)) {
      c.Add(f.path, n, "no-inline-secret",
            "a credential (API key, webhook secret, token or private key) is written inline",
            "keep secrets in files with mode 0600 or Kubernetes Secrets and reference them");
      continue;
    }
    const std::size_t first = line.find_first_not_of(" \t");
    const bool comment = first != std::string::npos && (line[first] == '#' || line[first] == ';');
    if (!comment && std::regex_search(line, m, assignment)) {
      const std::string value = m[2].str();
      const bool reference = value.front() == '/' || value.rfind("${", 0) == 0 ||
                             value.rfind("$(", 0) == 0 || value == "secretKeyRef" ||
                             value.rfind("file:", 0) == 0 || value == "true" || value == "false";
      if (!reference) {
        c.Add(f.path, n, "no-inline-secret",
              fmt::format("'{}' looks like a secret value written inline", m[0].str()),
              "reference a file (…_FILE=/etc/crmd/secrets/NAME) or a Secret (secretKeyRef)");
      }
    }
  }
}

// The 1-based line of the first occurrence of `needle` in `f`, else 0 (the whole file).
int LineOf(const Loaded& f, const std::string& needle) {
  for (std::size_t i = 0; i < f.lines.size(); ++i) {
    if (Contains(f.lines[i], needle)) {
      return static_cast<int>(i) + 1;
    }
  }
  return 0;
}

// One Grafana panel: what Grafana needs to draw it, and the queries it draws.
void CheckPanel(Checker& c, const Loaded& f, const nlohmann::json& panel, std::size_t index,
                const std::set<std::string>& variables, std::set<long long>& ids) {
  const std::string title = panel.contains("title") && panel["title"].is_string()
                                ? panel["title"].get<std::string>()
                                : "";
  const std::string name = title.empty() ? fmt::format("panel {}", index + 1) : title;
  const int line = title.empty() ? 0 : LineOf(f, fmt::format("\"title\": \"{}\"", title));
  const auto add = [&](const std::string& what, const std::string& hint) {
    c.Add(f.path, line, "grafana-dashboard", fmt::format("{}: {}", name, what), hint);
  };
  if (title.empty()) {
    add("has no title", "give every panel a title");
  }
  if (!panel.contains("type") || !panel["type"].is_string()) {
    add("has no type", "set type (timeseries, stat, row, …)");
  }
  if (!panel.contains("id") || !panel["id"].is_number_integer()) {
    add("has no integer id", "number the panels");
  } else if (!ids.insert(panel["id"].get<long long>()).second) {
    add(fmt::format("id {} is used twice", panel["id"].get<long long>()),
        "give every panel its own id");
  }
  const nlohmann::json grid = panel.value("gridPos", nlohmann::json());
  bool grid_ok = grid.is_object();
  for (const char* k : {"h", "w", "x", "y"}) {
    grid_ok = grid_ok && grid.contains(k) && grid[k].is_number_integer() && grid[k].get<int>() >= 0;
  }
  if (!grid_ok) {
    add("gridPos needs non-negative integers h, w, x, y", "place the panel on the grid");
  } else if (grid["x"].get<int>() + grid["w"].get<int>() > 24) {
    add("gridPos reaches past the grid's 24 columns", "lower x or w");
  }
  if (panel.value("type", "") == "row") {
    return;
  }
  const nlohmann::json targets = panel.value("targets", nlohmann::json());
  if (!targets.is_array() || targets.empty()) {
    add("has no query (targets)", "add a target with an expr");
    return;
  }
  for (const nlohmann::json& t : targets) {
    if (!t.is_object() || !t.contains("expr") || !t["expr"].is_string() ||
        t["expr"].get<std::string>().empty() || !t.contains("refId")) {
      add("a target lacks refId or a PromQL expr", "every target needs refId and expr");
    }
  }
  // A datasource named by a dashboard variable (${datasource}) must be one the dashboard defines.
  std::set<std::string> undefined;
  std::vector<const nlohmann::json*> users = {&panel};
  for (const nlohmann::json& t : targets) {
    users.push_back(&t);
  }
  for (const nlohmann::json* user : users) {
    if (!user->is_object() || !user->contains("datasource") || !(*user)["datasource"].is_object()) {
      continue;
    }
    const std::string uid = (*user)["datasource"].value("uid", "");
    if (uid.starts_with("${") && uid.ends_with("}") &&
        variables.count(uid.substr(2, uid.size() - 3)) == 0) {
      undefined.insert(uid);
    }
  }
  for (const std::string& uid : undefined) {
    add(fmt::format("datasource {} is not a variable of the dashboard", uid),
        "define it in templating.list");
  }
}

// A provisioned Grafana dashboard: JSON with the keys Grafana refuses to load without, and
// panels it can draw. No Grafana binary runs here, so this is the check it gets.
void CheckDashboard(Checker& c, const Loaded& f) {
  nlohmann::json d;
  try {
    d = nlohmann::json::parse(f.text);
  } catch (const nlohmann::json::parse_error& e) {
    const std::size_t upto = std::min<std::size_t>(e.byte, f.text.size());
    const int line =
        1 + static_cast<int>(std::count(f.text.begin(),
                                        f.text.begin() + static_cast<std::ptrdiff_t>(upto), '\n'));
    c.Add(f.path, line, "grafana-dashboard", fmt::format("invalid JSON: {}", e.what()),
          "fix the template");
    return;
  }
  if (!d.is_object()) {
    c.Add(f.path, 1, "grafana-dashboard", "not a JSON object", "a dashboard is an object");
    return;
  }
  const std::string uid = d.value("uid", "");
  if (uid.empty() || uid.size() > 40) {
    c.Add(f.path, LineOf(f, "\"uid\""), "grafana-dashboard",
          "uid must be 1 to 40 characters (links and provisioning use it)", "set a stable uid");
  }
  if (!d.contains("title") || !d["title"].is_string() || d["title"].get<std::string>().empty()) {
    c.Add(f.path, 0, "grafana-dashboard", "has no title", "set title");
  }
  if (!d.contains("schemaVersion") || !d["schemaVersion"].is_number_integer()) {
    c.Add(f.path, 0, "grafana-dashboard", "has no integer schemaVersion",
          "set the schemaVersion of the Grafana it targets");
  }
  if (!d.contains("panels") || !d["panels"].is_array() || d["panels"].empty()) {
    c.Add(f.path, 0, "grafana-dashboard", "has no panels", "add panels");
    return;
  }
  std::set<std::string> variables;
  if (d.contains("templating") && d["templating"].is_object() && d["templating"].contains("list") &&
      d["templating"]["list"].is_array()) {
    for (const nlohmann::json& v : d["templating"]["list"]) {
      if (v.is_object() && v.contains("name") && v["name"].is_string()) {
        variables.insert(v["name"].get<std::string>());
      }
    }
  }
  std::set<long long> ids;
  for (std::size_t i = 0; i < d["panels"].size(); ++i) {
    CheckPanel(c, f, d["panels"][i], i, variables, ids);
  }
}

using Env = std::map<std::string, std::pair<std::string, int>>;  // key → value, line

// One run of the structural rules over a rendered directory. Findings come in the order the
// files are listed in the manifest, each file's rules in the order of Run().
class StructureCheck {
 public:
  explicit StructureCheck(fs::path dir) : dir_(std::move(dir)), c_{findings_} {}

  std::vector<Finding> Run() {
    LoadManifest();
    for (const Loaded& f : LoadListedFiles()) {
      const HostInfo* host = hosts_.count(f.host) != 0 ? &hosts_[f.host] : nullptr;
      CheckSecrets(c_, f);
      Env env;
      ScanLines(f, host, env);
      if (f.path.ends_with(".env")) {
        CheckEnvFile(f, host, env);
      }
      if (f.path.ends_with("docker-compose.yml")) {
        CheckCompose(f, host);
      }
      if (f.path.ends_with(".json") && Contains(f.path, "dashboards/")) {
        CheckDashboard(c_, f);
      }
      if (target_ == "k8s" && f.path.ends_with(".yaml") &&
          !f.path.ends_with("kustomization.yaml")) {
        CheckKubernetes(f);
      }
    }
    CheckMemoryTotals();
    return std::move(findings_);
  }

 private:
  void LoadManifest();
  std::vector<Loaded> LoadListedFiles();
  void AddPort(const Loaded& f, int line, const std::string& family, int port);
  void AddMemory(const std::string& host, double bytes, const std::string& file, int line);
  void ScanLines(const Loaded& f, const HostInfo* host, Env& env);
  void ScanResources(const Loaded& f, const HostInfo* host, const std::string& line, int n);
  void CheckEnvFile(const Loaded& f, const HostInfo* host, const Env& env);
  void CheckCompose(const Loaded& f, const HostInfo* host);
  void CheckComposeService(const Loaded& f, const HostInfo* host, const YAML::Node& svc,
                           double& requested);
  void CheckKubernetes(const Loaded& f);
  void CheckContainers(const Loaded& f, const YAML::Node& spec);
  void CheckMemoryTotals();

  fs::path dir_;
  std::vector<Finding> findings_;
  Checker c_;
  std::string target_;
  std::map<std::string, HostInfo> hosts_;
  std::vector<ManifestFile> listed_;
  std::map<std::string, double> memory_;  // host → bytes requested
  std::map<std::string, std::vector<std::pair<std::string, int>>> memory_sources_;
  std::map<std::string, std::map<std::string, std::pair<std::string, int>>>
      ports_;  // host → key → where
};

void StructureCheck::LoadManifest() {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    throw InputError(fmt::format("{}: not a directory", dir_.string()));
  }
  const fs::path manifest_path = dir_ / "manifest.json";
  std::ifstream mf(manifest_path);
  if (!mf) {
    throw InputError(
        fmt::format("{}: no manifest.json; is this a `crmctl render` output?", dir_.string()));
  }
  nlohmann::json manifest;
  try {
    mf >> manifest;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: invalid JSON: {}", manifest_path.string(), e.what()));
  }
  try {
    target_ = manifest.at("target").get<std::string>();
    for (const auto& h : manifest.at("hosts")) {
      hosts_[h.at("name").get<std::string>()] = {h.at("role").get<std::string>(),
                                                 h.at("vcpu").get<double>(),
                                                 h.at("ram_bytes").get<double>()};
    }
    for (const auto& f : manifest.at("files")) {
      listed_.push_back({f.at("path").get<std::string>(), f.at("sha256").get<std::string>(),
                         f.at("host").get<std::string>()});
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(
        fmt::format("{}: not a crmctl manifest: {}", manifest_path.string(), e.what()));
  }
}

// manifest: presence, hashes, extra files.
std::vector<Loaded> StructureCheck::LoadListedFiles() {
  std::vector<Loaded> files;
  std::set<std::string> known = {"manifest.json"};
  for (const ManifestFile& m : listed_) {
    known.insert(m.path);
    const std::optional<std::string> text = ReadFileIfExists(dir_ / m.path);
    if (!text) {
      c_.Add(m.path, 0, "manifest", "listed in manifest.json but missing",
             "re-render with --force");
      continue;
    }
    Loaded l{m.path, m.host, *text, SplitLines(*text)};
    if (render::Sha256Hex(l.text) != m.sha256) {
      c_.Add(m.path, 0, "manifest", "changed since it was rendered (sha256 differs)",
             "re-render, or edit the plan instead of the file");
    }
    files.push_back(std::move(l));
  }
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec);
       it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file()) {
      const std::string rel = fs::relative(it->path(), dir_).generic_string();
      if (known.count(rel) == 0) {
        c_.Add(rel, 0, "manifest", "not listed in manifest.json", "remove it or re-render");
      }
    }
  }
  return files;
}

void StructureCheck::AddPort(const Loaded& f, int line, const std::string& family, int port) {
  // In a compose deployment services listen inside their own containers: only the ports the
  // compose file publishes on the host can collide.
  if (target_ == "compose" && !f.path.ends_with("docker-compose.yml")) {
    return;
  }
  const std::string key = fmt::format("{}/{}", family, port);
  auto& host_ports = ports_[f.host];
  const auto it = host_ports.find(key);
  if (it != host_ports.end() && !(it->second.first == f.path)) {
    c_.Add(f.path, line, "unique-ports",
           fmt::format("port {} on host {} is also used by {}:{}", port, f.host, it->second.first,
                       it->second.second),
           "give one of the services another port");
  } else if (it == host_ports.end()) {
    host_ports[key] = {f.path, line};
  }
}

void StructureCheck::AddMemory(const std::string& host, double bytes, const std::string& file,
                               int line) {
  memory_[host] += bytes;
  memory_sources_[host].emplace_back(file, line);
}

// Listening ports, memory and CPU requested, and an env file's KEY=value lines.
void StructureCheck::ScanLines(const Loaded& f, const HostInfo* host, Env& env) {
  static const std::regex nginx_listen(R"(^\s*listen\s+(\[::\]:)?(?:[\d.]+:)?(\d+))");
  static const std::regex conf_port(R"(^\s*port\s*=\s*(\d+))");
  static const std::regex pgb_port(R"(^\s*listen_port\s*=\s*(\d+))");
  static const std::regex loki_port(R"(^\s*http_listen_port:\s*(\d+))");
  static const std::regex env_line(R"(^([A-Z][A-Z0-9_]*)=(.*)$)");
  const bool is_env = f.path.ends_with(".env");
  for (std::size_t i = 0; i < f.lines.size(); ++i) {
    const std::string& line = f.lines[i];
    const int n = static_cast<int>(i) + 1;
    std::smatch m;
    if (Contains(f.path, "nginx") && std::regex_search(line, m, nginx_listen)) {
      AddPort(f, n, m[1].matched ? "ipv6" : "ipv4", std::stoi(m[2].str()));
    } else if (Contains(f.path, "postgresql") && f.path.ends_with(".conf") &&
               std::regex_search(line, m, conf_port)) {
      AddPort(f, n, "ipv4", std::stoi(m[1].str()));
    } else if (f.path.ends_with("pgbouncer.ini") && std::regex_search(line, m, pgb_port)) {
      AddPort(f, n, "ipv4", std::stoi(m[1].str()));
    } else if (Contains(f.path, "loki") && std::regex_search(line, m, loki_port)) {
      AddPort(f, n, "ipv4", std::stoi(m[1].str()));
    }
    ScanResources(f, host, line, n);
    if (is_env && std::regex_match(line, m, env_line)) {
      env[m[1].str()] = {m[2].str(), n};
      if (m[1].str() == "CRM_LISTEN") {
        const std::string v = m[2].str();
        const auto colon = v.rfind(':');
        if (colon != std::string::npos) {
          try {
            AddPort(f, n, "ipv4", std::stoi(v.substr(colon + 1)));
          } catch (const std::exception&) {
            // malformed: reported by knobs-in-range
          }
        }
      }
    }
  }
}

// shared_buffers, MemoryMax and CPUQuota on one line.
void StructureCheck::ScanResources(const Loaded& f, const HostInfo* host, const std::string& line,
                                   int n) {
  static const std::regex shared_buffers(R"(^\s*shared_buffers\s*=\s*(\S+))");
  static const std::regex memory_max(R"(^\s*MemoryMax\s*=\s*(\S+))");
  static const std::regex cpu_quota(R"(^\s*CPUQuota\s*=\s*(\d+)%)");
  std::smatch m;
  if (Contains(f.path, "postgresql") && std::regex_search(line, m, shared_buffers)) {
    if (const auto bytes = PgSize(m[1].str())) {
      AddMemory(f.host, *bytes, f.path, n);
    } else {
      c_.Add(f.path, n, "resources-fit-host",
             fmt::format("shared_buffers '{}' is unreadable", m[1].str()),
             "write it as 4GB, 512MB or 8192kB");
    }
  }
  if (f.path.ends_with(".service") && std::regex_search(line, m, memory_max)) {
    if (const auto bytes = SystemdSize(m[1].str())) {
      AddMemory(f.host, *bytes, f.path, n);
    } else {
      c_.Add(f.path, n, "resources-fit-host",
             fmt::format("MemoryMax '{}' is unreadable", m[1].str()), "write it as 1024M or 2G");
    }
  }
  if (f.path.ends_with(".service") && host != nullptr && host->vcpu > 0 &&
      std::regex_search(line, m, cpu_quota)) {
    const double quota = std::stod(m[1].str());
    if (quota > host->vcpu * 100) {
      c_.Add(f.path, n, "resources-fit-host",
             fmt::format("CPUQuota={}% but host {} has {} vCPU ({}%)", m[1].str(), f.host,
                         FormatNumber(host->vcpu), FormatNumber(host->vcpu * 100)),
             "lower CPUQuota or size the host up in the plan");
    }
  }
}

void StructureCheck::CheckEnvFile(const Loaded& f, const HostInfo* host, const Env& env) {
  const bool slice_host = host != nullptr && host->role == "slice";
  CheckKnobSet(c_, f.path, env, slice_host);
  std::error_code ec;
  const fs::perms p = fs::status(dir_ / f.path, ec).permissions();
  if ((p & (fs::perms::group_read | fs::perms::others_read | fs::perms::group_write |
            fs::perms::others_write)) != fs::perms::none) {
    c_.Add(f.path, 0, "secret-file-mode", "readable by group or others",
           "chmod 0600: it names where the secrets are and the database to reach");
  }
}

void StructureCheck::CheckCompose(const Loaded& f, const HostInfo* host) {
  try {
    const YAML::Node root = YAML::Load(f.text);
    double requested = 0;
    for (const auto& svc : root["services"]) {
      CheckComposeService(f, host, svc.second, requested);
    }
    AddMemory(f.host, requested, f.path, 0);
  } catch (const YAML::Exception& e) {
    c_.Add(f.path, static_cast<int>(e.mark.line) + 1, "resources-fit-host",
           fmt::format("invalid YAML: {}", e.msg), "fix the template");
  }
}

// One compose service: mem_limit (added to `requested`), cpus, published ports.
void StructureCheck::CheckComposeService(const Loaded& f, const HostInfo* host,
                                         const YAML::Node& svc, double& requested) {
  const YAML::Node mem = svc["mem_limit"];
  const int line = static_cast<int>(svc.Mark().line) + 1;
  if (mem) {
    if (const auto bytes = ComposeSize(mem.Scalar())) {
      requested += *bytes;
    } else {
      c_.Add(f.path, static_cast<int>(mem.Mark().line) + 1, "resources-fit-host",
             fmt::format("mem_limit '{}' is unreadable", mem.Scalar()), "write it as 1024m");
    }
  }
  const YAML::Node cpus = svc["cpus"];
  if (cpus && host != nullptr && host->vcpu > 0) {
    double v = 0;
    try {
      v = std::stod(cpus.Scalar());
    } catch (const std::exception&) {
      v = -1;
    }
    if (v <= 0 || v > host->vcpu) {
      c_.Add(f.path, static_cast<int>(cpus.Mark().line) + 1, "resources-fit-host",
             fmt::format("cpus {} does not fit the host's {} vCPU", cpus.Scalar(),
                         FormatNumber(host->vcpu)),
             "lower cpus or size the host up in the plan");
    }
  }
  for (const auto& p : svc["ports"]) {
    const std::string spec = p.Scalar();
    const auto colon = spec.find(':');
    try {
      AddPort(f, static_cast<int>(p.Mark().line) + 1, "ipv4",
              std::stoi(colon == std::string::npos ? spec : spec.substr(0, colon)));
    } catch (const std::exception&) {
      c_.Add(f.path, line, "unique-ports", fmt::format("unreadable port '{}'", spec),
             "write HOST:CONTAINER");
    }
  }
}

// A Kubernetes manifest: the crm-knobs ConfigMap's knobs, every container's memory limits.
void StructureCheck::CheckKubernetes(const Loaded& f) {
  try {
    for (const YAML::Node& doc : YAML::LoadAll(f.text)) {
      if (!doc.IsMap()) {
        continue;
      }
      const std::string kind = doc["kind"] ? doc["kind"].Scalar() : "";
      if (kind == "ConfigMap" && doc["metadata"] && doc["metadata"]["name"] &&
          doc["metadata"]["name"].Scalar() == "crm-knobs") {
        Env data;
        for (const auto& kv : doc["data"]) {
          data[kv.first.Scalar()] = {kv.second.Scalar(),
                                     static_cast<int>(kv.second.Mark().line) + 1};
        }
        CheckKnobSet(c_, f.path, data, false);
      }
      const YAML::Node spec =
          doc["spec"] && doc["spec"]["template"] ? doc["spec"]["template"]["spec"] : YAML::Node();
      if (spec && spec["containers"]) {
        CheckContainers(f, spec);
      }
    }
  } catch (const YAML::Exception& e) {
    c_.Add(f.path, static_cast<int>(e.mark.line) + 1, "manifest",
           fmt::format("invalid YAML: {}", e.msg), "fix the template");
  }
}

void StructureCheck::CheckContainers(const Loaded& f, const YAML::Node& spec) {
  for (const auto& container : spec["containers"]) {
    const YAML::Node res = container["resources"];
    const int line = static_cast<int>(container.Mark().line) + 1;
    if (!res || !res["limits"] || !res["limits"]["memory"]) {
      c_.Add(f.path, line, "resources-fit-host",
             fmt::format("container {} has no memory limit",
                         container["name"] ? container["name"].Scalar() : "?"),
             "set resources.limits.memory from the plan");
      continue;
    }
    const auto limit = KubeSize(res["limits"]["memory"].Scalar());
    const auto request = res["requests"] && res["requests"]["memory"]
                             ? KubeSize(res["requests"]["memory"].Scalar())
                             : limit;
    if (!limit || !request) {
      c_.Add(f.path, line, "resources-fit-host", "unreadable memory quantity",
             "write it as 4096Mi");
      continue;
    }
    if (*request > *limit) {
      c_.Add(f.path, line, "resources-fit-host", "memory request above its limit",
             "request <= limit");
    }
    for (const auto& [name, h] : hosts_) {
      if (h.ram_bytes > 0 && *limit > h.ram_bytes) {
        c_.Add(f.path, line, "resources-fit-host",
               fmt::format("memory limit {} is more than a node's {}", FormatBytes(*limit),
                           FormatBytes(h.ram_bytes)),
               "lower the limit or choose bigger nodes in the plan");
      }
    }
  }
}

void StructureCheck::CheckMemoryTotals() {
  for (const auto& [host, bytes] : memory_) {
    const auto it = hosts_.find(host);
    if (it == hosts_.end() || it->second.ram_bytes <= 0) {
      continue;
    }
    if (bytes > it->second.ram_bytes) {
      const auto& [file, line] = memory_sources_[host].back();
      c_.Add(file, line, "resources-fit-host",
             fmt::format("host {} ({}) is asked for {} by its services (crmd limits + PostgreSQL "
                         "shared_buffers)",
                         host, FormatBytes(it->second.ram_bytes), FormatBytes(bytes)),
             "lower the limits or size the host up in the plan");
    }
  }
}

}  // namespace

const std::vector<StructuralRule>& StructuralRules() {
  static const std::vector<StructuralRule> rules = {
      {"manifest", "every file of manifest.json is present with its sha256, and nothing else"},
      {"resources-fit-host", "memory and CPU the services request fit the host they run on"},
      {"unique-ports", "no two services listen on the same port of one host"},
      {"knobs-set", "every knob crmd reads is set"},
      {"knobs-in-range", "every knob's value is well formed and in range"},
      {"no-inline-secret", "no password, key or token is written into a file, only references"},
      {"secret-file-mode", "files that reference secrets are not readable by others (0600)"},
      {"grafana-dashboard",
       "a dashboard is JSON with uid, title, schemaVersion and panels Grafana can draw"},
  };
  return rules;
}

std::vector<Finding> CheckStructure(const fs::path& dir) {
  return StructureCheck(dir).Run();
}

}  // namespace crm::validate
