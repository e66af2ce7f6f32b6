// Tenant region pinning: each account lives in one region's database; session tokens name their
// region, and the gateways of several regions ask each other (signed, only an e-mail's SHA-256
// crosses) which one holds an address. docs/operations.md, "Regions".
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crm/http_client.hpp"

namespace crm::gateway {

struct RegionOptions {
  std::string name;                               ///< this deployment's region; empty: one region
  std::map<std::string, std::string> urls;        ///< region → public origin, this one included
  std::string secret;                             ///< shared by every region's gateways
  std::chrono::milliseconds peer_timeout{2'000};  ///< a slower peer is skipped

  /// Several regions are configured: tokens carry the region, peers are asked.
  bool pinned() const { return !name.empty() && urls.size() > 1; }
};

/// Throws InputError naming CRM_REGION_SECRET when regions are pinned without a secret of at
/// least 32 characters: the gateway refuses to start rather than answer lookups unsigned.
void CheckRegionOptions(const RegionOptions& region);

/// How long a signed call between regions stays valid either side of the receiver's clock.
inline constexpr std::chrono::seconds kPeerSignatureTolerance{60};

/// The region a session token names ("eu" for "eu.<random>"); empty for a token without one
/// (a single-region deployment's).
std::string_view TokenRegion(std::string_view token);
/// A new session token: 256 random bits, prefixed "<region>." when regions are pinned.
std::string NewSessionToken(const RegionOptions& region);

/// The lower-case hex SHA-256 of a (normalised) e-mail address: all that crosses to a peer.
std::string EmailSha256(std::string_view email);
/// What a peer lookup signs: HMAC-SHA256 (hex) with the shared secret of
/// "<unix seconds>\n<the asked region>\n<email sha256>"; naming the asked region means a request
/// to one region cannot be replayed at another.
std::string PeerSignature(std::string_view secret, long long unix_seconds, std::string_view region,
                          std::string_view email_sha256);
/// Whether `signature` signs the lookup for `region` at `unix_seconds`, within
/// kPeerSignatureTolerance of `now`. Compared in constant time; false for an empty secret.
bool PeerSignatureValid(std::string_view secret, std::string_view signature, long long unix_seconds,
                        std::string_view region, std::string_view email_sha256,
                        std::chrono::system_clock::time_point now);

/// One other region, as `GET /admin/regions` reports it.
struct PeerStatus {
  std::string region;
  std::string url;
  std::string status;  ///< "ok", "refused" (it answered but not to us: the secret differs),
                       ///< "unreachable" (no answer within the bound), "error"
  std::string detail;
  long long latency_ms = 0;
};

/// The other regions' gateways, asked over HTTP(S) with the shared secret. Thread-safe; blocking
/// (run it on the blocking pool). Each call has connections of its own, so one slow peer never
/// makes another sign-in wait behind it.
class RegionPeers {
 public:
  explicit RegionPeers(RegionOptions options);

  const RegionOptions& options() const { return options_; }

  /// The other region holding an account for `email` (normalised), asking every peer at once;
  /// a peer that does not answer within peer_timeout is skipped with a log line. nullopt when
  /// regions are not pinned or no peer holds it.
  std::optional<std::string> HomeOf(const std::string& email);
  /// Each other region and whether it answers a signed lookup.
  std::vector<PeerStatus> Status();

 private:
  // Every peer asked about `email_sha256` at once; `regions` receives their names, in order.
  std::vector<HttpResponse> AskAll(const std::string& email_sha256,
                                   std::vector<std::string>& regions) const;

  RegionOptions options_;
};

}  // namespace crm::gateway
