// Deadlines kept as nginx keeps its timers: a socket's deadline is a time stored beside it, and one
// timer per event loop wakes at the earliest of them, rounded up to a tenth of a second (at most
// ten walks of the list a second). Setting or moving a deadline later costs no timer operation
// (Beast's basic_stream arms and cancels a timer around every read and write); only a deadline
// earlier than the timer's wake re-arms it. A deadline that passes closes
// its socket, as basic_stream does: pending operations complete with an error, later ones fail at
// once, and Deadline::Reported tells a timeout from other errors.
#pragma once

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <optional>

#include "crm/http/endpoint.hpp"

namespace crm::http {

class Deadline;

/// The deadlines of one io_context: only used from the thread that runs it (IoPool's contexts
/// have one each).
class Deadlines : public asio::execution_context::service {
 public:
  using Clock = std::chrono::steady_clock;
  static asio::execution_context::id id;

  explicit Deadlines(asio::execution_context& context);
  ~Deadlines() override;
  /// The deadlines of the io_context `executor` belongs to (created on first use; takes the
  /// context's service lock, so look it up once per connection, not per request).
  template <class Executor>
  static Deadlines& Of(const Executor& executor) {
    return asio::use_service<Deadlines>(asio::query(executor, asio::execution::context));
  }

 private:
  friend class Deadline;
  void shutdown() override;
  void Link(Deadline& d);
  void Unlink(Deadline& d);
  /// `d`'s time moved to `at`: re-arms the timer only when `at`'s slot is earlier than its wake.
  void Moved(Clock::time_point at);
  void Arm(Clock::time_point at);
  void Fire();

  asio::io_context& context_;
  std::optional<asio::steady_timer> timer_;
  Deadline* first_ = nullptr;
  Clock::time_point armed_ = Clock::time_point::max();  ///< when the timer wakes; max: not armed
  bool shut_ = false;
};

/// One socket's deadline (a connection's, or one exchange with an upstream). Lives on the
/// thread of its Deadlines; the socket must outlive it or be reset with Watch.
class Deadline {
 public:
  using Clock = Deadlines::Clock;
  Deadline(Deadlines& deadlines, Protocol::socket* socket) : deadlines_(deadlines), socket_(socket) {}
  ~Deadline() { Clear(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  Deadlines& deadlines() const { return deadlines_; }
  /// The socket a passed deadline closes (nullptr: none).
  void Watch(Protocol::socket* socket) { socket_ = socket; }
  /// From now until `after` has passed; clears an earlier expiry.
  void Set(std::chrono::steady_clock::duration after);
  /// No deadline; clears an earlier expiry.
  void Clear();
  /// The deadline passed (and closed its socket) since it was last set.
  bool expired() const { return expired_; }
  /// `ec` as Beast's basic_stream reports it: beast::error::timeout for an operation that
  /// failed once the deadline had passed, else `ec` unchanged.
  boost::system::error_code Reported(boost::system::error_code ec) const;

 private:
  friend class Deadlines;
  Deadlines& deadlines_;
  Protocol::socket* socket_;
  Clock::time_point at_ = Clock::time_point::max();
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
  bool linked_ = false;
  bool expired_ = false;
};

}  // namespace crm::http
