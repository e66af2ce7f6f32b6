// Rendering a plan with the Mustache templates of a target: the index (files.yaml) says which
// template becomes which file on which host; the context (context.cpp) fills them.
#include "crm/render/render.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>
#include <kainjow/mustache.hpp>

#include <algorithm>
#include <set>

#include "crm/error.hpp"
#include "crm/mustache_data.hpp"
#include "crm/yaml_source.hpp"

namespace crm::render {
namespace {

using Json = nlohmann::ordered_json;
using Data = kainjow::mustache::data;
using planner::Plan;

constexpr double kMiB = 1024.0 * 1024;

}  // namespace

RenderTarget ParseRenderTarget(std::string_view text) {
  if (text == "vps") {
    return RenderTarget::kVps;
  }
  if (text == "compose") {
    return RenderTarget::kCompose;
  }
  if (text == "multi") {
    return RenderTarget::kMulti;
  }
  if (text == "k8s") {
    return RenderTarget::kK8s;
  }
  throw InputError(fmt::format("--target: unknown '{}' (expected vps, compose, multi, k8s)", text));
}

std::string_view RenderTargetName(RenderTarget target) {
  switch (target) {
    case RenderTarget::kVps:
      return "vps";
    case RenderTarget::kCompose:
      return "compose";
    case RenderTarget::kMulti:
      return "multi";
    case RenderTarget::kK8s:
      return "k8s";
  }
  return "?";
}

std::vector<RenderTarget> TargetsFor(const planner::Tier& tier) {
  switch (tier.topology) {
    case planner::Topology::kSingle:
      return {RenderTarget::kVps, RenderTarget::kCompose};
    case planner::Topology::kSplit:
    case planner::Topology::kHa:
      return {RenderTarget::kMulti};
    case planner::Topology::kK8s:
      return {RenderTarget::kK8s};
  }
  return {};
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex += fmt::format("{:02x}", digest[i]);
  }
  return hex;
}

