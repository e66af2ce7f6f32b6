#include "crm/slice/recipients.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <unordered_set>

#include "crm/channel/channel.hpp"
#include "crm/csv.hpp"
#include "crm/error.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/protocol_error.hpp"
#include "crm/json.hpp"
#include "crm/slice/validation.hpp"
#include "csv_upload.hpp"

namespace crm::slice {
namespace {

// Collects recipients in order without duplicates, and the errors. A broadcast's list is up to
// upload_max_rows long: room for `expected` is made once, and numbers are told apart by their
// digits as one integer (no number has a leading 0), not by hashing strings.
class Collector {
 public:
  explicit Collector(std::size_t expected) {
    seen_.reserve(expected);
    phones_.reserve(expected);
  }
  // `where` names the value for an error message ("recipients[3]"): made only for one.
  template <typename Where>
  void Add(std::string_view text, const Where& where) {
    auto phone = TryNormalizePhone(text);
    if (!phone) {
      AddError(PhoneError(where(), text));
      return;
    }
    std::uint64_t digits = 0;
    for (std::size_t i = 1; i < phone->size(); ++i) {
      digits = digits * 10 + static_cast<std::uint64_t>((*phone)[i] - '0');
    }
    if (seen_.insert(digits).second) {
      phones_.push_back(std::move(*phone));
    }
  }
  void AddError(const std::string& message) { errors_.Add(message); }
  std::vector<std::string> Finish(const std::string& field) {
    errors_.ThrowIfAny("invalid recipient(s), nothing was queued", field);
    return std::move(phones_);
  }

 private:
  std::unordered_set<std::uint64_t> seen_;
  std::vector<std::string> phones_;
  UploadErrors errors_;
};

// An entry's place in a JSON list ("recipients[41]"), for an error message: made only for one.
std::string ListEntry(std::size_t i) {
  return "recipients[" + std::to_string(i) + "]";
}

std::string TooMany(std::size_t max_rows) {
  return "recipients: more than " + std::to_string(max_rows) +
         " in one broadcast (the limit, upload_max_rows); split the list";
}

// Besides the recipients, a broadcast body holds a name, a text, a tag and a template of at most
// 10 parameters: any more values are a list hidden under another key, which would be built in
// memory (16 bytes a value and more) before the unknown key is refused.
constexpr std::size_t kOtherValues = 100;

// A broadcast's JSON body in one pass (a SAX handler): the entries of its top-level "recipients"
// array go straight to the collector as they are read, never built as JSON values; every other
// value is built into `fields` as nlohmann's parser would build it. The list is read once, not
// counted in one parse, built as JSON strings in a second and read back from them. Past `max_rows`
// entries, or `max_rows` + kOtherValues values in all, the read stops with http::TooLarge, so no
// list of any length is held. A repeated key keeps its last value, as nlohmann's parser does.
class BroadcastBodyReader : public JsonSaxErrors {
 public:
  using json = nlohmann::json;
  // `expected`: room made once for the list's numbers (an estimate; the set grows past it).
  BroadcastBodyReader(std::size_t max_rows, std::size_t expected, BroadcastJson& out)
      : max_rows_(max_rows), expected_(expected), out_(out) {}

  bool null() { return Value(json(nullptr)); }
  bool boolean(bool value) { return Value(json(value)); }
  bool number_integer(json::number_integer_t value) { return Value(json(value)); }
  bool number_unsigned(json::number_unsigned_t value) { return Value(json(value)); }
  bool number_float(json::number_float_t value, const json::string_t& /*text*/) {
    return Value(json(value));
  }
  bool string(json::string_t& value) {
    if (!in_list_) {
      return Value(json(std::move(value)));
    }
    Count();
    if (depth_ == 2) {
      if (value.find('\0') != std::string::npos) {
        http::RefuseNulAt(ListEntry(entries_ - 1));
      }
      AddEntry(value);
    }
    return true;
  }
  bool binary(json::binary_t& value) { return Value(json(std::move(value))); }
  bool start_object(std::size_t /*size*/) { return Open(json::object()); }
  bool start_array(std::size_t /*size*/) {
    if (depth_ == 1 && !in_list_ && member_ == "recipients") {
      Count();
      in_list_ = true;
      out_.has_recipient_list = true;
      collector_ = std::make_unique<Collector>(expected_);
      entries_ = 0;
      ++depth_;
      return true;
    }
    return Open(json::array());
  }
  bool key(json::string_t& key) {
    key_ = std::move(key);
    if (depth_ == 1) {  // a member of the top-level object
      member_ = key_;
      if (member_ == "recipients") {
        // A repeated key: only its last value counts, as in the document nlohmann would build.
        out_.fields.erase("recipients");
        out_.has_recipient_list = false;
      }
    }
    return true;
  }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  // The list's numbers, or what was wrong with some (thrown by BroadcastJson::TakeRecipients,
  // after the other fields are checked, as when the list was read from a document).
  void Finish() {
    if (!out_.has_recipient_list) {
      return;
    }
    try {
      out_.recipients = collector_->Finish("recipients");
    } catch (const InputError&) {
      out_.recipients_error = std::current_exception();
    }
  }

