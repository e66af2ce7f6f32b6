#include "crm/gateway/sessions.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <charconv>
#include <exception>
#include <utility>

#include "crm/gateway/auth.hpp"

namespace crm::gateway {
namespace {

namespace bhttp = boost::beast::http;

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
    std::unique_lock lock(mutex_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && now - it->second.fetched < times_.fresh) {
      Cached found = it->second;
      // A renewal the background confirmation found is told once, to this request.
      found.caller.renewed = std::exchange(it->second.caller.renewed, false);
      if (now - found.fetched >= times_.refresh_after && !it->second.refreshing) {
        it->second.refreshing = true;
        lock.unlock();
        // Before the entry runs out and every connection naming the session waits for the
        // database at once (a stall nginx in front of a slice never has), this request starts
        // the confirmation and is answered from the cache meanwhile.
        // (Each co_await in a statement of its own: see BlockingPool::Run on GCC 12.)
        auto executor = co_await boost::asio::this_coro::executor;
        boost::asio::co_spawn(executor, Refresh(hash, generation, now), boost::asio::detached);
      }
      co_return found;
    }
  }
  // No fresh entry: wait for the answer another request is already asking the database for,
  // or ask it.
  std::optional<Cached> answer = co_await Ask(hash, generation, now);
  co_return answer;
}

// GCC 12 reports Asio's own frame allocation in this coroutine as a mismatched new/delete
// (awaitable_frame_base pairs its sized operator new and delete; a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
boost::asio::awaitable<std::optional<Sessions::Cached>> Sessions::Ask(
    const std::string& hash, std::uint64_t generation, std::chrono::steady_clock::time_point now) {
  auto executor = co_await boost::asio::this_coro::executor;
  std::shared_ptr<Pending> pending;
  std::shared_ptr<boost::asio::steady_timer> wait;
  {
    std::lock_guard lock(mutex_);
    auto [it, asking] = pending_.try_emplace(hash);
    if (asking) {
      it->second = std::make_shared<Pending>();
      it->second->generation = generation;
    } else if (it->second->generation == generation) {
      wait = std::make_shared<boost::asio::steady_timer>(
          executor, boost::asio::steady_timer::time_point::max());
      it->second->waiters.push_back(wait);
    }
    pending = it->second;
  }
  if (wait) {
    // Woken by Finish, which moves the timer to the past from this event loop.
    boost::system::error_code cancelled;
    co_await wait->async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, cancelled));
    std::optional<Cached> shared;
    bool failed = false;
    {
      std::lock_guard lock(mutex_);
      failed = pending->failed;
      if (!failed && pending->answer) {
        shared = Cached{*pending->answer, pending->fetched};
      }
    }
    if (!failed) {
      co_return shared;  // nullopt: no valid session
    }
    pending.reset();  // the asking request got no answer: ask on our own
  } else if (pending->generation != generation) {
    pending.reset();  // under way from before something was forgotten: ask on our own
  }
  // From here `pending` is set only when this request asks for the others.
  std::optional<Caller> caller;
  std::exception_ptr error;
  try {
    caller = co_await Confirm(hash);
  } catch (...) {
    error = std::current_exception();
  }
  std::lock_guard lock(mutex_);
  if (error) {
    if (pending) {
      pending->failed = true;
      Finish(hash, pending);
    }
    std::rethrow_exception(error);
  }
  if (pending) {
    if (caller) {
      pending->answer = *caller;
      pending->answer->renewed = false;  // this request tells it
    }
    pending->fetched = now;
    Finish(hash, pending);
  }
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
    Cached& entry = cache_[hash];
    entry = {*caller, now};
    entry.caller.renewed = false;  // this request tells it
  }
  co_return Cached{std::move(*caller), now};
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

void Sessions::Finish(const std::string& hash, const std::shared_ptr<Pending>& pending) {
  if (auto it = pending_.find(hash); it != pending_.end() && it->second == pending) {
    pending_.erase(it);
  }
  // Through the waiter's own event loop (one thread each): its wait has begun by then. Moved
  // to the past rather than only cancelled, so that a wait begun later would end at once too.
  for (const auto& timer : pending->waiters) {
    boost::asio::post(timer->get_executor(),
                      [timer] { timer->expires_at(boost::asio::steady_timer::time_point::min()); });
  }
  pending->waiters.clear();
}

boost::asio::awaitable<void> Sessions::Refresh(std::string hash, std::uint64_t generation,
                                               std::chrono::steady_clock::time_point started) {
  std::optional<Caller> caller;
  try {
    caller = co_await Confirm(hash);
  } catch (const std::exception&) {
    // The database did not answer: the entry serves until it is `fresh` old, then the request
    // that finds it waits for the database and sees the error as before.
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(hash); it != cache_.end()) {
      it->second.refreshing = false;
    }
    co_return;
  }
  std::lock_guard lock(mutex_);
  auto it = cache_.find(hash);
  if (it == cache_.end()) {
    co_return;  // forgotten meanwhile: the next request asks the database
  }
  if (!caller) {
    cache_.erase(it);  // signed out, expired or suspended: the next request is refused
    co_return;
  }
  if (generation_.load(std::memory_order_acquire) != generation) {
    it->second.refreshing = false;  // an answer older than something forgotten since
    co_return;
  }
  it->second = {std::move(*caller), started};
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
  // From `refresh_after` on, the shared cache answers: the first request there starts the
  // confirmation in the background, and the memos take the confirmed entry from it. Held to
  // `fresh`, every connection's memo ran out at the same instant (they share the entry's time)
  // and all of them waited for the database together.
  if (memo.token.empty() || token != memo.token ||
      memo.generation != generation_.load(std::memory_order_acquire) ||
      std::chrono::steady_clock::now() - memo.fetched >= times_.refresh_after) {
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
