// A LISTEN on a dedicated connection, on a thread of its own: each notification's payload is
// handed to a callback; a lost connection is made again (and the callback told that
// notifications may have been missed meanwhile).
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace crm::db {

class ChannelListener {
 public:
  using Connect = std::function<std::unique_ptr<pqxx::connection>()>;
  /// Starts listening on `channel`. `on_notify(payload)` runs on the listener's thread;
  /// `on_resync()` runs there after every (re)connection, the first included: whatever it
  /// caches must be read again, since notifications sent while it was away are lost.
  ChannelListener(Connect connect, std::string channel,
                  std::function<void(const std::string&)> on_notify,
                  std::function<void()> on_resync = {});
  ~ChannelListener();
  ChannelListener(const ChannelListener&) = delete;
  ChannelListener& operator=(const ChannelListener&) = delete;

 private:
  void Loop();
  Connect connect_;
  std::string channel_;
  std::function<void(const std::string&)> on_notify_;
  std::function<void()> on_resync_;
  std::atomic<bool> running_{true};
  std::thread thread_;
};

}  // namespace crm::db
