#include "admin_client.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/http_client.hpp"

namespace crm::cli {

std::string DefaultGatewayUrl() {
  const char* url = std::getenv("CRM_URL");
  return url != nullptr && *url != '\0' ? url : "http://127.0.0.1:8080";
}

CLI::App* AddAdminCommand(CLI::App& app, const std::string& name, const std::string& description,
                          std::string& url) {
  url = DefaultGatewayUrl();
  auto* cmd = app.add_subcommand(name, description)->require_subcommand(1);
  cmd->add_option("--url", url, "the gateway (default $CRM_URL or http://127.0.0.1:8080)");
  cmd->footer(
      "Credentials from the environment: CRM_ADMIN_TOKEN, or CRM_ADMIN_EMAIL with the password in "
      "CRM_ADMIN_PASSWORD_FILE or on stdin.");
  return cmd;
}

namespace {

struct Answer {
  long status = 0;
  std::string body;
  std::string set_cookie;
};

Answer Send(const std::string& url, const std::string& method, const std::string& body,
            const std::string& token) {
  HttpRequest request;
  request.method = method;
  request.url = url;
  request.body = body;
  request.headers = {"Content-Type: application/json"};
  if (!token.empty()) {
    request.headers.push_back("Authorization: Bearer " + token);
  }
  request.timeout = std::chrono::seconds(120);  // a rolling restart of many slices takes a while
  HttpResponse response = HttpFetch(request);
  if (response.status == 0) {
    throw RuntimeError("cannot reach the gateway at " + url + ": " + response.error);
  }
  return {response.status, std::move(response.body), response.Header("set-cookie").value_or("")};
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
