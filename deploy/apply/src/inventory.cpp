#include "crm/apply/inventory.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "crm/error.hpp"
#include "crm/yaml_source.hpp"

namespace crm::apply {
namespace {

std::string OptionalString(crm::StrictMap& map, std::string_view key, const std::string& fallback) {
  const YAML::Node node = map.Optional(key);
  if (!node.IsDefined() || node.IsNull()) {
    return fallback;
  }
  return crm::ScalarString(map.file(), node, key);
}

bool RunsCrmd(const std::string& role) {
  return role == "all" || role == "app" || role == "slice";
}

}  // namespace

const InventoryHost* Inventory::Find(const std::string& name) const {
  for (const InventoryHost& h : hosts) {
    if (h.name == name) {
      return &h;
    }
  }
  return nullptr;
}

Inventory ParseInventory(const std::string& text, const std::string& file) {
  const YAML::Node root = crm::ParseYaml(text, file);
  if (!root.IsDefined() || root.IsNull()) {
    throw InputError(fmt::format("{}: empty inventory (expected a 'hosts:' list)", file));
  }
  crm::StrictMap top(file, root, "inventory");
  Inventory inventory;
  inventory.file = file;
  const YAML::Node batch = top.Optional("batch_size");
  if (batch.IsDefined() && !batch.IsNull()) {
    const long long n = crm::ScalarCount(file, batch, "batch_size");
    if (n < 1 || n > 1000) {
      FailAt(file, batch, "batch_size: expected 1 to 1000");
    }
    inventory.batch_size = static_cast<int>(n);
  }
  const YAML::Node timeout = top.Optional("health_timeout_s");
  if (timeout.IsDefined() && !timeout.IsNull()) {
    const long long n = crm::ScalarCount(file, timeout, "health_timeout_s");
    if (n < 1 || n > 3600) {
      FailAt(file, timeout, "health_timeout_s: expected 1 to 3600");
    }
    inventory.health_timeout_s = static_cast<int>(n);
  }
  const YAML::Node hosts = top.Required("hosts");
  top.Finish();
  if (!hosts.IsSequence() || hosts.size() == 0) {
    FailAt(file, hosts, "hosts: expected a non-empty list of hosts");
  }
  const std::filesystem::path base = std::filesystem::path(file).parent_path();
  std::set<std::string> names;
  for (const YAML::Node& node : hosts) {
    crm::StrictMap map(file, node, "host");
    InventoryHost host;
    host.line = node.Mark().line + 1;
    host.name = map.RequiredString("name");
    if (!names.insert(host.name).second) {
      FailAt(file, map.Required("name"), fmt::format("name: '{}' is listed twice", host.name));
    }
    host.address = map.RequiredString("address");
    const YAML::Node port = map.Optional("port");
    if (port.IsDefined() && !port.IsNull()) {
      const long long p = crm::ScalarCount(file, port, "port");
      if (p < 1 || p > 65535) {
        FailAt(file, port, fmt::format("port: {} is not a TCP port (1-65535)", p));
      }
      host.port = static_cast<int>(p);
    }
    host.user = OptionalString(map, "user", "root");
    host.key = map.RequiredString("key");
    if (std::filesystem::path(host.key).is_relative()) {
      host.key = (base / host.key).string();
    }
    host.known_hosts = OptionalString(map, "known_hosts", "");
    if (!host.known_hosts.empty() && std::filesystem::path(host.known_hosts).is_relative()) {
      host.known_hosts = (base / host.known_hosts).string();
    }
    host.dir = OptionalString(map, "dir", host.dir);
    if (host.dir.empty() || host.dir[0] != '/') {
      FailAt(file, map.Required("dir"), "dir: expected an absolute path on the host");
    }
    host.install = OptionalString(map, "install", DefaultInstall(host.user));
    const YAML::Node restart = map.Optional("restart");
    if (restart.IsDefined()) {
      host.restart = restart.IsNull() ? "" : crm::ScalarString(file, restart, "restart");
    }
    const YAML::Node health = map.Optional("health");
    if (health.IsDefined()) {
      host.health = health.IsNull() ? "" : crm::ScalarString(file, health, "health");
    }
    host.stop = OptionalString(map, "stop", "");
    host.postgres_stop = OptionalString(map, "postgres_stop", "");
    host.postgres_start = OptionalString(map, "postgres_start", "");
    host.pgbackrest = OptionalString(map, "pgbackrest", "");
    host.psql = OptionalString(map, "psql", "");
    host.pg_data = OptionalString(map, "pg_data", "");
    if (!host.pg_data.empty() && host.pg_data[0] != '/') {
      FailAt(file, map.Required("pg_data"), "pg_data: expected an absolute path on the host");
    }
    host.pg_bin = OptionalString(map, "pg_bin", host.pg_bin);
    if (host.pg_bin.empty() || host.pg_bin[0] != '/') {
      FailAt(file, map.Required("pg_bin"), "pg_bin: expected an absolute path on the host");
    }
    map.Finish();
    inventory.hosts.push_back(std::move(host));
  }
  return inventory;
}

std::string DefaultInstall(const std::string& user) {
  return user == "root" ? "sh ./install.sh" : "sudo -n sh ./install.sh";
}

std::string DefaultRestart(const std::string& role, const std::string& user) {
  if (!RunsCrmd(role)) {
    return "";
  }
  return user == "root" ? "systemctl restart crmd.service"
                        : "sudo -n systemctl restart crmd.service";
}

std::string DefaultHealth(const std::string& role) {
  return RunsCrmd(role) ? "systemctl is-active --quiet crmd.service" : "";
}

namespace {

std::string Or(const std::string& given, const std::string& fallback) {
  return given.empty() ? fallback : given;
}

// A command as root: directly when we log in as root, else through sudo without a password.
std::string AsRoot(const InventoryHost& host, const std::string& command) {
  return host.user == "root" ? command : "sudo -n " + command;
}

}  // namespace

// The postgres user owns the cluster and pgBackRest's repository locks.
std::string AsPostgres(const InventoryHost& host, const std::string& command) {
  return host.user == "root" ? "runuser -u postgres -- " + command
                             : "sudo -n -u postgres " + command;
}

std::string PgToolCommand(const InventoryHost& host, const std::string& tool) {
  return AsPostgres(host, ShellQuote(host.pg_bin + "/" + tool));
}

std::string BackupStop(const InventoryHost& host) {
  return Or(host.stop, AsRoot(host, "systemctl stop crmd.service"));
}

std::string PostgresStop(const InventoryHost& host) {
  return Or(host.postgres_stop, AsRoot(host, "systemctl stop postgresql.service"));
}

std::string PostgresStart(const InventoryHost& host) {
  return Or(host.postgres_start, AsRoot(host, "systemctl start postgresql.service"));
}

std::string PgBackRestCommand(const InventoryHost& host) {
  return Or(host.pgbackrest, AsPostgres(host, "pgbackrest"));
}

std::string PsqlCommand(const InventoryHost& host) {
  return Or(host.psql, AsPostgres(host, "psql"));
}

std::string ExpandCommand(const std::string& command, const InventoryHost& host) {
  std::string out;
  for (std::size_t i = 0; i < command.size();) {
    if (command.compare(i, 6, "{host}") == 0) {
      out += host.name;
      i += 6;
    } else if (command.compare(i, 5, "{dir}") == 0) {
      out += host.dir;
      i += 5;
    } else {
      out += command[i++];
    }
  }
  return out;
}

std::vector<std::vector<std::size_t>> RolloutBatches(const std::vector<std::string>& roles,
                                                     int batch_size) {
  const auto database = [](const std::string& role) {
    return role.rfind("postgres", 0) == 0 || role == "queue-db";
  };
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if (database(roles[i])) {
      batches.push_back({i});
    }
  }
  std::vector<std::size_t> slices;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if (roles[i] == "slice") {
      slices.push_back(i);
    } else if (!database(roles[i])) {
      batches.push_back({i});
    }
  }
  const std::size_t n = static_cast<std::size_t>(std::max(1, batch_size));
  for (std::size_t i = 0; i < slices.size(); i += n) {
    batches.emplace_back(
        slices.begin() + static_cast<std::ptrdiff_t>(i),
        slices.begin() + static_cast<std::ptrdiff_t>(std::min(slices.size(), i + n)));
  }
  return batches;
}

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace crm::apply
