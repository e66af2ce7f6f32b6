#include "crm/channel/wa_web_protocol.hpp"

#include "crm/json.hpp"

namespace crm::channel::wa_web {
namespace {

using nlohmann::json;

std::string StringField(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string RequireStringField(const json& object, const std::string& event, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    throw ProtocolError(event + " event: " + key + ": expected a non-empty string");
  }
  return it->get<std::string>();
}

// The sidecar speaks E.164; digits without "+" (WhatsApp's own ids) are taken too.
std::string RequirePhone(const json& object, const std::string& event, const char* key) {
  std::string phone = RequireStringField(object, event, key);
  std::size_t digits_from = phone[0] == '+' ? 1 : 0;
  std::size_t digits = phone.size() - digits_from;
  if (digits < 7 || digits > 15 || phone[digits_from] == '0' ||
      phone.find_first_not_of("0123456789", digits_from) != std::string::npos) {
    throw ProtocolError(event + " event: " + key +
                        ": expected a phone number in E.164 format, got \"" + phone.substr(0, 40) +
                        "\"");
  }
  return digits_from == 1 ? phone : "+" + phone;
}

std::int64_t Timestamp(const json& object) {
  auto it = object.find("timestamp");
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

}  // namespace

void LineBuffer::Append(std::string_view bytes) {
  if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(bytes);
  // Only the unfinished tail counts: complete lines are taken by Next() before the next read.
  std::size_t newline = buffer_.rfind('\n');
  std::size_t tail_start = newline == std::string::npos || newline < start_ ? start_ : newline + 1;
  if (buffer_.size() - tail_start > max_line_) {
    throw ProtocolError("a line longer than " + std::to_string(max_line_) + " bytes");
  }
}

std::optional<std::string> LineBuffer::Next() {
  std::size_t newline = buffer_.find('\n', start_);
  if (newline == std::string::npos) {
    return std::nullopt;
  }
  if (newline - start_ > max_line_) {
    throw ProtocolError("a line longer than " + std::to_string(max_line_) + " bytes");
  }
  std::string line = buffer_.substr(start_, newline - start_);
  start_ = newline + 1;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  return line;
}

Incoming ParseLine(std::string_view line) {
  json doc = ParseJsonOrDiscarded(line);
  if (doc.is_discarded() || !doc.is_object()) {
    throw ProtocolError("a line that is not a JSON object (" + std::to_string(line.size()) +
                        " bytes)");
  }
  Incoming in;
  if (auto id = doc.find("id"); id != doc.end()) {
    if (!id->is_number_integer()) {
      throw ProtocolError("id: expected an integer, got " + id->dump());
    }
    auto ok = doc.find("ok");
    if (ok == doc.end() || !ok->is_boolean()) {
      throw ProtocolError("response " + id->dump() + ": ok: expected true or false");
    }
    in.is_response = true;
    in.id = id->get<std::int64_t>();
    in.ok = ok->get<bool>();
  } else if (auto event = doc.find("event"); event != doc.end() && event->is_string()) {
    in.event = event->get<std::string>();
  } else {
    throw ProtocolError("a line with neither id nor event");
  }
  in.body = std::move(doc);
  return in;
}

std::string RequestLine(std::int64_t id, std::string_view op, const json& fields) {
  json request = fields.is_object() ? fields : json::object();
  request["id"] = id;
  request["op"] = op;
  // Text that is not valid UTF-8 goes with U+FFFD rather than failing the request.
  return request.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

SendResult MapSendResponse(const json& response) {
  SendResult r;
  if (response.value("ok", false)) {
    r.provider_id = StringField(response, "message_id");
    if (r.provider_id.empty()) {
      // Accepted or not, we cannot tell: failing is safer than sending it again.
      r.outcome = Outcome::kFailed;
      r.error = "wa-web: send answered ok without a message_id";
    }
    return r;
  }
  json error = response.contains("error") && response["error"].is_object() ? response["error"]
                                                                           : json::object();
  std::string code = StringField(error, "code");
  std::string message = StringField(error, "message");
  r.error = "wa-web: " + (code.empty() ? std::string("error") : code) +
            (message.empty() ? "" : ": " + message);
  auto retry = error.find("retry");
  if (retry != error.end() && retry->is_boolean() && retry->get<bool>()) {
    r.outcome = Outcome::kRetry;
    if (code == "not_connected" || code == "rate_limited") {
      r.throttle = Throttle::kPhone;
      r.retry_after = std::chrono::milliseconds(1'000);
    }
    // The session is down: the message waits for it without using up an attempt.
    r.held = code == "not_connected";
  } else {
    r.outcome = Outcome::kFailed;
  }
  return r;
}

std::optional<std::string> MapLookupResponse(const json& response) {
  if (!response.value("ok", false)) {
    return std::nullopt;
  }
  auto id = response.find("message_id");
  if (id == response.end() || !id->is_string()) {
    return std::nullopt;
  }
  return id->get<std::string>();
}

std::string ChannelStateOf(std::string_view sidecar_state) {
  if (sidecar_state == "connected" || sidecar_state == "failed" || sidecar_state == "banned") {
    return std::string(sidecar_state);
  }
  if (sidecar_state == "qr") {
    return "unpaired";
  }
  return "disconnected";
}

EventEffect MapEvent(const Incoming& event) {
  EventEffect effect;
  const json& e = event.body;
  if (event.event == "ack") {
    StatusUpdate s;
    s.provider_id = RequireStringField(e, "ack", "message_id");
    s.status = RequireStringField(e, "ack", "status");
    if (s.status != "sent" && s.status != "delivered" && s.status != "read" &&
        s.status != "failed") {
      throw ProtocolError("ack event: status: expected sent, delivered, read or failed, got \"" +
                          s.status.substr(0, 40) + "\"");
    }
    s.recipient = e.contains("recipient") ? RequirePhone(e, "ack", "recipient") : std::string();
    s.timestamp = Timestamp(e);
    s.error = StringField(e, "error");
    effect.events.statuses.push_back(std::move(s));
  } else if (event.event == "message") {
    InboundMessage m;
    m.provider_id = RequireStringField(e, "message", "message_id");
    m.from = RequirePhone(e, "message", "from");
    m.profile_name = StringField(e, "name");
    m.text = StringField(e, "text");
    m.timestamp = Timestamp(e);
    effect.events.messages.push_back(std::move(m));
  } else if (event.event == "contact") {
    std::string phone = RequirePhone(e, "contact", "phone");
    std::string name = StringField(e, "name");
    if (!name.empty()) {
      effect.contact.emplace(std::move(phone), std::move(name));
    }
  }
  return effect;
}

}  // namespace crm::channel::wa_web
