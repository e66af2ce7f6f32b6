// The web app's files as the gateway serves them (docs/architecture.md, "The web app"): loaded
// once from a build's web root, hashed assets cached for a year, pages revalidated, the
// precompressed .br/.gz sibling sent to a browser that accepts it, and a strict CSP on every
// response.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crm/http/message.hpp"

namespace crm::http {

/// The Content-Security-Policy every file is served with: scripts, styles, images and
/// connections from our own origin only; no inline script or style, no plugins, no framing.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'";

class StaticSite {
 public:
  /// Loads every file under `root` (a build of runtime/web: index.html, assets/…, and the .br/.gz
  /// siblings the build wrote). `api_prefixes` ("/api/", "/auth/" …) are never answered with the
  /// page: an unknown API path stays a JSON 404. A missing root gives a site that answers every
  /// page with a 404 saying where the files were expected. Throws RuntimeError when a file
  /// cannot be read.
  StaticSite(const std::filesystem::path& root, std::vector<std::string> api_prefixes);

  /// The answer to a GET or HEAD: the file at the path, index.html for a page route (a path
  /// whose last segment has no extension: the app routes it in the browser), or 404.
  /// nullopt for another method or an API path (the caller answers those).
  std::optional<Response> Serve(const Request& request) const;

  bool installed() const { return !files_.empty(); }
  const std::filesystem::path& root() const { return root_; }
  /// Files served (compressed siblings not counted).
  std::size_t file_count() const { return files_.size(); }

 private:
  struct File {
    std::string content_type;
    std::string etag;
    std::string raw;
    std::optional<std::string> br;
    std::optional<std::string> gzip;
  };
  Response Answer(const Request& request, const File& file, bool immutable) const;

  std::filesystem::path root_;
  std::vector<std::string> api_prefixes_;
  std::map<std::string, File, std::less<>> files_;  ///< by URL path ("/index.html")
};

/// The encodings a request's Accept-Encoding allows, as {br, gzip} (q=0 refuses one).
struct AcceptedEncodings {
  bool br = false;
  bool gzip = false;
};
AcceptedEncodings ParseAcceptEncoding(std::string_view header);

}  // namespace crm::http
