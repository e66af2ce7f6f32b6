#include "crm/channel/cloud_api.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "crm/error.hpp"
#include "crm/http_client.hpp"
#include "crm/json.hpp"

namespace crm::channel {
namespace {

using nlohmann::json;

constexpr std::size_t kQuoteLimit = 200;
// A Graph answer is a few hundred bytes; more than this is not one, and is not kept.
constexpr std::size_t kResponseLimit = 64 * 1024;
constexpr const char* kTokenVariable = "CRM_WHATSAPP_TOKEN";
constexpr const char* kPhoneNumberIdVariable = "CRM_WHATSAPP_PHONE_NUMBER_ID";

/// At most kQuoteLimit bytes of a raw answer, safe to store and to put in JSON: anything but
/// printable ASCII becomes '?'.
std::string Quote(std::string_view body) {
  std::string out;
  std::size_t n = std::min(body.size(), kQuoteLimit);
  out.reserve(n + 5);
  out += '"';
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(body[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  out += '"';
  if (body.size() > n) {
    out += "...";
  }
  return out;
}

/// Which throughput limit a Graph error code reports, if it is one.
std::optional<Throttle> ThrottleFor(long long code) {
  switch (code) {
    case 131056:  // pair rate limit: too many messages to this recipient
      return Throttle::kPair;
    case 130429:  // Cloud API throughput
    case 131048:  // spam rate limit
    case 4:       // application request limit
    case 17:      // user request limit
    case 32:      // page request limit
    case 613:     // calls within one hour exceeded
      return Throttle::kPhone;
    default:
      break;
  }
  // 80000-80014: business use case rate limits (80007 is WhatsApp Business Management, 80004
  // the "too many calls" of ads management).
  if (code >= 80000 && code <= 80014) {
    return Throttle::kPhone;
  }
  return std::nullopt;
}

/// Graph errors Meta documents as temporary ("try again later").
bool IsTemporary(long long code) {
  return code == 1 || code == 2 || code == 131000 || code == 131016 || code == 133004;
}

SendResult Retry(Throttle throttle, int code, std::string error,
                 std::optional<std::chrono::milliseconds> retry_after) {
  SendResult r;
  r.outcome = Outcome::kRetry;
  r.throttle = throttle;
  r.code = code;
  r.error = std::move(error);
  r.retry_after = retry_after;
  return r;
}

SendResult Failed(int code, std::string error) {
  SendResult r;
  r.outcome = Outcome::kFailed;
  r.code = code;
  r.error = std::move(error);
  return r;
}

std::string StringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// Graph codes fit an int; one that does not is reported as the HTTP status.
int NarrowCode(long long code, int fallback) {
  if (code < std::numeric_limits<int>::min() || code > std::numeric_limits<int>::max()) {
    return fallback;
  }
  return static_cast<int>(code);
}

/// The number of seconds in a Retry-After header's value ("7"), if it holds one; the HTTP-date
/// form is ignored.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value) {
  long long seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || seconds < 0 ||
      seconds > 24 * 3600) {
    return std::nullopt;
  }
  return std::chrono::seconds(seconds);
}

std::string Digits(std::string_view phone) {
  std::string out;
  for (char c : phone) {
    if (c >= '0' && c <= '9') {
      out += c;
    }
  }
  return out;
}

/// Replaces every occurrence of `secret` in `text`.
void Redact(std::string& text, const std::string& secret) {
  if (secret.empty()) {
    return;
  }
  for (std::size_t at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + 1)) {
    text.replace(at, secret.size(), "[redacted]");
  }
}

}  // namespace

