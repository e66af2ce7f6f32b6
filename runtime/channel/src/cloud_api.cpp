#include "crm/channel/cloud_api.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>

#include "crm/error.hpp"

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

/// The number of seconds in a Retry-After header line ("Retry-After: 7\r\n"), if it is one; the
/// HTTP-date form is ignored.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view line) {
  constexpr std::string_view kName = "retry-after:";
  if (line.size() < kName.size()) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < kName.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != kName[i]) {
      return std::nullopt;
    }
  }
  std::string_view value = line.substr(kName.size());
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())) != 0) {
    value.remove_suffix(1);
  }
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

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw RuntimeError("cloud-api: curl_global_init failed");
    }
  });
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
  json doc = json::parse(body, nullptr, false);
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

/// The curl side: one multi handle (its connection cache keeps Graph connections alive between
/// batches) and a pool of easy handles reused across calls.
class CloudApiChannel::Transport {
 public:
  explicit Transport(const CloudApiOptions& options)
      : url_(options.base_url + "/" + options.phone_number_id + "/messages"),
        token_(options.access_token),
        timeout_(options.timeout),
        concurrency_(static_cast<std::size_t>(options.concurrency)) {
    InitCurlOnce();
    multi_ = curl_multi_init();
    if (multi_ == nullptr) {
      throw RuntimeError("cloud-api: curl_multi_init failed");
    }
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(options.concurrency));
    const std::string auth = "Authorization: Bearer " + options.access_token;
    for (const char* h :
         {auth.c_str(), "Content-Type: application/json", "Accept: application/json",
          // no "100 Continue" round trip before larger bodies
          "Expect:"}) {
      curl_slist* next = curl_slist_append(headers_, h);
      if (next == nullptr) {
        Release();
        throw RuntimeError("cloud-api: out of memory building request headers");
      }
      headers_ = next;
    }
  }

  ~Transport() { Release(); }
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  std::vector<SendResult> Send(const std::vector<OutboundMessage>& batch) {
    std::lock_guard lock(mutex_);
    std::vector<Transfer> transfers(batch.size());
    std::vector<SendResult> results(batch.size());
    std::size_t next = 0;
    std::size_t active = 0;
    while (next < batch.size() || active > 0) {
      while (active < concurrency_ && next < batch.size()) {
        Transfer& t = transfers[next];
        t.body = GraphMessageBody(batch[next]);
        if (auto failure = Start(t)) {
          results[next] = std::move(*failure);
        } else {
          ++active;
        }
        ++next;
      }
      if (active == 0) {
        continue;
      }
      int running = 0;
      CURLMcode mc = curl_multi_perform(multi_, &running);
      if (mc != CURLM_OK) {
        // The multi handle itself broke: every transfer in flight is abandoned as retryable.
        std::string error = std::string("transport: ") + curl_multi_strerror(mc);
        for (std::size_t i = 0; i < next; ++i) {
          if (transfers[i].easy != nullptr) {
            Finish(transfers[i]);
            results[i] = Retry(Throttle::kNone, 0, error, std::nullopt);
            --active;
          }
        }
        continue;
      }
      int queued = 0;
      bool finished_any = false;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
        if (msg->msg != CURLMSG_DONE) {
          continue;
        }
        void* priv = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        auto* t = static_cast<Transfer*>(priv);
        const CURLcode result = msg->data.result;
        // `msg` is invalid once its handle leaves the multi handle.
        results[Index(transfers, *t)] = Complete(*t, result);
        Finish(*t);
        --active;
        finished_any = true;
      }
      if (active > 0 && !finished_any) {
        curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
      }
    }
    return results;
  }

 private:
  struct Transfer {
    CURL* easy = nullptr;
    std::string body;
    std::string response;
    std::optional<std::chrono::milliseconds> retry_after;
    char error[CURL_ERROR_SIZE] = {};
  };

  static std::size_t Index(const std::vector<Transfer>& transfers, const Transfer& t) {
    return static_cast<std::size_t>(&t - transfers.data());
  }

  static std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t n = size * count;
    if (t->response.size() < kResponseLimit) {
      t->response.append(data, std::min(n, kResponseLimit - t->response.size()));
    }
    return n;
  }

  static std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t n = size * count;
    std::string_view line(data, n);
    if (line.starts_with("HTTP/")) {
      t->retry_after.reset();  // a new response (after an interim one) starts
    } else if (auto v = ParseRetryAfter(line)) {
      t->retry_after = v;
    }
    return n;
  }

  /// Adds `t` to the multi handle; a result when it could not be started.
  std::optional<SendResult> Start(Transfer& t) {
    CURL* easy = nullptr;
    if (!idle_.empty()) {
      easy = idle_.back();
      idle_.pop_back();
      curl_easy_reset(easy);
    } else {
      easy = curl_easy_init();
      if (easy == nullptr) {
        return Retry(Throttle::kNone, 0, "transport: curl_easy_init failed", std::nullopt);
      }
    }
    curl_easy_setopt(easy, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.body.size()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "crmd");
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Transport::OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Transport::OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t.error);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, static_cast<void*>(&t));
    if (CURLMcode mc = curl_multi_add_handle(multi_, easy); mc != CURLM_OK) {
      idle_.push_back(easy);
      return Retry(Throttle::kNone, 0, std::string("transport: ") + curl_multi_strerror(mc),
                   std::nullopt);
    }
    t.easy = easy;
    return std::nullopt;
  }

  SendResult Complete(Transfer& t, CURLcode result) {
    SendResult r;
    if (result != CURLE_OK) {
      std::string error = std::string("transport: ") + curl_easy_strerror(result);
      if (t.error[0] != '\0') {
        error += ": ";
        error += t.error;
      }
      r = Retry(Throttle::kNone, 0, std::move(error), std::nullopt);
    } else {
      long status = 0;
      curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
      r = MapGraphResponse(status, t.response, t.retry_after);
    }
    // The answer is the provider's text: keep the token out of it even if it was echoed.
    Redact(r.error, token_);
    return r;
  }

  /// Takes `t`'s handle out of the multi handle and keeps it for the next transfer.
  void Finish(Transfer& t) {
    curl_multi_remove_handle(multi_, t.easy);
    idle_.push_back(t.easy);
    t.easy = nullptr;
    t.response.clear();
    t.response.shrink_to_fit();
  }

  void Release() {
    for (CURL* easy : idle_) {
      curl_easy_cleanup(easy);
    }
    idle_.clear();
    if (multi_ != nullptr) {
      curl_multi_cleanup(multi_);
      multi_ = nullptr;
    }
    curl_slist_free_all(headers_);
    headers_ = nullptr;
  }

  std::string url_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  std::size_t concurrency_;
  std::mutex mutex_;
  CURLM* multi_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::vector<CURL*> idle_;
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
