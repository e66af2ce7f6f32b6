// The mailer's message templates: templates/mail/<name>.{subject,txt,html}.mustache, embedded
// at build time (cmake/EmbedFiles.cmake), rendered with an outbox row's parameters.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace crm::mail {

struct MailTemplateFile {
  std::string name;  ///< "password_reset.txt.mustache"
  std::string_view content;
};

/// Every file of templates/mail/, compiled into the binary.
const std::vector<MailTemplateFile>& EmbeddedMailTemplates();

struct MailContent {
  std::string subject;
  std::string text;
  std::string html;  ///< empty when the template has no .html part
};

/// Renders template `name` with `params` (a JSON object; its strings fill {{name}} tags). The
/// subject and text are not escaped, the HTML is. Throws InputError (field "template") for an
/// unknown template or one that does not render, naming the file.
MailContent RenderMail(const std::string& name, const nlohmann::json& params,
                       const std::vector<MailTemplateFile>& templates = EmbeddedMailTemplates());

}  // namespace crm::mail