std::string GraphMessageBody(const OutboundMessage& message) {
  json body = {{"messaging_product", "whatsapp"}};
  if (message.tmpl) {
    body["to"] = Digits(message.to);
    body["type"] = "template";
    json tmpl = {{"name", message.tmpl->name}, {"language", {{"code", message.tmpl->language}}}};
    if (!message.tmpl->body_parameters.empty()) {
      json parameters = json::array();
      for (const auto& p : message.tmpl->body_parameters) {
        parameters.push_back({{"type", "text"}, {"text", p}});
      }
      tmpl["components"] = json::array({{{"type", "body"}, {"parameters", parameters}}});
    }
    body["template"] = std::move(tmpl);
  } else {
    body["recipient_type"] = "individual";
    body["to"] = Digits(message.to);
    body["type"] = "text";
    body["text"] = {{"preview_url", false}, {"body", message.text}};
  }
  // Text that is not valid UTF-8 is sent with U+FFFD rather than failing the whole batch.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

SendResult MapGraphResponse(long http_status, std::string_view body,
                            std::optional<std::chrono::milliseconds> retry_after) {
  const int status = static_cast<int>(http_status);
  const std::string http = "HTTP " + std::to_string(status);
  json doc = ParseJsonOrDiscarded(body);
  const bool is_object = !doc.is_discarded() && doc.is_object();

  if (status >= 200 && status < 300) {
    if (is_object) {
      auto messages = doc.find("messages");
      if (messages != doc.end() && messages->is_array() && !messages->empty() &&
          messages->front().is_object()) {
        std::string id = StringAt(messages->front(), "id");
        if (!id.empty()) {
          SendResult r;
          r.outcome = Outcome::kSent;
          r.provider_id = std::move(id);
          return r;
        }
      }
    }
    // Accepted or not, we cannot tell: failing is safer than sending it again.
    return Failed(status, http + ": answer without messages[0].id: " + Quote(body));
  }

  auto error_it = is_object ? doc.find("error") : doc.end();
  if (!is_object || error_it == doc.end() || !error_it->is_object()) {
    if (status == 429) {
      return Retry(Throttle::kPhone, status, http + ": too many requests", retry_after);
    }
    if (status >= 500 && status < 600) {
      return Retry(Throttle::kNone, status, http + ": unexpected answer: " + Quote(body),
                   retry_after);
    }
    return Failed(status, http + ": unexpected answer: " + Quote(body));
  }

  const json& error = *error_it;
  long long graph_code = status;
  if (auto c = error.find("code"); c != error.end() && c->is_number_integer()) {
    graph_code = c->get<long long>();
  }
  const int code = NarrowCode(graph_code, status);
  std::string message = StringAt(error, "message");
  std::string text = std::to_string(graph_code) + ": " + (message.empty() ? http : message);
  if (auto data = error.find("error_data"); data != error.end() && data->is_object()) {
    std::string details = StringAt(*data, "details");
    if (!details.empty()) {
      text += " (" + details + ")";
    }
  }

  if (auto throttle = ThrottleFor(graph_code)) {
    return Retry(*throttle, code, std::move(text), retry_after);
  }
  if (status == 429) {
    return Retry(Throttle::kPhone, code, std::move(text), retry_after);
  }
  auto transient = error.find("is_transient");
  if ((status >= 500 && status < 600) || IsTemporary(graph_code) ||
      (transient != error.end() && transient->is_boolean() && transient->get<bool>())) {
    return Retry(Throttle::kNone, code, std::move(text), retry_after);
  }
  return Failed(code, std::move(text));
}

/// The HTTP side: one client whose connections to Graph stay open between batches, and the
/// headers every send carries.
class CloudApiChannel::Transport {
 public:
  explicit Transport(const CloudApiOptions& options)
      : url_(options.base_url + "/" + options.phone_number_id + "/messages"),
        token_(options.access_token),
        timeout_(options.timeout),
        concurrency_(static_cast<std::size_t>(options.concurrency)),
        client_(concurrency_),
        headers_{"Authorization: Bearer " + options.access_token,
                 "Content-Type: application/json", "Accept: application/json"} {}

  std::vector<SendResult> Send(const std::vector<OutboundMessage>& batch) {
    std::vector<HttpRequest> requests(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      HttpRequest& r = requests[i];
      r.method = "POST";
      r.url = url_;
      r.headers = headers_;
      r.body = GraphMessageBody(batch[i]);
      r.timeout = timeout_;
      r.response_limit = kResponseLimit;
    }
    std::vector<HttpResponse> responses = client_.FetchAll(requests, concurrency_);
    std::vector<SendResult> results;
    results.reserve(responses.size());
    for (const HttpResponse& response : responses) {
      SendResult r;
      if (response.status == 0) {
        r = Retry(Throttle::kNone, 0, "transport: " + response.error, std::nullopt);
      } else {
        std::optional<std::chrono::milliseconds> retry_after;
        if (auto value = response.Header("retry-after")) {
          retry_after = ParseRetryAfter(*value);
        }
        r = MapGraphResponse(response.status, response.body, retry_after);
      }
      // The answer is the provider's text: keep the token out of it even if it was echoed.
      Redact(r.error, token_);
      results.push_back(std::move(r));
    }
    return results;
  }

 private:
  std::string url_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  std::size_t concurrency_;
  HttpClient client_;
  std::vector<std::string> headers_;
};

CloudApiChannel::CloudApiChannel(CloudApiOptions options) : options_(std::move(options)) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') {
    options_.base_url.pop_back();
  }
  if (options_.base_url.empty()) {
    throw InputError("cloud-api: base_url (CRM_WHATSAPP_API_URL) must not be empty");
  }
  if (options_.concurrency < 1) {
    throw InputError("cloud-api: concurrency must be at least 1, got " +
                     std::to_string(options_.concurrency));
  }
  if (options_.timeout <= std::chrono::milliseconds::zero()) {
    throw InputError("cloud-api: timeout must be positive, got " +
                     std::to_string(options_.timeout.count()) + "ms");
  }
  transport_ = std::make_unique<Transport>(options_);
}

CloudApiChannel::~CloudApiChannel() = default;

std::vector<SendResult> CloudApiChannel::Send(const std::vector<OutboundMessage>& batch) {
  ChannelState state = State();
  if (state.state != "connected") {
    return std::vector<SendResult>(batch.size(), Failed(0, "cloud-api: " + state.detail));
  }
  return transport_->Send(batch);
}

std::optional<std::string> CloudApiChannel::Lookup(const std::string& /*idempotency_key*/) {
  return std::nullopt;
}

ChannelState CloudApiChannel::State() const {
  ChannelState s;
  s.kind = "cloud-api";
  s.phone = options_.display_phone;
  std::vector<std::string> missing;
  if (options_.phone_number_id.empty()) {
    missing.emplace_back(kPhoneNumberIdVariable);
  }
  if (options_.access_token.empty()) {
    missing.emplace_back(kTokenVariable);
  }
  if (missing.empty()) {
    s.state = "connected";
    return s;
  }
  s.state = "unconfigured";
  s.detail = missing[0];
  for (std::size_t i = 1; i < missing.size(); ++i) {
    s.detail += " and " + missing[i];
  }
  s.detail += missing.size() == 1 ? " is not set" : " are not set";
  return s;
}

}  // namespace crm::channel
