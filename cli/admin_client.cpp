#include "admin_client.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "crm/config/config.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"

namespace crm::cli {
namespace {

struct Answer {
  long status = 0;
  std::string body;
  std::string set_cookie;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  std::string line(data, size * count);
  if (line.size() > 11 &&
      (line.rfind("Set-Cookie:", 0) == 0 || line.rfind("set-cookie:", 0) == 0)) {
    *static_cast<std::string*>(user) = line.substr(11);
  }
  return size * count;
}

Answer Send(const std::string& url, const std::string& method, const std::string& body,
            const std::string& token) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    throw RuntimeError("libcurl failed to initialise");
  }
  Answer answer;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::string auth = "Authorization: Bearer " + token;
  if (!token.empty()) {
    headers = curl_slist_append(headers, auth.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer.set_cookie);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);  // a rolling restart of many slices takes a while
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) {
    throw RuntimeError("cannot reach the gateway at " + url + ": " + curl_easy_strerror(code));
  }
  return answer;
}

std::string ErrorOf(const Answer& a) {
  auto doc = nlohmann::json::parse(a.body, nullptr, false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) {
    return doc["error"].get<std::string>();
  }
  return a.body.substr(0, 200);
}

}  // namespace

AdminClient::AdminClient(std::string url) : url_(std::move(url)) {
  while (!url_.empty() && url_.back() == '/') {
    url_.pop_back();
  }
  if (const char* token = std::getenv("CRM_ADMIN_TOKEN"); token != nullptr && *token != '\0') {
    token_ = token;
    return;
  }
  const char* email = std::getenv("CRM_ADMIN_EMAIL");
  if (email == nullptr || *email == '\0') {
    throw InputError(
        "no admin credential: set CRM_ADMIN_TOKEN, or CRM_ADMIN_EMAIL with the password in "
        "CRM_ADMIN_PASSWORD_FILE "
        "or on stdin (create the account with `crmd admin create --email E`)");
  }
  std::string password;
  if (const char* file = std::getenv("CRM_ADMIN_PASSWORD_FILE"); file != nullptr && *file != '\0') {
    password = ReadSecretFile(file, "admin password");
  } else {
    if (::isatty(STDIN_FILENO) != 0) {
      std::cerr << "password for " << email << ": " << std::flush;
    }
    std::getline(std::cin, password);
  }
  nlohmann::json login = {{"email", email}, {"password", password}};
  Answer a = Send(url_ + "/auth/login", "POST", login.dump(), "");
  if (a.status != 200) {
    throw InputError("signing in as " + std::string(email) + " failed (HTTP " +
                     std::to_string(a.status) + "): " + ErrorOf(a));
  }
  auto start = a.set_cookie.find("crm_session=");
  if (start == std::string::npos) {
    throw RuntimeError("the gateway signed us in but sent no session cookie");
  }
  start += 12;
  token_ = a.set_cookie.substr(start, a.set_cookie.find(';', start) - start);
  signed_in_ = true;
}

AdminClient::~AdminClient() {
  if (signed_in_) {
    try {
      Send(url_ + "/auth/logout", "POST", "", token_);
    } catch (const std::exception&) {
      // The session expires on its own; nothing to report on the way out.
    }
  }
}

nlohmann::json AdminClient::Call(const std::string& method, const std::string& path,
                                 const nlohmann::json& body) {
  Answer a = Send(url_ + path, method, body.is_null() ? "" : body.dump(), token_);
  if (a.status >= 200 && a.status < 300) {
    auto doc = nlohmann::json::parse(a.body, nullptr, false);
    return doc.is_discarded() ? nlohmann::json(nullptr) : doc;
  }
  std::string message =
      method + " " + path + ": " + ErrorOf(a) + " (HTTP " + std::to_string(a.status) + ")";
  if (a.status >= 400 && a.status < 500) {
    throw InputError(message);
  }
  throw RuntimeError(message);
}

}  // namespace crm::cli
