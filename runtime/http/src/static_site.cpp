#include "crm/http/static_site.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>

#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"

namespace crm::http {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIndex = "/index.html";
constexpr std::string_view kAssets = "/assets/";

std::string ContentTypeOf(const fs::path& path) {
  static const std::map<std::string, std::string, std::less<>> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
      {".map", "application/json"},
  };
  auto it = kTypes.find(path.extension().string());
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

// The validator of a file: its length and 64-bit FNV-1a hash. Files change only with a deploy,
// and a collision would need two builds of one page with equal length and hash.
std::string ETagOf(const std::string& content) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : content) {
    hash = (hash ^ c) * 1099511628211ull;
  }
  char text[48];
  std::snprintf(text, sizeof text, "\"%zx-%016llx\"", content.size(),
                static_cast<unsigned long long>(hash));
  return text;
}

// Only the characters our build writes in file names reach the disk map; anything else
// (dot segments, encoded bytes, backslashes) is simply not a file we serve.
bool PlainPath(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.find("..") != std::string_view::npos ||
      path.find("//") != std::string_view::npos) {
    return false;
  }
  return std::all_of(path.begin(), path.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '-' ||
           c == '_';
  });
}

// A page route: the last segment has no extension ("/app/inbox/42"), so the app routes it.
bool PageRoute(std::string_view path) {
  std::string_view last = path.substr(path.rfind('/') + 1);
  return last.find('.') == std::string_view::npos;
}

}  // namespace

AcceptedEncodings ParseAcceptEncoding(std::string_view header) {
  AcceptedEncodings accepted;
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    std::size_t semi = item.find(';');
    std::string_view name = item.substr(0, semi);
    while (!name.empty() && name.front() == ' ') {
      name.remove_prefix(1);
    }
    while (!name.empty() && name.back() == ' ') {
      name.remove_suffix(1);
    }
    bool refused = false;
    if (semi != std::string_view::npos) {
      std::string params(item.substr(semi + 1));
      params.erase(std::remove(params.begin(), params.end(), ' '), params.end());
      // "q=0", "q=0.0", "q=0.000": refused; any other weight accepts.
      if (params.rfind("q=0", 0) == 0 && params.find_first_not_of("0.", 2) == std::string::npos) {
        refused = true;
      }
    }
    if (name == "br") {
      accepted.br = !refused;
    } else if (name == "gzip") {
      accepted.gzip = !refused;
    }
  }
  return accepted;
}

StaticSite::StaticSite(const fs::path& root, std::vector<std::string> api_prefixes)
    : root_(root), api_prefixes_(std::move(api_prefixes)) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return;
  }
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    std::string ext = path.extension().string();
    if (!it->is_regular_file() || ext == ".br" || ext == ".gz") {
      continue;
    }
    std::string url = "/" + fs::relative(path, root).generic_string();
    File file;
    file.content_type = ContentTypeOf(path);
    file.raw = ReadFile(path);
    file.etag = ETagOf(file.raw);
    file.br = ReadFileIfExists(path.string() + ".br");
    file.gzip = ReadFileIfExists(path.string() + ".gz");
    files_.emplace(std::move(url), std::move(file));
  }
  if (ec) {
    throw RuntimeError("cannot read the web root " + root.string() + ": " + ec.message());
  }
}

std::optional<Response> StaticSite::Serve(const Request& request) const {
  if (request.method() != bhttp::verb::get && request.method() != bhttp::verb::head) {
    return std::nullopt;
  }
  std::string_view path = TargetPath(request.target());
  for (const auto& prefix : api_prefixes_) {
    if (path.rfind(prefix, 0) == 0 ||
        path == std::string_view(prefix).substr(0, prefix.size() - 1)) {
      return std::nullopt;
    }
  }
  if (files_.empty()) {
    return ErrorResponse(Status::not_found, "the web app is not installed: no files in " +
                                                root_.string() +
                                                " (CRM_WEB_ROOT; see docs/operations.md)");
  }
  if (!PlainPath(path)) {
    return ErrorResponse(Status::not_found, "no such file");
  }
  if (auto it = files_.find(path == "/" ? kIndex : path); it != files_.end()) {
    return Answer(request, it->second, path.rfind(kAssets, 0) == 0);
  }
  if (path.rfind(kAssets, 0) != 0 && PageRoute(path)) {
    if (auto index = files_.find(kIndex); index != files_.end()) {
      return Answer(request, index->second, false);
    }
  }
  return ErrorResponse(Status::not_found, "no such file: " + std::string(path));
}

Response StaticSite::Answer(const Request& request, const File& file, bool immutable) const {
  Response res{Status::ok, request.version()};
  res.set(bhttp::field::content_type, file.content_type);
  // Hashed asset names change with their content, so a browser may keep them for a year; pages
  // are revalidated on every load (a 304 when nothing changed) so a deploy shows at once.
  res.set(bhttp::field::cache_control,
          immutable ? "public, max-age=31536000, immutable" : "no-cache");
  res.set(bhttp::field::etag, file.etag);
  res.set("Content-Security-Policy", std::string(kContentSecurityPolicy));
  res.set("X-Content-Type-Options", "nosniff");
  // Reset links carry their token in the URL: never pass it on to another site.
  res.set("Referrer-Policy", "no-referrer");
  res.set(bhttp::field::x_frame_options, "DENY");
  if (file.br || file.gzip) {
    res.set(bhttp::field::vary, "Accept-Encoding");
  }
  auto match = request[bhttp::field::if_none_match];
  if (!match.empty() && match.find(file.etag) != std::string_view::npos) {
    res.result(Status::not_modified);
    return res;
  }
  AcceptedEncodings accepted = ParseAcceptEncoding(request[bhttp::field::accept_encoding]);
  const std::string* body = &file.raw;
  if (accepted.br && file.br) {
    res.set(bhttp::field::content_encoding, "br");
    body = &*file.br;
  } else if (accepted.gzip && file.gzip) {
    res.set(bhttp::field::content_encoding, "gzip");
    body = &*file.gzip;
  }
  if (request.method() == bhttp::verb::head) {
    res.content_length(body->size());
  } else {
    res.body() = *body;
    res.prepare_payload();
  }
  return res;
}

}  // namespace crm::http
