#include "crm/config/reload.hpp"

#include <spdlog/spdlog.h>

#include <fstream>

#include "crm/config/logging.hpp"
#include "crm/error.hpp"

namespace crm::config {
namespace {

std::string Trim(const std::string& text) {
  auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) {
    return {};
  }
  auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// Keys whose value is a secret (or names one): reported by name, never by value.
bool Secret(const std::string& key) {
  return key.find("password") != std::string::npos || key.find("secret") != std::string::npos ||
         key.find("token") != std::string::npos;
}

}  // namespace

std::map<std::string, std::string> ReadEnvFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    throw InputError(file.string() + ": cannot open the environment file");
  }
  std::map<std::string, std::string> vars;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::string text = Trim(line);
    if (text.empty() || text[0] == '#' || text[0] == ';') {
      continue;
    }
    if (text.rfind("export ", 0) == 0) {
      text = Trim(text.substr(7));
    }
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw InputError(file.string() + ":" + std::to_string(number) + ": expected KEY=VALUE");
    }
    std::string value = Trim(text.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    vars[Trim(text.substr(0, eq))] = value;
  }
  return vars;
}

EnvLookup EnvironmentWithFile(const std::optional<std::filesystem::path>& file) {
  if (!file) {
    return ProcessEnvironment();
  }
  return [vars = ReadEnvFile(*file),
          process = ProcessEnvironment()](const std::string& name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) {
      return it->second;
    }
    return process(name);
  };
}

Reloader::Reloader(std::optional<std::filesystem::path> config_file,
                   std::optional<std::filesystem::path> env_file)
    : config_file_(std::move(config_file)), env_file_(std::move(env_file)) {
  current_ = RawSettings(config_file_, EnvironmentWithFile(env_file_));
}

ReloadOutcome Reloader::Reload() {
  EnvLookup env = EnvironmentWithFile(env_file_);
  RuntimeConfig config = LoadConfig(config_file_, env);  // validates everything, or throws
  auto fresh = RawSettings(config_file_, env);
  ReloadOutcome outcome;
  std::map<std::string, std::string> all = current_;
  all.insert(fresh.begin(), fresh.end());
  for (const auto& [key, unused] : all) {
    auto before = current_.find(key);
    auto after = fresh.find(key);
    std::string old_value = before == current_.end() ? "" : before->second;
    std::string new_value = after == fresh.end() ? "" : after->second;
    if (old_value == new_value) {
      continue;
    }
    if (key == "log_level") {
      SetLogLevel(config.log_level);
      outcome.applied.push_back(key + ": " + (old_value.empty() ? "info" : old_value) + " -> " +
                                config.log_level);
    } else {
      outcome.need_restart.push_back(Secret(key) ? key + " (changed)"
                                                 : key + ": " + old_value + " -> " + new_value);
    }
  }
  // Only the log level now runs with its new value; what needs a restart is compared with what
  // runs, so the next reload names it again.
  if (auto it = fresh.find("log_level"); it != fresh.end()) {
    current_["log_level"] = it->second;
  } else {
    current_.erase("log_level");
  }
  return outcome;
}

}  // namespace crm::config
