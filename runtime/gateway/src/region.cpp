// Region pinning's pure parts (tokens, signatures) and the client that asks the other regions.
#include "crm/gateway/region.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "crm/error.hpp"
#include "crm/gateway/auth.hpp"
#include "crm/hmac.hpp"
#include "crm/json.hpp"

namespace crm::gateway {
namespace {

constexpr std::string_view kLookupPath = "/region/lookup";

long long UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

void CheckRegionOptions(const RegionOptions& region) {
  if (region.pinned() && region.secret.size() < 32) {
    throw InputError(
        "CRM_REGION_SECRET: several regions need a shared secret of at least 32 characters "
        "(CRM_REGION_SECRET_FILE, mode 0600), the same in every region");
  }
}

std::string_view TokenRegion(std::string_view token) {
  // The random part is base64url, which has no '.': the first one ends the region.
  auto dot = token.find('.');
  return dot == std::string_view::npos ? std::string_view() : token.substr(0, dot);
}

std::string NewSessionToken(const RegionOptions& region) {
  return region.pinned() ? region.name + "." + NewToken() : NewToken();
}

std::string EmailSha256(std::string_view email) {
  return TokenHash(std::string(email));
}

std::string PeerSignature(std::string_view secret, long long unix_seconds, std::string_view region,
                          std::string_view email_sha256) {
  std::string data = std::to_string(unix_seconds);
  data += '\n';
  data += region;
  data += '\n';
  data += email_sha256;
  return HmacSha256Hex(secret, data);
}

bool PeerSignatureValid(std::string_view secret, std::string_view signature, long long unix_seconds,
                        std::string_view region, std::string_view email_sha256,
                        std::chrono::system_clock::time_point now) {
  if (secret.empty()) {
    return false;
  }
  long long skew = UnixSeconds(now) - unix_seconds;
  if (skew > kPeerSignatureTolerance.count() || skew < -kPeerSignatureTolerance.count()) {
    return false;
  }
  std::string expected = PeerSignature(secret, unix_seconds, region, email_sha256);
  return signature.size() == expected.size() &&
         CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) == 0;
}

RegionPeers::RegionPeers(RegionOptions options) : options_(std::move(options)) {}

std::vector<HttpResponse> RegionPeers::AskAll(const std::string& email_sha256,
                                              std::vector<std::string>& regions) const {
  long long now = UnixSeconds(std::chrono::system_clock::now());
  std::vector<HttpRequest> requests;
  for (const auto& [name, url] : options_.urls) {
    if (name == options_.name) {
      continue;
    }
    HttpRequest req;
    req.method = "POST";
    req.url = url + std::string(kLookupPath);
    req.timeout = options_.peer_timeout;
    req.response_limit = 4096;
    req.headers = {
        "Content-Type: application/json", "X-Crm-Region-From: " + options_.name,
        "X-Crm-Region-Signature: " + PeerSignature(options_.secret, now, name, email_sha256)};
    req.body = nlohmann::json{{"email_sha256", email_sha256}, {"ts", now}}.dump();
    requests.push_back(std::move(req));
    regions.push_back(name);
  }
  HttpClient client(requests.size() + 1);
  return client.FetchAll(requests, std::max<std::size_t>(requests.size(), 1));
}

std::optional<std::string> RegionPeers::HomeOf(const std::string& email) {
  if (!options_.pinned()) {
    return std::nullopt;
  }
  std::vector<std::string> regions;
  std::vector<HttpResponse> answers = AskAll(EmailSha256(email), regions);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const HttpResponse& answer = answers[i];
    if (answer.status != 200) {
      spdlog::warn("region {}: skipped in the account lookup: {}", regions[i],
                   answer.status == 0 ? answer.error : "HTTP " + std::to_string(answer.status));
      continue;
    }
    try {
      nlohmann::json body = ParseJson(answer.body, "the region's answer");
      // The answer must be about the region asked: a misrouted URL must not claim an account.
      if (body.value("region", "") == regions[i] && body.value("holds", false)) {
        return regions[i];
      }
    } catch (const std::exception& e) {
      spdlog::warn("region {}: skipped in the account lookup: unreadable answer: {}", regions[i],
                   e.what());
    }
  }
  return std::nullopt;
}

std::vector<PeerStatus> RegionPeers::Status() {
  std::vector<PeerStatus> out;
  if (!options_.pinned()) {
    return out;
  }
  std::vector<std::string> regions;
  // A lookup of an address nobody has: it proves the peer answers and shares our secret.
  std::vector<HttpResponse> answers = AskAll(EmailSha256("region-status-probe"), regions);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const HttpResponse& answer = answers[i];
    PeerStatus peer{regions[i], options_.urls.at(regions[i]), "ok", "",
                    std::chrono::duration_cast<std::chrono::milliseconds>(answer.elapsed).count()};
    if (answer.status == 0) {
      peer.status = "unreachable";
      peer.detail = answer.error;
    } else if (answer.status == 401) {
      peer.status = "refused";
      peer.detail = "it refused our signature: is region_secret the same in both regions?";
    } else if (answer.status != 200) {
      peer.status = "error";
      peer.detail = "HTTP " + std::to_string(answer.status);
    }
    out.push_back(std::move(peer));
  }
  return out;
}

}  // namespace crm::gateway
