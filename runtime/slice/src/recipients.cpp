#include <algorithm>
#include <unordered_set>

#include "crm/channel/channel.hpp"
#include "crm/http/types.hpp"
#include "crm/slice/validation.hpp"

namespace crm::slice {
namespace {

using http::ClientError;
using http::Status;

constexpr std::size_t kMaxReported = 10;

// Collects recipients in order without duplicates, and the first few errors.
class Collector {
 public:
  void Add(const std::string& text, const std::string& where) {
    try {
      std::string phone = NormalizePhone(text, where);
      if (seen_.insert(phone).second) {
        phones_.push_back(std::move(phone));
      }
    } catch (const InputError& e) {
      if (++bad_ <= kMaxReported) {
        errors_ += (errors_.empty() ? "" : "; ") + std::string(e.what());
      }
    }
  }
  std::vector<std::string> Finish(const std::string& field) {
    if (bad_ > 0) {
      std::string more =
          bad_ > kMaxReported ? " (and " + std::to_string(bad_ - kMaxReported) + " more)" : "";
      throw InputError(
          std::to_string(bad_) + " invalid recipient(s), nothing was queued: " + errors_ + more,
          field);
    }
    return std::move(phones_);
  }

 private:
  std::unordered_set<std::string> seen_;
  std::vector<std::string> phones_;
  std::string errors_;
  std::size_t bad_ = 0;
};

// One CSV record's fields (RFC 4180 quoting, "," or ";").
std::vector<std::string> Fields(std::string_view line, char separator) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == separator) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  for (auto& f : out) {
    auto first = f.find_first_not_of(" \t");
    auto last = f.find_last_not_of(" \t");
    f = first == std::string::npos ? std::string() : f.substr(first, last - first + 1);
  }
  return out;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::vector<std::string> ParseRecipients(const nlohmann::json& list) {
  if (!list.is_array()) {
    throw InputError(
        std::string("recipients: expected an array of phone numbers, got ") + list.type_name(),
        "recipients");
  }
  Collector collector;
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string where = "recipients[" + std::to_string(i) + "]";
    if (!list[i].is_string()) {
      collector.Add("", where);  // reported as not a number
      continue;
    }
    collector.Add(list[i].get<std::string>(), where);
  }
  return collector.Finish("recipients");
}

std::vector<std::string> ParseRecipientsCsv(std::string_view csv) {
  if (csv.substr(0, 3) == "\xEF\xBB\xBF") {
    csv.remove_prefix(3);  // a spreadsheet's byte-order mark
  }
  Collector collector;
  std::size_t line_no = 0;
  std::optional<std::size_t> column;
  char separator = ',';
  bool first = true;
  std::size_t pos = 0;
  while (pos < csv.size()) {
    std::size_t end = csv.find('\n', pos);
    std::string_view line = csv.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? csv.size() : end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.find_first_not_of(" \t,;") == std::string_view::npos) {
      continue;
    }
    if (first) {
      first = false;
      separator =
          line.find(';') != std::string_view::npos && line.find(',') == std::string_view::npos
              ? ';'
              : ',';
      auto header = Fields(line, separator);
      for (std::size_t i = 0; i < header.size(); ++i) {
        std::string name = Lower(header[i]);
        if (name == "phone" || name == "number" || name == "mobile" || name == "whatsapp" ||
            name == "wa_id" || name == "phone_number") {
          column = i;
          break;
        }
      }
      if (column) {
        continue;  // a header row
      }
      if (header.size() > 1) {
        throw InputError(
            "line 1: several columns but none named phone (or number, mobile, "
            "whatsapp, wa_id, phone_number): name the column holding the numbers",
            "recipients");
      }
      column = 0;
    }
    auto fields = Fields(line, separator);
    std::string where = "line " + std::to_string(line_no) + ": phone";
    collector.Add(*column < fields.size() ? fields[*column] : std::string(), where);
  }
  return collector.Finish("recipients");
}

channel::Template ParseTemplate(const nlohmann::json& value) {
  if (!value.is_object()) {
    throw InputError(std::string("template: expected an object {\"name\", \"language\", "
                                 "\"parameters\"}, got ") +
                         value.type_name(),
                     "template");
  }
  for (const auto& [key, v] : value.items()) {
    if (key != "name" && key != "language" && key != "parameters") {
      throw InputError("template." + key + ": unknown field (expected name, language, parameters)",
                       "template." + key);
    }
  }
  channel::Template t;
  t.name = http::RequireString(value, "name", 1, 512);
  if (t.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
    throw InputError(
        "template.name: lower-case letters, digits and underscores, as approved in "
        "WhatsApp Manager; got \"" +
            t.name + "\"",
        "template.name");
  }
  t.language = http::OptionalString(value, "language", 2, 15).value_or("en_US");
  if (t.language.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") !=
      std::string::npos) {
    throw InputError(
        "template.language: a language code such as en_US or pt_BR, got \"" + t.language + "\"",
        "template.language");
  }
  if (auto p = value.find("parameters"); p != value.end() && !p->is_null()) {
    if (!p->is_array() || p->size() > 10) {
      throw InputError("template.parameters: expected an array of at most 10 texts",
                       "template.parameters");
    }
    for (std::size_t i = 0; i < p->size(); ++i) {
      const auto& v = (*p)[i];
      if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
          v.get_ref<const std::string&>().size() > 1024) {
        throw InputError("template.parameters[" + std::to_string(i) +
                             "]: expected a text of 1 to 1024 characters",
                         "template.parameters");
      }
      t.body_parameters.push_back(v.get<std::string>());
    }
  }
  return t;
}

}  // namespace crm::slice
