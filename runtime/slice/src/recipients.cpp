#include "crm/slice/recipients.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <unordered_set>

#include "crm/channel/channel.hpp"
#include "crm/csv.hpp"
#include "crm/error.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/protocol_error.hpp"
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

std::string TooMany(std::size_t max_rows) {
  return "recipients: more than " + std::to_string(max_rows) +
         " in one broadcast (the limit, upload_max_rows); split the list";
}

// Besides the recipients, a broadcast body holds a name, a text, a tag and a template of at most
// 10 parameters: any more values are a list hidden under another key, which would be built in
// memory (16 bytes a value and more) before the unknown key is refused.
constexpr std::size_t kOtherValues = 100;

// Counts the values directly inside the top-level "recipients" array, and all values, and stops
// the parse at one past either limit. Nothing is kept but counters.
class RecipientCounter {
 public:
  using json = nlohmann::json;
  explicit RecipientCounter(std::size_t max_rows) : max_rows_(max_rows) {}

  bool null() { return Value(); }
  bool boolean(bool /*value*/) { return Value(); }
  bool number_integer(json::number_integer_t /*value*/) { return Value(); }
  bool number_unsigned(json::number_unsigned_t /*value*/) { return Value(); }
  bool number_float(json::number_float_t /*value*/, const json::string_t& /*text*/) {
    return Value();
  }
  bool string(json::string_t& /*value*/) { return Value(); }
  bool binary(json::binary_t& /*value*/) { return Value(); }
  bool start_object(std::size_t /*size*/) { return Open(false); }
  bool start_array(std::size_t /*size*/) { return Open(true); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(json::string_t& key) {
    next_is_recipients_ = depth_ == 1 && key == "recipients";
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const json::exception& /*error*/) {
    return false;
  }

  bool too_many() const { return count_ > max_rows_; }
  bool too_many_values() const { return total_ > max_rows_ + kOtherValues; }

 private:
  bool Value() {
    if (in_list_ && depth_ == 2 && ++count_ > max_rows_) {
      return false;
    }
    if (++total_ > max_rows_ + kOtherValues) {
      return false;
    }
    next_is_recipients_ = false;
    return true;
  }
  bool Open(bool array) {
    bool starts_list = array && depth_ == 1 && next_is_recipients_;
    bool keep_going = Value();
    if (starts_list) {
      in_list_ = true;
    }
    ++depth_;
    return keep_going;
  }
  bool Close() {
    if (--depth_ == 1) {
      in_list_ = false;
    }
    return true;
  }

  std::size_t max_rows_;
  std::size_t depth_ = 0;
  std::size_t count_ = 0;
  std::size_t total_ = 0;
  bool next_is_recipients_ = false;
  bool in_list_ = false;
};

}  // namespace

void RefuseTooManyRecipients(std::string_view json_body, std::size_t max_rows) {
  RecipientCounter counter(max_rows);
  nlohmann::json::sax_parse(json_body.begin(), json_body.end(), &counter);
  if (counter.too_many()) {
    throw http::TooLarge(TooMany(max_rows), "recipients");
  }
  if (counter.too_many_values()) {
    throw http::TooLarge("body: more than " + std::to_string(max_rows + kOtherValues) +
                         " JSON values, more than a broadcast of " + std::to_string(max_rows) +
                         " recipients (the limit, upload_max_rows) can hold");
  }
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
    auto where = [i] { return "recipients[" + std::to_string(i) + "]"; };
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
