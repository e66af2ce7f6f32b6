// Live events of one slice (contact and message changes) fanned out to every open event stream.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace crm::slice {

class EventHub {
 public:
  /// A subscriber's queue; `wake` is called (on any thread) when events arrive.
  struct Subscriber {
    std::mutex mutex;
    std::deque<std::string> pending;  ///< SSE frames ready to write
    std::function<void()> wake;
    bool overflowed = false;
  };

  /// Queues `event` ("contact.created") with JSON `data` for every subscriber. A subscriber more
  /// than 1,000 events behind is marked overflowed (its stream ends and the browser reconnects).
  void Publish(const std::string& event, const std::string& data);
  std::shared_ptr<Subscriber> Subscribe(std::function<void()> wake);
  void Unsubscribe(const std::shared_ptr<Subscriber>& subscriber);
  /// True while at least one event stream is open.
  bool has_subscribers() const;
  /// Event streams open now.
  std::size_t subscribers() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
  unsigned long long next_id_ = 1;
};

}  // namespace crm::slice
