#include "crm/slice/contact_csv.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "crm/error.hpp"
#include "csv_upload.hpp"

namespace crm::slice {
namespace {

using nlohmann::json;

struct Columns {
  std::optional<std::size_t> name;
  std::optional<std::size_t> phone;
  std::optional<std::size_t> tags;
};

Columns HeaderColumns(const std::vector<std::string_view>& fields) {
  Columns c;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    std::string header = HeaderName(fields[i]);
    if (header == "name" && !c.name) {
      c.name = i;
    } else if (header == "tags" && !c.tags) {
      c.tags = i;
    } else if (IsPhoneHeader(header) && !c.phone) {
      c.phone = i;
    }
  }
  if (!c.name || !c.phone) {
    throw InputError(std::string("line 1: a header row naming the columns is required: name, ") +
                     kPhoneHeaders + " and, optionally, tags (separated by |)");
  }
  return c;
}

std::string Cell(const std::vector<std::string_view>& fields, std::optional<std::size_t> column) {
  return column && *column < fields.size() ? std::string(TrimBlanks(fields[*column]))
                                           : std::string();
}

// The row as the JSON body POST /api/contacts takes, so that it is validated the same way.
json RowBody(const std::vector<std::string_view>& fields, const Columns& columns) {
  json body = {{"name", Cell(fields, columns.name)}, {"phone", Cell(fields, columns.phone)}};
  if (columns.tags) {
    json tags = json::array();
    std::string_view rest = TrimBlanks(fields.size() > *columns.tags ? fields[*columns.tags] : "");
    while (!rest.empty()) {
      std::size_t bar = rest.find('|');
      std::string_view tag = TrimBlanks(rest.substr(0, bar));
      if (!tag.empty()) {
        tags.push_back(std::string(tag));
      }
      rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
    }
    body["tags"] = std::move(tags);
  }
  return body;
}

}  // namespace

std::vector<ContactInput> ParseContactsCsv(std::string_view csv, std::size_t max_rows) {
  CsvUpload upload(csv, "contacts");
  UploadErrors errors;
  std::optional<Columns> columns;
  std::vector<ContactInput> contacts;
  std::vector<std::string_view> fields;
  std::size_t rows = 0;
  for (;;) {
    try {
      if (!upload.Next(fields)) {
        break;
      }
    } catch (const InputError& e) {
      errors.Add(e.what());  // bad quoting: reported with the other rows, the rest goes on
      continue;
    }
    if (!columns) {
      columns = HeaderColumns(fields);
      continue;
    }
    RefuseRowsBeyond(++rows, max_rows, upload.line(), "rows", "");
    std::string where = "line " + std::to_string(upload.line()) + ": ";
    try {
      json body = RowBody(fields, *columns);
      // The database takes UTF-8 only: a file saved in another encoding is refused here, by
      // line, rather than failing the whole insert.
      (void)body.dump();
      contacts.push_back(ParseContact(body, false));
    } catch (const InputError& e) {
      errors.Add(where + e.what());
    } catch (const json::type_error&) {
      errors.Add(where + "not valid UTF-8 text (save the file as UTF-8)");
    }
  }
  errors.ThrowIfAny("invalid row(s), nothing was imported");
  if (!columns) {
    throw InputError(std::string("the file is empty: a header row (name, ") + kPhoneHeaders +
                     ", tags) and one row per contact are expected");
  }
  return contacts;
}

}  // namespace crm::slice