namespace {

struct FileRule {
  std::string template_name;
  std::string path;                // a Mustache template itself ({{host.name}}, {{region.name}})
  std::vector<std::string> roles;  // host roles that get it; empty = every host
  std::string when;                // a context key that must be true
  int mode = 0644;
  bool per_region = false;
};

const TemplateFile* FindTemplate(const std::vector<TemplateFile>& templates,
                                 const std::string& name) {
  for (const TemplateFile& t : templates) {
    if (t.name == name) {
      return &t;
    }
  }
  return nullptr;
}

std::vector<FileRule> ReadIndex(const std::vector<TemplateFile>& templates, RenderTarget target) {
  const std::string index_name = fmt::format("{}/files.yaml", RenderTargetName(target));
  const TemplateFile* index = FindTemplate(templates, index_name);
  if (index == nullptr) {
    throw InputError(fmt::format("templates: missing {}", index_name));
  }
  const std::string file = "templates/" + index_name;
  const YAML::Node root = ParseYaml(index->text, file);
  StrictMap top(file, root, "index");
  const YAML::Node list = top.Required("files");
  top.Finish();
  std::vector<FileRule> rules;
  for (const YAML::Node& node : list) {
    StrictMap m(file, node, "file");
    FileRule rule;
    // A bare name is the target's own template; "dir/name" is shared between targets (the
    // monitoring rules and dashboard are the same for multi and k8s) and read from templates/dir/.
    const std::string template_name = m.RequiredString("template");
    rule.template_name = template_name.find('/') == std::string::npos
                             ? fmt::format("{}/{}", RenderTargetName(target), template_name)
                             : template_name;
    rule.path = m.RequiredString("path");
    if (YAML::Node roles = m.Optional("roles")) {
      for (const YAML::Node& r : roles) {
        rule.roles.push_back(ScalarString(file, r, "roles"));
      }
    }
    if (YAML::Node when = m.Optional("when")) {
      rule.when = ScalarString(file, when, "when");
    }
    if (YAML::Node mode = m.Optional("mode")) {
      const std::string text = ScalarString(file, mode, "mode");
      try {
        rule.mode = std::stoi(text, nullptr, 8);
      } catch (const std::exception&) {
        FailAt(file, mode, fmt::format("mode: expected octal such as 0600, got \"{}\"", text));
      }
    }
    rule.per_region = m.OptionalBool("per_region", false);
    m.Finish();
    if (FindTemplate(templates, rule.template_name) == nullptr) {
      FailAt(file, node, fmt::format("template: no file templates/{}", rule.template_name));
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::string RenderText(const std::string& name, std::string_view text, const Data& data) {
  kainjow::mustache::mustache tmpl{std::string(text)};
  if (!tmpl.is_valid()) {
    throw InputError(fmt::format("templates/{}: {}", name, tmpl.error_message()));
  }
  // Configuration files are not HTML: no escaping.
  tmpl.set_custom_escape([](const std::string& s) { return s; });
  std::string out = tmpl.render(data);
  if (!tmpl.is_valid()) {
    throw InputError(fmt::format("templates/{}: {}", name, tmpl.error_message()));
  }
  return out;
}

bool Truthy(const Json& context, const std::string& key) {
  const auto it = context.find(key);
  return it != context.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

Rendering Render(const Plan& plan, RenderTarget target, const RenderOptions& options,
                 const std::vector<TemplateFile>& templates) {
  const std::vector<RenderTarget> fits = TargetsFor(*plan.tier);
  if (std::find(fits.begin(), fits.end(), target) == fits.end()) {
    std::string names;
    for (RenderTarget t : fits) {
      names += names.empty() ? std::string(RenderTargetName(t))
                             : ", " + std::string(RenderTargetName(t));
    }
    throw InputError(fmt::format("--target: {} does not fit tier {} ({}, {} topology); use {}",
                                 RenderTargetName(target), plan.tier->id, plan.tier->name,
                                 planner::TopologyName(plan.tier->topology), names));
  }
  const Json context = RenderContext(plan, target, options);
  const std::vector<FileRule> rules = ReadIndex(templates, target);
  Rendering r;
  r.target = target;
  for (const Json& h : context["hosts"]) {
    RenderedHost host;
    host.name = h["name"].get<std::string>();
    host.role = h["role"].get<std::string>();
    host.ram_bytes = h["ram_mib"].get<double>() * kMiB;
    host.vcpu = std::stod(h["vcpu"].get<std::string>());
    r.hosts.push_back(host);
  }
  for (const FileRule& rule : rules) {
    // `when: host.KEY` is decided per host below; any other key once for the rendering.
    const bool per_host = rule.when.rfind("host.", 0) == 0;
    if (!rule.when.empty() && !per_host && !Truthy(context, rule.when)) {
      continue;
    }
    const TemplateFile& tmpl = *FindTemplate(templates, rule.template_name);
    for (const Json& h : context["hosts"]) {
      const std::string role = h["role"].get<std::string>();
      if (!rule.roles.empty() &&
          std::find(rule.roles.begin(), rule.roles.end(), role) == rule.roles.end()) {
        continue;
      }
      if (per_host && !Truthy(h, rule.when.substr(5))) {
        continue;
      }
      std::vector<Json> scopes;
      if (rule.per_region && context.contains("k8s")) {
        for (const Json& region : context["k8s"]["regions"]) {
          scopes.push_back(region);
        }
      } else {
        scopes.push_back(Json(nullptr));
      }
      for (const Json& region : scopes) {
        Json local = context;
        local["host"] = h;
        if (!region.is_null()) {
          local["region"] = region;
        }
        const Data data = ToMustache(local);
        RenderedFile f;
        f.path = RenderText(rule.template_name + " (path)", rule.path, data);
        f.host = h["name"].get<std::string>();
        f.role = role;
        f.mode = rule.mode;
        f.content = RenderText(rule.template_name, tmpl.text, data);
        r.files.push_back(std::move(f));
      }
    }
  }
  std::sort(r.files.begin(), r.files.end(),
            [](const RenderedFile& a, const RenderedFile& b) { return a.path < b.path; });
  for (std::size_t i = 1; i < r.files.size(); ++i) {
    if (r.files[i].path == r.files[i - 1].path) {
      throw InputError(fmt::format("templates: two files render to {}", r.files[i].path));
    }
  }
  return r;
}

std::vector<std::string> UndefinedTemplateNames(const std::vector<TemplateFile>& templates,
                                                const Plan& plan, RenderTarget target,
                                                const RenderOptions& options) {
  // Render each template with a context where every lookup is recorded: a name that resolves
  // nowhere is reported. kainjow resolves dotted names and walks up the section stack, so we
  // check each tag against the context by path, including inside sections' items.
  Json context = RenderContext(plan, target, options);
  // Templates are rendered per host, and hosts of different roles carry different fields
  // (shard_range on slice hosts, queue_conf on the queue database): check against their union.
  Json merged = Json::object();
  for (const Json& h : context["hosts"]) {
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (!merged.contains(it.key())) {
        merged[it.key()] = it.value();
      }
    }
  }
  context["host"] = merged;
  if (context.contains("k8s")) {
    context["region"] = context["k8s"]["regions"][0];
  }
  std::set<std::string> missing;
  const std::string prefix = std::string(RenderTargetName(target)) + "/";
  std::set<std::string> shared;  // templates of other folders this target's index names
  for (const FileRule& rule : ReadIndex(templates, target)) {
    shared.insert(rule.template_name);
  }
  for (const TemplateFile& t : templates) {
    if ((t.name.rfind(prefix, 0) != 0 && shared.count(t.name) == 0) ||
        t.name.find(".mustache") == std::string::npos) {
      continue;
    }
    std::vector<const Json*> stack = {&context};
    std::string_view text = t.text;
    std::size_t pos = 0;
    while ((pos = text.find("{{", pos)) != std::string_view::npos) {
      const std::size_t end = text.find("}}", pos);
      if (end == std::string_view::npos) {
        break;
      }
      std::string tag(text.substr(pos + 2, end - pos - 2));
      pos = end + 2;
      if (!tag.empty() && tag.front() == '{') {
        tag = tag.substr(1);
        if (pos < text.size() && text[pos] == '}') {
          ++pos;
        }
      }
      char kind = tag.empty() ? ' ' : tag.front();
      if (kind == '!' || kind == '>' || kind == '=') {
        continue;
      }
      if (kind == '#' || kind == '^' || kind == '/' || kind == '&') {
        tag = tag.substr(1);
      } else {
        kind = ' ';
      }
      tag.erase(0, tag.find_first_not_of(' '));
      tag.erase(tag.find_last_not_of(' ') + 1);
      if (kind == '/') {
        if (stack.size() > 1) {
          stack.pop_back();
        }
        continue;
      }
      const Json* found = nullptr;
      if (tag == ".") {
        found = stack.back();
      } else {
        for (auto it = stack.rbegin(); it != stack.rend() && found == nullptr; ++it) {
          const Json* cur = *it;
          std::size_t start = 0;
          while (cur != nullptr && start <= tag.size()) {
            const std::size_t dot = tag.find('.', start);
            const std::string key =
                tag.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            cur = cur->is_object() && cur->contains(key) ? &(*cur)[key] : nullptr;
            if (dot == std::string::npos) {
              break;
            }
            start = dot + 1;
          }
          found = cur;
        }
      }
      if (found == nullptr) {
        missing.insert(fmt::format("{}: {{{{{}}}}}", t.name, tag));
        if (kind == '#' || kind == '^') {
          stack.push_back(stack.back());
        }
        continue;
      }
      if (kind == '#' || kind == '^') {
        // Inside a list section the item is the new top of the stack.
        stack.push_back(found->is_array() && !found->empty() ? &(*found)[0] : found);
      }
    }
  }
  return {missing.begin(), missing.end()};
}

}  // namespace crm::render
