#include "crm/channel/webhook.hpp"

#include <openssl/crypto.h>

#include <charconv>
#include <map>

#include "crm/error.hpp"
#include "crm/hmac.hpp"

namespace crm::channel {
namespace {

using nlohmann::json;

[[noreturn]] void Bad(const std::string& path, const std::string& what) {
  throw InputError(path + ": " + what);
}

const json& Field(const json& object, const std::string& path, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) {
    Bad(path + "." + key, "missing");
  }
  return *it;
}

std::string String(const json& object, const std::string& path, const char* key) {
  const json& v = Field(object, path, key);
  if (!v.is_string()) {
    Bad(path + "." + key, std::string("expected a string, got ") + v.type_name());
  }
  return v.get<std::string>();
}

std::string OptionalString(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json& Array(const json& object, const std::string& path, const char* key) {
  static const json kEmpty = json::array();
  auto it = object.find(key);
  if (it == object.end()) {
    return kEmpty;
  }
  if (!it->is_array()) {
    Bad(path + "." + key, std::string("expected an array, got ") + it->type_name());
  }
  return *it;
}

// WhatsApp ids are digits without "+"; we keep E.164.
std::string E164(const std::string& wa_id, const std::string& path) {
  if (wa_id.empty() || wa_id.size() > 16 ||
      wa_id.find_first_not_of("0123456789", wa_id[0] == '+' ? 1 : 0) != std::string::npos) {
    Bad(path, "expected a phone number in international format, got \"" + wa_id + "\"");
  }
  return wa_id[0] == '+' ? wa_id : "+" + wa_id;
}

// Timestamps are Unix seconds, as a string ("1669233778") or a number.
std::int64_t Timestamp(const json& object, const std::string& path) {
  auto it = object.find("timestamp");
  if (it == object.end()) {
    return 0;
  }
  if (it->is_number_integer()) {
    return it->get<std::int64_t>();
  }
  std::int64_t value = 0;
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec == std::errc() && ptr == s.data() + s.size()) {
      return value;
    }
  }
  Bad(path + ".timestamp", "expected Unix seconds, got " + it->dump());
}

}  // namespace

std::string SignatureOf(std::string_view body, std::string_view secret) {
  return "sha256=" + HmacSha256Hex(secret, body);
}

bool VerifySignature(std::string_view body, std::string_view header, std::string_view secret) {
  if (secret.empty()) {
    return false;
  }
  std::string expected = SignatureOf(body, secret);
  // Lower-case the received hex so "sha256=ABC…" (never sent by Meta, harmless) still matches.
  std::string received(header);
  for (char& c : received) {
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  if (received.size() != expected.size()) {
    return false;
  }
  return CRYPTO_memcmp(received.data(), expected.data(), expected.size()) == 0;
}

std::vector<WebhookChange> SplitWebhook(const json& payload) {
  if (!payload.is_object()) {
    Bad("payload", std::string("expected an object, got ") + payload.type_name());
  }
  std::string object = OptionalString(payload, "object");
  if (object != "whatsapp_business_account") {
    Bad("object", "expected \"whatsapp_business_account\", got \"" + object + "\"");
  }
  std::vector<WebhookChange> out;
  const json& entries = Array(payload, "payload", "entry");
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::string entry_path = "entry[" + std::to_string(i) + "]";
    if (!entries[i].is_object()) {
      Bad(entry_path, "expected an object");
    }
    const json& changes = Array(entries[i], entry_path, "changes");
    for (std::size_t j = 0; j < changes.size(); ++j) {
      std::string path = entry_path + ".changes[" + std::to_string(j) + "]";
      if (!changes[j].is_object()) {
        Bad(path, "expected an object");
      }
      if (OptionalString(changes[j], "field") != "messages") {
        continue;  // account updates, template status… are not ours to route
      }
      const json& value = Field(changes[j], path, "value");
      if (!value.is_object()) {
        Bad(path + ".value", "expected an object");
      }
      const json& metadata = Field(value, path + ".value", "metadata");
      if (!metadata.is_object()) {
        Bad(path + ".value.metadata", "expected an object");
      }
      out.push_back({String(metadata, path + ".value.metadata", "phone_number_id"), value});
    }
  }
  return out;
}