 private:
  // Every value and container counts towards the body's bound, and an entry of the list (a value
  // or a container directly in it) towards the list's.
  void Count() {
    if (in_list_ && depth_ == 2 && ++entries_ > max_rows_) {
      throw http::TooLarge(TooMany(max_rows_), "recipients");
    }
    if (++values_ > max_rows_ + kOtherValues) {
      throw http::TooLarge("body: more than " + std::to_string(max_rows_ + kOtherValues) +
                           " JSON values, more than a broadcast of " + std::to_string(max_rows_) +
                           " recipients (the limit, upload_max_rows) can hold");
    }
  }
  // The entry just counted, to the collector. One that is not a string is reported as not a
  // number, like an empty one.
  void AddEntry(std::string_view text) {
    const std::size_t i = entries_ - 1;
    collector_->Add(text, [i] { return ListEntry(i); });
  }
  void NotANumber() { AddEntry(std::string_view()); }
  bool Value(json&& value) {
    Count();
    if (!in_list_) {
      Place(std::move(value));
    } else if (depth_ == 2) {
      NotANumber();
    }
    return true;
  }
  bool Open(json&& container) {
    Count();
    if (!in_list_) {
      open_.push_back(Place(std::move(container)));
    } else if (depth_ == 2) {
      NotANumber();  // what it holds is counted and dropped
    }
    ++depth_;
    return true;
  }
  bool Close() {
    --depth_;
    if (!in_list_) {
      open_.pop_back();
    } else if (depth_ == 1) {
      in_list_ = false;
    }
    return true;
  }
  // Where nlohmann's parser puts a value: the root, the end of the open array, or the open
  // object's last key.
  json* Place(json&& value) {
    if (open_.empty()) {
      out_.fields = std::move(value);
      return &out_.fields;
    }
    json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    json& slot = parent[key_];
    slot = std::move(value);
    return &slot;
  }

  std::size_t max_rows_;
  std::size_t expected_;
  BroadcastJson& out_;
  std::unique_ptr<Collector> collector_;
  std::vector<json*> open_;  // the containers being built, innermost last
  std::string key_;          // the last key read, at any depth
  std::string member_;       // the last key read in the top-level object
  std::size_t depth_ = 0;    // containers open, the list's included
  std::size_t entries_ = 0;  // entries of the list read so far
  std::size_t values_ = 0;   // values and containers read so far
  bool in_list_ = false;     // inside the top-level "recipients" array
};

}  // namespace

std::vector<std::string> BroadcastJson::TakeRecipients() {
  if (recipients_error) {
    std::rethrow_exception(recipients_error);
  }
  return std::move(recipients);
}

BroadcastJson ReadBroadcastJson(const http::Request& request, std::size_t max_rows) {
  http::RequireJsonContentType(request);
  BroadcastJson out;
  // A number in the list takes at least 4 bytes ("+1", a comma), most about 16.
  BroadcastBodyReader reader(max_rows, std::min(max_rows, request.body().size() / 16 + 1), out);
  SaxParseJson(request.body(), "", reader);
  reader.Finish();
  http::CheckJsonBody(out.fields, request.body());
  return out;
}

std::vector<std::string> ParseRecipients(const nlohmann::json& list, std::size_t max_rows) {
  if (!list.is_array()) {
    throw InputError(
        std::string("recipients: expected an array of phone numbers, got ") + list.type_name(),
        "recipients");
  }
  if (list.size() > max_rows) {
    throw http::TooLarge(TooMany(max_rows), "recipients");
  }
  Collector collector(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto where = [i] { return ListEntry(i); };
    // A value that is not a string is reported as not a number.
    collector.Add(list[i].is_string() ? std::string_view(list[i].get_ref<const std::string&>())
                                      : std::string_view(),
                  where);
  }
  return collector.Finish("recipients");
}

std::vector<std::string> ParseRecipientsCsv(std::string_view csv, std::size_t max_rows) {
  CsvUpload upload(csv, "recipients");
  Collector collector(std::min<std::size_t>(
      static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')) + 1, max_rows));
  std::optional<std::size_t> column;
  std::vector<std::string_view> fields;
  std::size_t rows = 0;
  for (;;) {
    try {
      if (!upload.Next(fields)) {
        break;
      }
    } catch (const InputError& e) {
      collector.AddError(e.what());  // bad quoting: reported with the numbers, the rest goes on
      continue;
    }
    if (!column) {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (IsPhoneHeader(fields[i])) {
          column = i;
          break;
        }
      }
      if (column) {
        continue;  // a header row
      }
      if (fields.size() > 1) {
        throw InputError(std::string("line 1: several columns but none named ") + kPhoneHeaders +
                             ": name the column holding the numbers",
                         "recipients");
      }
      column = 0;
    }
    RefuseRowsBeyond(++rows, max_rows, upload.line(), "recipients", "recipients");
    const std::size_t line = upload.line();
    collector.Add(*column < fields.size() ? TrimBlanks(fields[*column]) : std::string_view(),
                  [line] { return "line " + std::to_string(line) + ": phone"; });
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
