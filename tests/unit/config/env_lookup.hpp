// A fixed environment for LoadConfig in the config tests.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "crm/config/config.hpp"

namespace crm::config {

inline EnvLookup Env(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

}  // namespace crm::config
