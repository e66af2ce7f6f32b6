// Live events of one slice (contact and message changes) fanned out to every open event stream.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace crm::slice {

class EventHub {
 public:
  /// `max_subscribers`: event streams open at once; each holds a connection and up to 1,000
  /// queued frames, so without a bound one tenant's streams could exhaust the slice's memory.
  explicit EventHub(std::size_t max_subscribers = 20) : max_subscribers_(max_subscribers) {}

  /// A subscriber's queue; `wake` is called (on any thread) when events arrive.
  struct Subscriber {
    std::mutex mutex;
    /// SSE frames ready to write. A vector, not a deque: an empty one holds no memory, and most
    /// streams wait empty (docs/benchmarks.md, "Gateway": the cost of an open stream).
    std::vector<std::string> pending;
    std::function<void()> wake;
    bool overflowed = false;
  };

  /// Queues `event` ("contact.created") with JSON `data` for every subscriber. A subscriber more
  /// than 1,000 events behind is marked overflowed (its stream ends and the browser reconnects).
  void Publish(const std::string& event, const std::string& data);
  /// A new subscriber, or nullptr when max_subscribers are open already.
  std::shared_ptr<Subscriber> Subscribe(std::function<void()> wake);
  std::size_t max_subscribers() const { return max_subscribers_; }
  void Unsubscribe(const std::shared_ptr<Subscriber>& subscriber);
  /// True while at least one event stream is open.
  bool has_subscribers() const;
  /// Event streams open now.
  std::size_t subscribers() const;

 private:
  std::size_t max_subscribers_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
  unsigned long long next_id_ = 1;
};

}  // namespace crm::slice
