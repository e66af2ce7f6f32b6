#include "crm/gateway/sessions.hpp"

#include <boost/beast/core/string.hpp>
#include <charconv>

#include "crm/gateway/auth.hpp"

namespace crm::gateway {
namespace {

namespace bhttp = boost::beast::http;

constexpr std::chrono::seconds kCacheTtl{5};
constexpr std::size_t kMaxCached = 100'000;

}  // namespace

std::string TokenFrom(const http::Request& req) {
  auto auth = req[bhttp::field::authorization];
  if (auth.size() > 7 && boost::beast::iequals(auth.substr(0, 7), "Bearer ")) {
    return std::string(auth.substr(7));
  }
  std::string_view cookies = req[bhttp::field::cookie];
  while (!cookies.empty()) {
    auto semi = cookies.find(';');
    std::string_view part = cookies.substr(0, semi);
    while (!part.empty() && part.front() == ' ') {
      part.remove_prefix(1);
    }
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == kSessionCookie) {
      return std::string(part.substr(eq + 1));
    }
    if (semi == std::string_view::npos) {
      break;
    }
    cookies.remove_prefix(semi + 1);
  }
  return {};
}

boost::asio::awaitable<std::optional<Caller>> Sessions::Resolve(const http::Request& request) {
  std::string token = TokenFrom(request);
  if (token.empty() || token.size() > 100) {
    co_return std::nullopt;
  }
  std::string hash = TokenHash(token);
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && now - it->second.fetched < kCacheTtl) {
      Caller c = it->second.caller;
      c.renewed = false;
      co_return c;
    }
  }
  std::optional<Caller> caller =
      co_await db_.Write([&](pqxx::work& tx) { return SessionStore(tx).Touch(hash, ttl_); });
  std::lock_guard lock(mutex_);
  if (caller) {
    if (cache_.size() > kMaxCached) {
      cache_.clear();
    }
    cache_[hash] = {*caller, now};
  } else {
    cache_.erase(hash);
  }
  co_return caller;
}

void Sessions::Forget(const std::string& token_hash) {
  std::lock_guard lock(mutex_);
  cache_.erase(token_hash);
}

void Sessions::ForgetAll() {
  std::lock_guard lock(mutex_);
  cache_.clear();
}

void Sessions::ForgetChanged(const std::string& change) {
  auto colon = change.find(':');
  std::string kind = change.substr(0, colon);
  std::string value = colon == std::string::npos ? std::string() : change.substr(colon + 1);
  if (kind == "session") {
    Forget(value);
    return;
  }
  long long id = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), id);
  if ((kind != "user" && kind != "slice") || ec != std::errc() ||
      end != value.data() + value.size()) {
    ForgetAll();  // not understood: the safe answer
    return;
  }
  std::lock_guard lock(mutex_);
  std::erase_if(cache_, [&](const auto& entry) {
    const Caller& c = entry.second.caller;
    return kind == "user" ? c.user_id == id : c.slice_id == id;
  });
}

}  // namespace crm::gateway