ChannelEvents ParseWebhookValue(const json& value) {
  ChannelEvents events;
  if (!value.is_object()) {
    Bad("value", std::string("expected an object, got ") + value.type_name());
  }
  // Profile names come in contacts[], keyed by wa_id.
  std::map<std::string, std::string> names;
  for (const auto& c : Array(value, "value", "contacts")) {
    if (c.is_object() && c.contains("profile") && c["profile"].is_object()) {
      names[OptionalString(c, "wa_id")] = OptionalString(c["profile"], "name");
    }
  }
  const json& messages = Array(value, "value", "messages");
  for (std::size_t i = 0; i < messages.size(); ++i) {
    std::string path = "value.messages[" + std::to_string(i) + "]";
    const json& m = messages[i];
    if (!m.is_object()) {
      Bad(path, "expected an object");
    }
    InboundMessage in;
    in.provider_id = String(m, path, "id");
    std::string from = String(m, path, "from");
    in.from = E164(from, path + ".from");
    in.timestamp = Timestamp(m, path);
    auto name = names.find(from);
    in.profile_name = name != names.end() ? name->second : std::string();
    std::string type = OptionalString(m, "type");
    if (type == "text") {
      const json& text = Field(m, path, "text");
      if (!text.is_object()) {
        Bad(path + ".text", "expected an object");
      }
      in.text = String(text, path + ".text", "body");
    } else {
      in.text = "[" + (type.empty() ? std::string("message") : type) + "]";
    }
    if (in.text.empty()) {
      in.text = "[empty]";
    }
    events.messages.push_back(std::move(in));
  }
  const json& statuses = Array(value, "value", "statuses");
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    std::string path = "value.statuses[" + std::to_string(i) + "]";
    const json& s = statuses[i];
    if (!s.is_object()) {
      Bad(path, "expected an object");
    }
    StatusUpdate st;
    st.provider_id = String(s, path, "id");
    st.status = String(s, path, "status");
    if (st.status != "sent" && st.status != "delivered" && st.status != "read" &&
        st.status != "failed") {
      continue;  // "deleted", "warning"… change nothing we keep
    }
    st.recipient = E164(String(s, path, "recipient_id"), path + ".recipient_id");
    st.timestamp = Timestamp(s, path);
    const json& errors = Array(s, path, "errors");
    if (!errors.empty() && errors[0].is_object()) {
      std::string title = OptionalString(errors[0], "title");
      auto code = errors[0].find("code");
      st.error = (code != errors[0].end() ? code->dump() + ": " : std::string()) + title;
    }
    events.statuses.push_back(std::move(st));
  }
  return events;
}

json WebhookValueOf(const ChannelEvents& events, const std::string& phone_number_id,
                    const std::string& display_phone) {
  auto digits = [](const std::string& e164) { return e164.empty() ? e164 : e164.substr(1); };
  json value = {
      {"messaging_product", "whatsapp"},
      {"metadata",
       {{"display_phone_number", digits(display_phone)}, {"phone_number_id", phone_number_id}}}};
  if (!events.messages.empty()) {
    json contacts = json::array();
    json messages = json::array();
    for (const auto& m : events.messages) {
      contacts.push_back({{"profile", {{"name", m.profile_name}}}, {"wa_id", digits(m.from)}});
      messages.push_back({{"from", digits(m.from)},
                          {"id", m.provider_id},
                          {"timestamp", std::to_string(m.timestamp)},
                          {"type", "text"},
                          {"text", {{"body", m.text}}}});
    }
    value["contacts"] = std::move(contacts);
    value["messages"] = std::move(messages);
  }
  if (!events.statuses.empty()) {
    json statuses = json::array();
    for (const auto& s : events.statuses) {
      json st = {{"id", s.provider_id},
                 {"status", s.status},
                 {"timestamp", std::to_string(s.timestamp)},
                 {"recipient_id", digits(s.recipient)}};
      if (!s.error.empty()) {
        st["errors"] = json::array({{{"code", 131000}, {"title", s.error}}});
      }
      statuses.push_back(std::move(st));
    }
    value["statuses"] = std::move(statuses);
  }
  return value;
}

}  // namespace crm::channel
