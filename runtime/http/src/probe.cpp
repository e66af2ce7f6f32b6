#include "crm/http/probe.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>

#include "crm/http/message.hpp"
#include "crm/http/response_head.hpp"

namespace crm::http {
namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds left until `deadline` (rounded up), 0 once it has passed.
int MillisecondsLeft(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// A health answer is a few hundred bytes; one past this is not one.
constexpr std::size_t kMaxProbeAnswer = 64 * 1024;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

// The orchestrator probes every running slice every slice_health_interval: 200 probes a second
// at 1,000 slices. Each is a blocking exchange on one socket bounded by the deadline (connect and
// send by SO_SNDTIMEO, each read by poll), ~10 system calls. An io_context per probe (an epoll
// instance, an eventfd, a timer, Beast's request and parser) made the gateway's idle CPU at 1,000
// idle slices a quarter to a third higher (docs/benchmarks.md, "Health probes without an event
// loop each").
bool Probe(const Endpoint& endpoint, const std::string& path, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Protocol::endpoint peer;
  try {
    peer = endpoint.Generic();
  } catch (const std::exception&) {
    return false;  // not an address
  }
  const Socket socket(::socket(peer.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket.fd() < 0) {
    return false;
  }
  // A timeout of 0 would mean none: at least a millisecond.
  const auto bound = std::max<long long>(1, timeout.count());
  const timeval send_bound{static_cast<time_t>(bound / 1000),
                           static_cast<suseconds_t>(bound % 1000 * 1000)};
  if (::setsockopt(socket.fd(), SOL_SOCKET, SO_SNDTIMEO, &send_bound, sizeof send_bound) != 0 ||
      ::connect(socket.fd(), peer.data(), static_cast<socklen_t>(peer.size())) != 0) {
    return false;
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n =
        ::send(socket.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EINTR) {
      return false;
    }
    sent += n > 0 ? static_cast<std::size_t>(n) : 0;
    if (Clock::now() >= deadline) {
      return false;
    }
  }
  // The answer is read whole (its head, then Content-Length bytes, or up to the server's close),
  // as a client that keeps to the protocol does, so that the server's write never meets a reset.
  // The head is scanned as the gateway scans a slice's (ScanResponseHead: strict).
  std::array<char, 1024> buffer{};
  std::string answer;
  ResponseHead head;
  std::string scratch;  // the status line ScanResponseHead writes for a client: unused
  HeadScan scan = HeadScan::kNeedMore;
  for (;;) {
    if (scan == HeadScan::kDone && head.content_length &&
        answer.size() >= head.size + *head.content_length) {
      break;
    }
    pollfd readable{socket.fd(), POLLIN, 0};
    const int left = MillisecondsLeft(deadline);
    const int ready = left > 0 ? ::poll(&readable, 1, left) : 0;
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return false;  // the deadline passed (or poll failed) before the answer was whole
    }
    const ssize_t n = ::recv(socket.fd(), buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    if (n == 0) {
      break;  // closed: what came is the answer
    }
    answer.append(buffer.data(), static_cast<std::size_t>(n));
    if (answer.size() > kMaxProbeAnswer) {
      return false;
    }
    if (scan == HeadScan::kNeedMore) {
      scan = ScanResponseHead(answer, {}, 11, head, scratch);
      if (scan == HeadScan::kBad) {
        return false;
      }
    }
  }
  return scan == HeadScan::kDone && head.status / 100 == 2;
}

// The monitor's reading (once a minute per slice) needs the body in whatever framing the slice
// chose, chunked included: Beast's parser decodes it, and at that rate its event loop costs
// nothing that shows.
ProbeAnswer ProbeGet(const Endpoint& endpoint, const std::string& path,
                     std::chrono::milliseconds timeout) {
  asio::io_context io(1);
  Stream stream(io);
  ProbeAnswer answer;
  Request request{bhttp::verb::get, path, 11};
  request.set(bhttp::field::host, "localhost");
  request.keep_alive(false);
  Response response;
  beast::flat_buffer buffer;
  stream.expires_after(timeout);
  stream.async_connect(endpoint.Generic(), [&](boost::system::error_code ec) {
    if (ec) {
      return;
    }
    bhttp::async_write(stream, request, [&](boost::system::error_code wec, std::size_t) {
      if (wec) {
        return;
      }
      bhttp::async_read(stream, buffer, response, [&](boost::system::error_code rec, std::size_t) {
        if (!rec) {
          answer.status = static_cast<int>(response.result_int());
          answer.body = std::move(response.body());
        }
      });
    });
  });
  io.run();
  return answer;
}

}  // namespace crm::http
