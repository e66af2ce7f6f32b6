#include "crm/mail/templates.hpp"

#include <kainjow/mustache.hpp>

#include "crm/error.hpp"
#include "crm/mustache_data.hpp"

namespace crm::mail {
namespace {

using Data = kainjow::mustache::data;

const MailTemplateFile* Find(const std::vector<MailTemplateFile>& templates,
                             const std::string& name) {
  for (const auto& t : templates) {
    if (t.name == name) {
      return &t;
    }
  }
  return nullptr;
}

std::string Render(const MailTemplateFile& file, const Data& data, bool html) {
  kainjow::mustache::mustache tmpl{std::string(file.content)};
  if (!tmpl.is_valid()) {
    throw InputError("templates/mail/" + file.name + ": " + tmpl.error_message(), "template");
  }
  if (!html) {
    tmpl.set_custom_escape([](const std::string& s) { return s; });
  }
  std::string out = tmpl.render(data);
  if (!tmpl.is_valid()) {
    throw InputError("templates/mail/" + file.name + ": " + tmpl.error_message(), "template");
  }
  return out;
}

}  // namespace

MailContent RenderMail(const std::string& name, const nlohmann::json& params,
                       const std::vector<MailTemplateFile>& templates) {
  const MailTemplateFile* subject = Find(templates, name + ".subject.mustache");
  const MailTemplateFile* text = Find(templates, name + ".txt.mustache");
  if (subject == nullptr || text == nullptr) {
    throw InputError("template: no mail template \"" + name +
                         "\" (templates/mail/<name>.subject.mustache and .txt.mustache)",
                     "template");
  }
  Data data = ToMustache(params.is_object() ? params : nlohmann::json::object());
  MailContent content;
  content.subject = Render(*subject, data, false);
  // A subject is one line; the template file's final newline is not part of it.
  while (!content.subject.empty() &&
         (content.subject.back() == '\n' || content.subject.back() == '\r')) {
    content.subject.pop_back();
  }
  content.text = Render(*text, data, false);
  if (const MailTemplateFile* html = Find(templates, name + ".html.mustache")) {
    content.html = Render(*html, data, true);
  }
  return content;
}

}  // namespace crm::mail
