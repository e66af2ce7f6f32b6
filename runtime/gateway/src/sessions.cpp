#include "crm/gateway/sessions.hpp"

#include <boost/beast/core/string.hpp>
#include <charconv>

#include "crm/gateway/auth.hpp"

namespace crm::gateway {
namespace {

namespace bhttp = boost::beast::http;

constexpr std::chrono::seconds kCacheTtl{5};
constexpr std::size_t kMaxCached = 100'000;
constexpr std::size_t kMaxToken = 100;

}  // namespace

std::string_view TokenIn(const http::Request& req) {
  // The first Authorization and the first Cookie, in one walk of the (few) fields: each lookup
  // by name would search the field set with case-blind string comparisons.
  std::string_view auth;
  std::string_view cookies;
  bool auth_seen = false;
  bool cookie_seen = false;
  for (const auto& field : req) {
    if (field.name() == bhttp::field::authorization && !auth_seen) {
      auth = field.value();
      auth_seen = true;
    } else if (field.name() == bhttp::field::cookie && !cookie_seen) {
      cookies = field.value();
      cookie_seen = true;
    }
  }
  if (auth.size() > 7 && boost::beast::iequals(auth.substr(0, 7), "Bearer ")) {
    return auth.substr(7);
  }
  while (!cookies.empty()) {
    auto semi = cookies.find(';');
    std::string_view part = cookies.substr(0, semi);
    while (!part.empty() && part.front() == ' ') {
      part.remove_prefix(1);
    }
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == kSessionCookie) {
      return part.substr(eq + 1);
    }
    if (semi == std::string_view::npos) {
      break;
    }
    cookies.remove_prefix(semi + 1);
  }
  return {};
}

std::string TokenFrom(const http::Request& req) {
  return std::string(TokenIn(req));
}

boost::asio::awaitable<std::optional<Sessions::Cached>> Sessions::Lookup(const std::string& hash,
                                                                         std::uint64_t generation) {
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && now - it->second.fetched < kCacheTtl) {
      Cached found = it->second;
      found.caller.renewed = false;
      co_return found;
    }
  }
  std::optional<Caller> caller =
      co_await db_.Write([&](pqxx::work& tx) { return SessionStore(tx).Touch(hash, ttl_); });
  std::lock_guard lock(mutex_);
  if (!caller) {
    cache_.erase(hash);
    co_return std::nullopt;
  }
  // A session forgotten while the database answered may be this one (signed out meanwhile):
  // the answer serves this request but is not cached.
  if (generation_.load(std::memory_order_acquire) == generation) {
    if (cache_.size() > kMaxCached) {
      cache_.clear();
    }
    cache_[hash] = {*caller, now};
  }
  co_return Cached{std::move(*caller), now};
}

boost::asio::awaitable<std::optional<Caller>> Sessions::Resolve(const http::Request& request) {
  std::string_view token = TokenIn(request);
  if (token.empty() || token.size() > kMaxToken) {
    co_return std::nullopt;
  }
  std::optional<Cached> found =
      co_await Lookup(TokenHash(std::string(token)), generation_.load(std::memory_order_acquire));
  if (!found) {
    co_return std::nullopt;
  }
  co_return std::move(found->caller);
}

const Caller* Sessions::Recall(std::string_view token, SessionMemo& memo) {
  if (memo.token.empty() || token != memo.token ||
      memo.generation != generation_.load(std::memory_order_acquire) ||
      std::chrono::steady_clock::now() - memo.fetched >= kCacheTtl) {
    return nullptr;
  }
  memo.caller.renewed = false;  // said once, by the request that renewed it
  return &memo.caller;
}

boost::asio::awaitable<const Caller*> Sessions::Resolve(const http::Request& request,
                                                        SessionMemo& memo) {
  memo.token.clear();
  std::string_view token = TokenIn(request);
  if (token.empty() || token.size() > kMaxToken) {
    co_return nullptr;
  }
  // Read before the lookup: anything forgotten while it runs makes the memo look up again.
  std::uint64_t generation = generation_.load(std::memory_order_acquire);
  std::optional<Cached> found = co_await Lookup(TokenHash(std::string(token)), generation);
  if (!found) {
    co_return nullptr;
  }
  memo.token.assign(token);
  memo.generation = generation;
  memo.fetched = found->fetched;
  memo.caller = std::move(found->caller);
  co_return &memo.caller;
}

void Sessions::Forget(const std::string& token_hash) {
  std::lock_guard lock(mutex_);
  cache_.erase(token_hash);
  Forgot();
}

void Sessions::ForgetAll() {
  std::lock_guard lock(mutex_);
  cache_.clear();
  Forgot();
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
  Forgot();
}

}  // namespace crm::gateway
