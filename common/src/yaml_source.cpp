#include "crm/yaml_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "crm/error.hpp"
#include "crm/units.hpp"

namespace crm {

YAML::Node ParseYaml(std::string_view text, const std::string& file) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw InputError(
        fmt::format("{}:{}:{}: invalid YAML: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
}

std::string Where(const std::string& file, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) {
    return file;
  }
  return fmt::format("{}:{}:{}", file, mark.line + 1, mark.column + 1);
}

void FailAt(const std::string& file, const YAML::Node& node, const std::string& message) {
  throw InputError(fmt::format("{}: {}", Where(file, node), message));
}

namespace {

template <typename F>
auto Scalar(const std::string& file, const YAML::Node& node, std::string_view field, F parse) {
  if (!node.IsScalar()) {
    FailAt(file, node, fmt::format("{}: expected a single value", field));
  }
  try {
    return parse(node.Scalar());
  } catch (const InputError& e) {
    FailAt(file, node, fmt::format("{}: {}", field, e.what()));
  }
}

}  // namespace

std::string ScalarString(const std::string& file, const YAML::Node& node, std::string_view field) {
  return Scalar(file, node, field, [](const std::string& s) { return s; });
}

double ScalarNumber(const std::string& file, const YAML::Node& node, std::string_view field) {
  return Scalar(file, node, field, [](const std::string& s) { return ParseNumber(s); });
}

long long ScalarCount(const std::string& file, const YAML::Node& node, std::string_view field) {
  return Scalar(file, node, field, [](const std::string& s) { return ParseCount(s); });
}

bool ScalarBool(const std::string& file, const YAML::Node& node, std::string_view field) {
  return Scalar(file, node, field, [](const std::string& s) { return ParseBool(s); });
}

double ScalarBytes(const std::string& file, const YAML::Node& node, std::string_view field) {
  return Scalar(file, node, field, [](const std::string& s) { return ParseBytes(s); });
}

StrictMap::StrictMap(const std::string& file, const YAML::Node& node, std::string what)
    : file_(file), node_(node), what_(std::move(what)) {
  if (!node.IsMap()) {
    FailAt(file, node, fmt::format("{}: expected a mapping of keys to values", what_));
  }
}

YAML::Node StrictMap::Optional(std::string_view key) {
  asked_.emplace_back(key);
  return node_[std::string(key)];
}

YAML::Node StrictMap::Required(std::string_view key) {
  YAML::Node n = Optional(key);
  if (!n) {
    FailAt(file_, node_, fmt::format("{}: missing field '{}'", what_, key));
  }
  return n;
}

std::string StrictMap::RequiredString(std::string_view key) {
  return ScalarString(file_, Required(key), key);
}
double StrictMap::RequiredNumber(std::string_view key) {
  return ScalarNumber(file_, Required(key), key);
}
double StrictMap::OptionalNumber(std::string_view key, double fallback) {
  YAML::Node n = Optional(key);
  return n ? ScalarNumber(file_, n, key) : fallback;
}
long long StrictMap::RequiredCount(std::string_view key) {
  return ScalarCount(file_, Required(key), key);
}
bool StrictMap::OptionalBool(std::string_view key, bool fallback) {
  YAML::Node n = Optional(key);
  return n ? ScalarBool(file_, n, key) : fallback;
}
double StrictMap::RequiredBytes(std::string_view key) {
  return ScalarBytes(file_, Required(key), key);
}
double StrictMap::OptionalBytes(std::string_view key, double fallback) {
  YAML::Node n = Optional(key);
  return n ? ScalarBytes(file_, n, key) : fallback;
}

void StrictMap::Finish() const {
  for (const auto& kv : node_) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      FailAt(file_, key, fmt::format("{}: keys must be plain names", what_));
    }
    const std::string& name = key.Scalar();
    if (std::find(asked_.begin(), asked_.end(), name) == asked_.end()) {
      std::string expected;
      std::vector<std::string> sorted = asked_;
      std::sort(sorted.begin(), sorted.end());
      sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
      for (const auto& a : sorted) {
        expected += expected.empty() ? a : ", " + a;
      }
      FailAt(file_, key,
             fmt::format("{}: unknown key '{}' (expected one of: {})", what_, name, expected));
    }
  }
}

}  // namespace crm
