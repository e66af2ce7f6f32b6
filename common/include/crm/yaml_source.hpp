// Strict reading of YAML files: every error names file:line:col, unknown keys are errors.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace crm {

/// Parses YAML text. Syntax errors become InputError "file:line:col: message".
YAML::Node ParseYaml(std::string_view text, const std::string& file);

/// "file:line:col" of a node (1-based).
std::string Where(const std::string& file, const YAML::Node& node);

/// Throws InputError "file:line:col: message" at `node`.
[[noreturn]] void FailAt(const std::string& file, const YAML::Node& node,
                         const std::string& message);

/// Reads one YAML mapping strictly: required and optional keys by name; Finish() rejects every
/// key that was never asked for ("unknown key 'x' (expected one of: a, b)").
class StrictMap {
 public:
  /// Throws InputError if `node` is not a mapping. `what` names the mapping in messages.
  StrictMap(const std::string& file, const YAML::Node& node, std::string what);

  /// The node under `key`; throws "missing field 'key'" when absent.
  YAML::Node Required(std::string_view key);
  /// The node under `key`, or an undefined node when absent.
  YAML::Node Optional(std::string_view key);

  std::string RequiredString(std::string_view key);
  double RequiredNumber(std::string_view key);
  double OptionalNumber(std::string_view key, double fallback);
  long long RequiredCount(std::string_view key);
  bool OptionalBool(std::string_view key, bool fallback);
  /// A size with a unit ("80 KB"): a bare number is an error, so is a unit typo ("2 MBs").
  double RequiredBytes(std::string_view key);
  double OptionalBytes(std::string_view key, double fallback);

  /// Rejects keys never asked for. Call after reading every field.
  void Finish() const;

  const std::string& file() const { return file_; }
  const YAML::Node& node() const { return node_; }

 private:
  std::string file_;
  YAML::Node node_;
  std::string what_;
  mutable std::vector<std::string> asked_;
};

/// Scalar readers with file:line:col errors.
std::string ScalarString(const std::string& file, const YAML::Node& node, std::string_view field);
double ScalarNumber(const std::string& file, const YAML::Node& node, std::string_view field);
long long ScalarCount(const std::string& file, const YAML::Node& node, std::string_view field);
bool ScalarBool(const std::string& file, const YAML::Node& node, std::string_view field);
double ScalarBytes(const std::string& file, const YAML::Node& node, std::string_view field);

}  // namespace crm
