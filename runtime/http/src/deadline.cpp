#include "crm/http/deadline.hpp"

#include <boost/beast/core/error.hpp>

namespace crm::http {

asio::execution_context::id Deadlines::id;

namespace {

// The loop's timer wakes only at multiples of kSlot: the deadlines are an unordered list, so each
// wake walks all of them, and slots bound that to ten walks a second however many connections
// come and go; a deadline passes up to kSlot late (the timeouts it serves are seconds long).
constexpr Deadlines::Clock::duration kSlot = std::chrono::milliseconds(100);

Deadlines::Clock::time_point SlotOf(Deadlines::Clock::time_point at) {
  const auto rest = at.time_since_epoch() % kSlot;
  if (rest == Deadlines::Clock::duration::zero() ||
      at > Deadlines::Clock::time_point::max() - kSlot) {
    return at;
  }
  return at + (kSlot - rest);
}

}  // namespace

Deadlines::Deadlines(asio::execution_context& context)
    : asio::execution_context::service(context),
      context_(static_cast<asio::io_context&>(context)) {
  // Made now, so the timers' service is older than this one: shut down and destroyed after it.
  timer_.emplace(context_);
}

Deadlines::~Deadlines() {
  // Deadlines still linked belong to connections whose frames outlive the context's services
  // (destroyed with the context): they must not reach back.
  for (Deadline* d = first_; d != nullptr;) {
    Deadline* next = d->next_;
    d->prev_ = d->next_ = nullptr;
    d->linked_ = false;
    d = next;
  }
  first_ = nullptr;
}

void Deadlines::shutdown() {
  shut_ = true;
}

void Deadlines::Link(Deadline& d) {
  d.prev_ = nullptr;
  d.next_ = first_;
  if (first_ != nullptr) {
    first_->prev_ = &d;
  }
  first_ = &d;
  d.linked_ = true;
}

void Deadlines::Unlink(Deadline& d) {
  if (d.prev_ != nullptr) {
    d.prev_->next_ = d.next_;
  } else {
    first_ = d.next_;
  }
  if (d.next_ != nullptr) {
    d.next_->prev_ = d.prev_;
  }
  d.prev_ = d.next_ = nullptr;
  d.linked_ = false;
}

void Deadlines::Moved(Clock::time_point at) {
  const Clock::time_point slot = SlotOf(at);
  if (slot < armed_) {
    Arm(slot);
  }
}

void Deadlines::Arm(Clock::time_point at) {
  if (shut_) {
    return;
  }
  armed_ = at;
  // Replaces a later wait (its handler sees operation_aborted and does nothing).
  timer_->expires_at(at);
  timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      Fire();
    }
  });
}

void Deadlines::Fire() {
  armed_ = Clock::time_point::max();
  const Clock::time_point now = Clock::now();
  Clock::time_point earliest = Clock::time_point::max();
  for (Deadline* d = first_; d != nullptr;) {
    Deadline* next = d->next_;
    if (d->at_ <= now) {
      Unlink(*d);
      d->at_ = Clock::time_point::max();
      d->expired_ = true;
      if (d->socket_ != nullptr) {
        boost::system::error_code ec;
        d->socket_->close(ec);
      }
    } else if (d->at_ < earliest) {
      earliest = d->at_;
    }
    d = next;
  }
  if (earliest != Clock::time_point::max()) {
    Arm(SlotOf(earliest));
  }
}

void Deadline::Set(std::chrono::steady_clock::duration after) {
  expired_ = false;
  at_ = Clock::now() + after;
  if (!linked_) {
    deadlines_.Link(*this);
  }
  deadlines_.Moved(at_);
}

void Deadline::Clear() {
  expired_ = false;
  at_ = Clock::time_point::max();
  if (linked_) {
    deadlines_.Unlink(*this);
  }
}

boost::system::error_code Deadline::Reported(boost::system::error_code ec) const {
  if (expired_ && ec) {
    return boost::beast::error::timeout;
  }
  return ec;
}

}  // namespace crm::http
