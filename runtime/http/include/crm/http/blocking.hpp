// Blocking work (libpqxx, password hashing) runs on a bounded thread pool, never on the I/O
// threads; coroutines await it and resume on their own executor.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <type_traits>

namespace crm::http {

class BlockingPool {
 public:
  explicit BlockingPool(std::size_t threads) : pool_(threads) {}
  ~BlockingPool() { pool_.join(); }

  /// Runs `work` on the pool; rethrows what it throws in the awaiting coroutine. The result type
  /// must be default-constructible (or void).
  ///
  /// From a coroutine, pass closures that capture by reference only (`[&]`, `[this, &x]`):
  /// GCC 12 destroys a temporary with non-trivial members twice when it sits in a co_await
  /// expression, so a `[s = std::string()]` closure there is a double free. The referenced
  /// locals live in the coroutine frame until the co_await completes.
  // The work itself travels behind a shared_ptr so that only a pointer crosses use_awaitable's
  // initiation (a coroutine taking its arguments by value).
  template <class F>
  auto Run(F work) {
    using R = std::invoke_result_t<F&>;
    namespace asio = boost::asio;
    auto task = std::make_shared<F>(std::move(work));
    if constexpr (std::is_void_v<R>) {
      return asio::async_initiate<const asio::use_awaitable_t<>, void(std::exception_ptr)>(
          [this](auto handler, std::shared_ptr<F> w) {
            auto guard = asio::make_work_guard(asio::get_associated_executor(handler));
            asio::post(
                pool_, [h = std::move(handler), w = std::move(w), g = std::move(guard)]() mutable {
                  std::exception_ptr error;
                  try {
                    (*w)();
                  } catch (...) {
                    error = std::current_exception();
                  }
                  auto ex = asio::get_associated_executor(h);
                  asio::dispatch(ex, [h = std::move(h), error]() mutable { std::move(h)(error); });
                });
          },
          asio::use_awaitable, std::move(task));
    } else {
      return asio::async_initiate<const asio::use_awaitable_t<>, void(std::exception_ptr, R)>(
          [this](auto handler, std::shared_ptr<F> w) {
            auto guard = asio::make_work_guard(asio::get_associated_executor(handler));
            asio::post(
                pool_, [h = std::move(handler), w = std::move(w), g = std::move(guard)]() mutable {
                  std::exception_ptr error;
                  R result{};
                  try {
                    result = (*w)();
                  } catch (...) {
                    error = std::current_exception();
                  }
                  auto ex = asio::get_associated_executor(h);
                  asio::dispatch(ex, [h = std::move(h), error, r = std::move(result)]() mutable {
                    std::move(h)(error, std::move(r));
                  });
                });
          },
          asio::use_awaitable, std::move(task));
    }
  }

 private:
  boost::asio::thread_pool pool_;
};

}  // namespace crm::http
