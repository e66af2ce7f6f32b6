#include "crm/db/listener.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace crm::db {
namespace {

struct Receiver : pqxx::notification_receiver {
  Receiver(pqxx::connection_base& c, const std::string& channel,
           const std::function<void(const std::string&)>& on_notify)
      : pqxx::notification_receiver(c, channel), on_notify_(on_notify) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override { on_notify_(payload); }
  const std::function<void(const std::string&)>& on_notify_;
};

}  // namespace

ChannelListener::ChannelListener(Connect connect, std::string channel,
                                 std::function<void(const std::string&)> on_notify,
                                 std::function<void()> on_resync)
    : connect_(std::move(connect)),
      channel_(std::move(channel)),
      on_notify_(std::move(on_notify)),
      on_resync_(std::move(on_resync)) {
  thread_ = std::thread([this] { Loop(); });
}

ChannelListener::~ChannelListener() {
  running_ = false;
  thread_.join();
}

void ChannelListener::Loop() {
  bool warned = false;
  while (running_) {
    try {
      auto connection = connect_();
      Receiver receiver(*connection, channel_, on_notify_);
      connection->get_notifs();  // issues the LISTEN now
      if (warned) {
        spdlog::info("listening on {} again", channel_);
        warned = false;
      }
      if (on_resync_) {
        on_resync_();
      }
      while (running_) {
        // 250 ms: how long a stop waits for this thread.
        connection->await_notification(0, 250'000);
      }
    } catch (const std::exception& e) {
      if (!warned) {
        spdlog::warn("LISTEN {}: {}; retrying every second", channel_, e.what());
        warned = true;
      }
      for (int i = 0; i < 4 && running_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    }
  }
}

}  // namespace crm::db
