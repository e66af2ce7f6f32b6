#include "crm/mail/transport.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>

#include "crm/error.hpp"
#include "crm/files.hpp"

namespace crm::mail {
namespace {

// The message handed to libcurl piece by piece (CURLOPT_READFUNCTION).
struct Upload {
  const std::string& data;
  std::size_t offset = 0;
};

std::size_t ReadUpload(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  std::size_t n = std::min(size * count, upload->data.size() - upload->offset);
  std::memcpy(buffer, upload->data.data() + upload->offset, n);
  upload->offset += n;
  return n;
}

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load() ? 1 : 0;  // non-zero aborts
}

class SmtpTransport : public MailTransport {
 public:
  explicit SmtpTransport(SmtpOptions options) : options_(std::move(options)) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
  }

  void Send(const Mail& mail, const std::string& message) override {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
    if (!curl) {
      throw RuntimeError("smtp: cannot create a libcurl handle");
    }
    std::string from = "<" + AddressOf(mail.from) + ">";
    std::string to = "<" + AddressOf(mail.to, "to") + ">";
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> recipients(
        curl_slist_append(nullptr, to.c_str()), &curl_slist_free_all);
    Upload upload{message};
    char error[CURL_ERROR_SIZE] = {0};
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, options_.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, recipients.get());
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &ReadUpload);
    curl_easy_setopt(h, CURLOPT_READDATA, &upload);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
    if (options_.url.rfind("smtp://", 0) == 0) {
      // STARTTLS when the server offers it; a server that does not still gets the mail.
      curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
    }
    if (!options_.user.empty()) {
      curl_easy_setopt(h, CURLOPT_USERNAME, options_.user.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, options_.password.c_str());
    }
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &Progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &cancelled_);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      long code = 0;
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
      std::string reason = error[0] != '\0' ? error : curl_easy_strerror(rc);
      throw RuntimeError("smtp: " + reason +
                         (code > 0 ? " (last reply " + std::to_string(code) + ")" : ""));
    }
  }

  void Cancel() override { cancelled_ = true; }

 private:
  SmtpOptions options_;
  std::atomic<bool> cancelled_{false};
};

class FileTransport : public MailTransport {
 public:
  explicit FileTransport(std::filesystem::path directory) : directory_(std::move(directory)) {}

  void Send(const Mail& mail, const std::string& message) override {
    auto path = directory_ / (std::to_string(mail.id) + ".eml");
    WriteFileAtomic(path, message, 0600);
    spdlog::info(
        "mail {}: no SMTP server configured (CRM_SMTP_URL); written to {} (to {}, "
        "subject \"{}\")",
        mail.id, path.string(), mail.to, mail.subject);
  }

 private:
  std::filesystem::path directory_;
};

}  // namespace

std::unique_ptr<MailTransport> MakeSmtpTransport(SmtpOptions options) {
  const std::string& url = options.url;
  std::size_t scheme = url.rfind("smtp://", 0) == 0 ? 7 : url.rfind("smtps://", 0) == 0 ? 8 : 0;
  if (scheme == 0 || url.size() == scheme || url[scheme] == ':' || url[scheme] == '/') {
    throw InputError(
        "smtp_url: expected smtp://host:port or smtps://host:port, got \"" + url + "\"",
        "smtp_url");
  }
  return std::make_unique<SmtpTransport>(std::move(options));
}

std::unique_ptr<MailTransport> MakeFileTransport(std::filesystem::path directory) {
  return std::make_unique<FileTransport>(std::move(directory));
}

}  // namespace crm::mail
