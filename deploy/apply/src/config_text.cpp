#include "crm/apply/config_text.hpp"

#include <fmt/format.h>

#include <cctype>
#include <sstream>

#include "crm/error.hpp"

namespace crm::apply {
namespace {

std::string Trim(const std::string& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])) != 0) {
    ++b;
  }
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])) != 0) {
    --e;
  }
  return s.substr(b, e - b);
}

bool ValidKey(const std::string& key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0])) != 0) {
    return false;
  }
  for (char c : key) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_') {
      return false;
    }
  }
  return true;
}

// Replaces the first line for which `matches` holds with `replacement` (appends it when none).
template <typename Match>
std::string ReplaceLine(const std::string& text, Match matches, const std::string& replacement) {
  std::istringstream in(text);
  std::string line;
  std::string out;
  bool done = false;
  while (std::getline(in, line)) {
    if (!done && matches(line)) {
      if (!replacement.empty()) {
        out += replacement + "\n";
      }
      done = true;
      continue;
    }
    out += line + "\n";
  }
  if (!done && !replacement.empty()) {
    out += replacement + "\n";
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ParseEnvFile(const std::string& text,
                                                              const std::string& file) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string t = Trim(line);
    if (t.empty() || t[0] == '#') {
      continue;
    }
    const std::size_t eq = t.find('=');
    if (eq == std::string::npos) {
      throw InputError(fmt::format("{}:{}: expected KEY=value, got \"{}\"", file, number, t));
    }
    const std::string key = t.substr(0, eq);
    if (!ValidKey(key)) {
      throw InputError(fmt::format("{}:{}: '{}' is not a variable name", file, number, key));
    }
    out.emplace_back(key, t.substr(eq + 1));
  }
  return out;
}

std::string SetEnvValue(const std::string& text, const std::string& key, const std::string& value) {
  return ReplaceLine(
      text, [&](const std::string& l) { return l.rfind(key + "=", 0) == 0; }, key + "=" + value);
}

std::string RemoveEnvValue(const std::string& text, const std::string& key) {
  return ReplaceLine(
      text, [&](const std::string& l) { return l.rfind(key + "=", 0) == 0; }, "");
}

std::string SetConfValue(const std::string& text, const std::string& name,
                         const std::string& value) {
  return ReplaceLine(
      text,
      [&](const std::string& l) {
        const std::string t = Trim(l);
        if (t.rfind(name, 0) != 0) {
          return false;
        }
        const std::string rest = Trim(t.substr(name.size()));
        return !rest.empty() && rest[0] == '=';
      },
      name + " = " + value);
}

}  // namespace crm::apply
