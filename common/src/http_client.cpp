#include "crm/http_client.hpp"

#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "crm/error.hpp"

namespace crm {
namespace {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw RuntimeError("libcurl: global initialisation failed");
    }
  });
}

// One request in flight: what it sends and what has come back so far.
struct Transfer {
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::chrono::steady_clock::time_point started;
  char error[CURL_ERROR_SIZE] = {};
};

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  std::string& body = t->response->body;
  const std::size_t limit = t->request->response_limit;
  if (body.size() < limit) {
    body.append(data, std::min(n, limit - body.size()));
  }
  return n;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  std::string_view line(data, n);
  auto& headers = t->response->headers;
  if (line.starts_with("HTTP/")) {
    headers.clear();  // a new answer (after an interim 100 Continue) starts
    return n;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return n;
  }
  std::string name(line.substr(0, colon));
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  auto [it, inserted] = headers.try_emplace(name, value);
  if (!inserted) {
    it->second.append("\n").append(value);
  }
  return n;
}

}  // namespace

std::optional<std::string> HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(name);
  if (it == headers.end()) {
    return std::nullopt;
  }
  return it->second;
}

// The multi handle and the easy handles kept between calls (their connections stay open).
class HttpClient::Transfers {
 public:
  explicit Transfers(std::size_t max_connections) {
    InitCurlOnce();
    multi_ = curl_multi_init();
    if (multi_ == nullptr) {
      throw RuntimeError("libcurl: curl_multi_init failed");
    }
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS,
                      static_cast<long>(std::max<std::size_t>(max_connections, 1)));
  }
  ~Transfers() {
    for (CURL* easy : idle_) {
      curl_easy_cleanup(easy);
    }
    curl_multi_cleanup(multi_);
  }
  Transfers(const Transfers&) = delete;
  Transfers& operator=(const Transfers&) = delete;

  std::vector<HttpResponse> Run(const std::vector<HttpRequest>& requests, std::size_t concurrency) {
    std::lock_guard lock(mutex_);
    concurrency = std::max<std::size_t>(concurrency, 1);
    std::vector<HttpResponse> responses(requests.size());
    std::vector<Transfer> transfers(requests.size());
    std::size_t next = 0;
    std::size_t active = 0;
    while (next < requests.size() || active > 0) {
      while (active < concurrency && next < requests.size()) {
        Transfer& t = transfers[next];
        t.request = &requests[next];
        t.response = &responses[next];
        if (Start(t)) {
          ++active;
        }
        ++next;
      }
      if (active > 0) {
        active -= Progress(transfers);
      }
    }
    return responses;
  }

 private:
  // Adds `t` to the multi handle; false (with the response's error set) when it cannot start.
  bool Start(Transfer& t) {
    const HttpRequest& r = *t.request;
    t.started = std::chrono::steady_clock::now();
    CURL* easy = TakeHandle();
    if (easy == nullptr) {
      t.response->error = "libcurl: curl_easy_init failed";
      return false;
    }
    bool expect = false;
    for (const std::string& h : r.headers) {
      t.headers = curl_slist_append(t.headers, h.c_str());
      expect = expect || (h.size() >= 7 && strncasecmp(h.c_str(), "expect:", 7) == 0);
    }
    if (!expect) {
      // No "100 Continue" round trip before larger bodies, unless the caller asks for one.
      t.headers = curl_slist_append(t.headers, "Expect:");
    }
    curl_easy_setopt(easy, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, r.protocols.c_str());
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    if (r.method == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    }
    if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t.headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "crm");
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, r.path_as_is ? 1L : 0L);
    if (!r.ca_file.empty()) {
      curl_easy_setopt(easy, CURLOPT_CAINFO, r.ca_file.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t.error);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, static_cast<void*>(&t));
    if (CURLMcode mc = curl_multi_add_handle(multi_, easy); mc != CURLM_OK) {
      t.response->error = std::string("libcurl: ") + curl_multi_strerror(mc);
      ReturnHandle(t, easy);
      return false;
    }
    t.easy = easy;
    return true;
  }

  // Drives the transfers in flight a step; returns how many finished.
  std::size_t Progress(std::vector<Transfer>& transfers) {
    int running = 0;
    if (CURLMcode mc = curl_multi_perform(multi_, &running); mc != CURLM_OK) {
      // The multi handle itself broke: every transfer in flight is abandoned.
      std::size_t finished = 0;
      for (Transfer& t : transfers) {
        if (t.easy != nullptr) {
          t.response->error = std::string("libcurl: ") + curl_multi_strerror(mc);
          Finish(t);
          ++finished;
        }
      }
      return finished;
    }
    std::size_t finished = 0;
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg != CURLMSG_DONE) {
        continue;
      }
      void* priv = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
      auto* t = static_cast<Transfer*>(priv);
      Complete(*t, msg->data.result);  // `msg` is invalid once its handle leaves the multi
      Finish(*t);
      ++finished;
    }
    if (finished == 0) {
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    return finished;
  }

  static void Complete(Transfer& t, CURLcode result) {
    HttpResponse& r = *t.response;
    r.elapsed = std::chrono::steady_clock::now() - t.started;
    if (result != CURLE_OK) {
      r.error = curl_easy_strerror(result);
      if (t.error[0] != '\0') {
        r.error += ": ";
        r.error += t.error;
      }
      r.status = 0;
      return;
    }
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &r.status);
  }

  void Finish(Transfer& t) {
    curl_multi_remove_handle(multi_, t.easy);
    ReturnHandle(t, t.easy);
    t.easy = nullptr;
  }

  CURL* TakeHandle() {
    if (idle_.empty()) {
      return curl_easy_init();
    }
    CURL* easy = idle_.back();
    idle_.pop_back();
    curl_easy_reset(easy);  // keeps the connection cache, drops the last request's options
    return easy;
  }

  void ReturnHandle(Transfer& t, CURL* easy) {
    curl_slist_free_all(t.headers);
    t.headers = nullptr;
    idle_.push_back(easy);
  }

  std::mutex mutex_;
  CURLM* multi_ = nullptr;
  std::vector<CURL*> idle_;
};

HttpClient::HttpClient(std::size_t max_connections)
    : transfers_(std::make_unique<Transfers>(max_connections)) {}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::Fetch(const HttpRequest& request) {
  return std::move(transfers_->Run({request}, 1).front());
}

std::vector<HttpResponse> HttpClient::FetchAll(const std::vector<HttpRequest>& requests,
                                               std::size_t concurrency) {
  return transfers_->Run(requests, concurrency);
}

HttpResponse HttpFetch(const HttpRequest& request) {
  HttpClient client(1);
  return client.Fetch(request);
}

HttpResponse HttpGet(const std::string& url, std::chrono::milliseconds timeout) {
  HttpRequest request;
  request.url = url;
  request.timeout = timeout;
  return HttpFetch(request);
}

}  // namespace crm
