#include "crm/apply/state.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "crm/error.hpp"

namespace crm::apply {
namespace {

std::string String(const nlohmann::json& doc, const char* key, const std::string& where) {
  if (!doc.contains(key) || !doc[key].is_string()) {
    throw InputError(fmt::format("{}: '{}' must be a string", where, key));
  }
  return doc[key].get<std::string>();
}

const nlohmann::json& Object(const nlohmann::json& doc, const char* key, const std::string& where) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  if (!doc.contains(key)) {
    return kEmpty;
  }
  if (!doc[key].is_object()) {
    throw InputError(fmt::format("{}: '{}' must be an object", where, key));
  }
  return doc[key];
}

}  // namespace

nlohmann::ordered_json ToJson(const DeploymentState& state) {
  nlohmann::ordered_json doc;
  doc["format"] = DeploymentState::kFormat;
  doc["target"] = state.target;
  doc["settings"] = state.settings;
  doc["hosts"] = nlohmann::ordered_json::object();
  for (const auto& [name, host] : state.hosts) {
    nlohmann::ordered_json h;
    h["files"] = nlohmann::ordered_json::object();
    for (const auto& [path, f] : host.files) {
      h["files"][path] = {
          {"sha256", f.sha256}, {"mode", fmt::format("{:04o}", f.mode)}, {"version", f.version}};
    }
    h["services"] = nlohmann::ordered_json::object();
    for (const auto& [svc, s] : host.services) {
      h["services"][svc] = {{"inputs", s.inputs}, {"version", s.version}};
    }
    doc["hosts"][name] = std::move(h);
  }
  return doc;
}

DeploymentState StateFromJson(const nlohmann::json& doc, const std::string& source) {
  if (!doc.is_object()) {
    throw InputError(fmt::format("{}: not a crmctl state (expected a JSON object)", source));
  }
  if (!doc.contains("format") || !doc["format"].is_number_integer() ||
      doc["format"].get<int>() != DeploymentState::kFormat) {
    throw InputError(fmt::format("{}: 'format' must be {} (written by another crmctl version?)",
                                 source, DeploymentState::kFormat));
  }
  DeploymentState state;
  state.target = String(doc, "target", source);
  for (const auto& [key, value] : Object(doc, "settings", source).items()) {
    if (!value.is_string()) {
      throw InputError(fmt::format("{}: settings.{} must be a string", source, key));
    }
    state.settings[key] = value.get<std::string>();
  }
  for (const auto& [name, h] : Object(doc, "hosts", source).items()) {
    const std::string where = fmt::format("{}: hosts.{}", source, name);
    if (!h.is_object()) {
      throw InputError(where + " must be an object");
    }
    HostState host;
    for (const auto& [path, f] : Object(h, "files", where).items()) {
      const std::string fwhere = fmt::format("{}.files.{}", where, path);
      if (!f.is_object()) {
        throw InputError(fwhere + " must be an object");
      }
      FileRecord record;
      record.sha256 = String(f, "sha256", fwhere);
      record.version = String(f, "version", fwhere);
      const std::string mode = String(f, "mode", fwhere);
      try {
        std::size_t used = 0;
        record.mode = std::stoi(mode, &used, 8);
        if (used != mode.size()) {
          throw std::invalid_argument(mode);
        }
      } catch (const std::exception&) {
        throw InputError(
            fmt::format("{}: 'mode' must be octal like \"0644\", got \"{}\"", fwhere, mode));
      }
      host.files[path] = std::move(record);
    }
    for (const auto& [svc, s] : Object(h, "services", where).items()) {
      const std::string swhere = fmt::format("{}.services.{}", where, svc);
      if (!s.is_object()) {
        throw InputError(swhere + " must be an object");
      }
      ServiceRecord record;
      record.version = String(s, "version", swhere);
      for (const auto& [input, hash] : Object(s, "inputs", swhere).items()) {
        if (!hash.is_string()) {
          throw InputError(fmt::format("{}.inputs.{} must be a string", swhere, input));
        }
        record.inputs[input] = hash.get<std::string>();
      }
      host.services[svc] = std::move(record);
    }
    state.hosts[name] = std::move(host);
  }
  return state;
}

std::filesystem::path StatePath(const std::filesystem::path& dir) {
  return dir / "state.json";
}

DeploymentState LoadState(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) {
      return {};
    }
    throw RuntimeError(
        fmt::format("{}: cannot read the state: {}", path.string(), std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(
        fmt::format("{}: not valid JSON ({}); restore it or remove the deployment directory",
                    path.string(), e.what()));
  }
  return StateFromJson(doc, path.string());
}

void SaveState(const std::filesystem::path& path, const DeploymentState& state) {
  const std::string text = ToJson(state).dump(2) + "\n";
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw RuntimeError(
        fmt::format("{}: cannot write the state: {}", tmp.string(), std::strerror(errno)));
  }
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw RuntimeError(
          fmt::format("{}: cannot write the state: {}", tmp.string(), std::strerror(err)));
    }
    written += static_cast<std::size_t>(n);
  }
  // The state must survive a crash right after the step it records.
  ::fsync(fd);
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    throw RuntimeError(
        fmt::format("{}: cannot replace the state: {}", path.string(), ec.message()));
  }
}

}  // namespace crm::apply
