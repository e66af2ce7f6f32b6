#include "crm/slice/events.hpp"

#include <algorithm>

namespace crm::slice {
namespace {
constexpr std::size_t kMaxPending = 1000;
}

void EventHub::Publish(const std::string& event, const std::string& data) {
  std::string frame;
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    std::lock_guard lock(mutex_);
    frame = "id: " + std::to_string(next_id_++) + "\nevent: " + event + "\ndata: " + data + "\n\n";
    targets = subscribers_;
  }
  for (auto& s : targets) {
    std::function<void()> wake;
    {
      std::lock_guard lock(s->mutex);
      if (s->pending.size() >= kMaxPending) {
        s->overflowed = true;
      } else {
        s->pending.push_back(frame);
      }
      wake = s->wake;
    }
    if (wake) {
      wake();
    }
  }
}

std::shared_ptr<EventHub::Subscriber> EventHub::Subscribe(std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  if (subscribers_.size() >= max_subscribers_) {
    return nullptr;
  }
  auto s = std::make_shared<Subscriber>();
  s->wake = std::move(wake);
  subscribers_.push_back(s);
  return s;
}

void EventHub::Unsubscribe(const std::shared_ptr<Subscriber>& subscriber) {
  std::lock_guard lock(mutex_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), subscriber),
                     subscribers_.end());
}

std::size_t EventHub::subscribers() const {
  std::lock_guard lock(mutex_);
  return subscribers_.size();
}

bool EventHub::has_subscribers() const {
  std::lock_guard lock(mutex_);
  return !subscribers_.empty();
}

}  // namespace crm::slice
