#include "apply_engine.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <iostream>

#include "crm/apply/approval.hpp"
#include "crm/error.hpp"

namespace crm::cli {

bool ConfirmPlan(bool has_changes, const ApplyFlags& flags, const std::string& verb) {
  const bool interactive = ::isatty(STDIN_FILENO) == 1;
  switch (apply::DecideApproval(has_changes, flags.dry_run, flags.auto_approve, interactive)) {
    case apply::Approval::kNothingToDo:
      return false;
    case apply::Approval::kDryRun:
      std::cout << "Dry run: nothing was changed.\n";
      return false;
    case apply::Approval::kApproved:
      return true;
    case apply::Approval::kRefuse:
      throw InputError(fmt::format(
          "refusing to {} without approval: stdin is not a terminal; review the plan above and "
          "pass --auto-approve",
          verb));
    case apply::Approval::kAsk:
      break;
  }
  std::cout << fmt::format("\nDo you want to {}? Only 'yes' is accepted: ", verb) << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  if (!apply::IsApproval(answer.c_str())) {
    throw InputError("not approved (the answer was not 'yes'); nothing was changed");
  }
  return true;
}

Step::Step(const GlobalOptions& global, const std::string& what)
    : quiet_(global.quiet), start_(std::chrono::steady_clock::now()) {
  if (!quiet_) {
    std::cout << "  " << what << " ... " << std::flush;
  }
}

Step::~Step() {
  if (!done_ && !quiet_) {
    std::cout << "failed (" << FormatSeconds(std::chrono::steady_clock::now() - start_) << ")\n"
              << std::flush;
  }
}

void Step::Done(const std::string& note) {
  done_ = true;
  if (!quiet_) {
    std::cout << "ok (" << FormatSeconds(std::chrono::steady_clock::now() - start_) << ")"
              << (note.empty() ? "" : " " + note) << "\n"
              << std::flush;
  }
}

std::string FormatSeconds(std::chrono::steady_clock::duration d) {
  const double s = std::chrono::duration<double>(d).count();
  return s < 1.0 ? fmt::format("{:.0f} ms", s * 1000) : fmt::format("{:.2f} s", s);
}

namespace {

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

}  // namespace

HttpAnswer HttpGet(const std::string& url, long timeout_ms) {
  HttpAnswer answer;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    answer.error = "libcurl failed to initialise";
    return answer;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  } else {
    answer.error = curl_easy_strerror(code);
  }
  curl_easy_cleanup(curl);
  return answer;
}

std::string LogTail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) {
      tail.pop_front();
    }
  }
  std::string out;
  for (const std::string& l : tail) {
    out += "    " + l + "\n";
  }
  return out;
}

}  // namespace crm::cli
