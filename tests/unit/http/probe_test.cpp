// The orchestrator's health probe (http::Probe) against a server that answers what each test
// says, over a Unix socket (how slices listen) and over TCP: 2xx is healthy, anything else, no
// listener, silence, a malformed or oversized answer is not, and a probe ends by its deadline.
#include "crm/http/probe.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

namespace crm::http {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// One connection served on its own thread: the request read up to its blank line (kept), then
// `answer` written in pieces of `piece` bytes, then `close_after` decides whether the server
// closes or holds the connection open until the test ends.
class OneShotServer {
 public:
  OneShotServer(bool unix_socket, std::string answer, std::size_t piece = 0,
                bool close_after = true)
      : answer_(std::move(answer)), piece_(piece), close_after_(close_after) {
    if (unix_socket) {
      dir_ = fs::temp_directory_path() / ("crm-probe-" + std::to_string(::getpid()) + "-" +
                                          std::to_string(reinterpret_cast<std::uintptr_t>(this)));
      fs::create_directories(dir_);
      endpoint_.is_unix = true;
      endpoint_.path = (dir_ / "http.sock").string();
      listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", endpoint_.path.c_str());
      EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    } else {
      listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
      socklen_t len = sizeof addr;
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
      endpoint_.host = "127.0.0.1";
      endpoint_.port = ntohs(addr.sin_port);
    }
    EXPECT_EQ(::listen(listener_, 4), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  OneShotServer(const OneShotServer&) = delete;
  OneShotServer& operator=(const OneShotServer&) = delete;
  ~OneShotServer() {
    ::shutdown(listener_, SHUT_RDWR);
    if (thread_.joinable()) {
      thread_.join();
    }
    ::close(listener_);
    if (held_ >= 0) {
      ::close(held_);
    }
    if (!dir_.empty()) {
      fs::remove_all(dir_);
    }
  }

  const Endpoint& endpoint() const { return endpoint_; }
  // What the probe sent: once it returned (the server is then done with the connection).
  const std::string& request() {
    thread_.join();
    return request_;
  }

 private:
  void Serve() {
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      return;
    }
    char c = 0;
    while (request_.find("\r\n\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1) {
      request_ += c;
    }
    const std::size_t piece = piece_ == 0 ? answer_.size() : piece_;
    for (std::size_t at = 0; at < answer_.size(); at += piece) {
      ::send(fd, answer_.data() + at, std::min(piece, answer_.size() - at), MSG_NOSIGNAL);
      if (piece_ != 0) {
        std::this_thread::sleep_for(5ms);
      }
    }
    if (close_after_) {
      ::close(fd);
    } else {
      held_ = fd;  // closed by the destructor
    }
  }

  std::string answer_;
  std::size_t piece_;
  bool close_after_;
  fs::path dir_;
  Endpoint endpoint_;
  int listener_ = -1;
  int held_ = -1;
  std::string request_;
  std::thread thread_;
};

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        "Content-Length: 15\r\n\r\n{\"status\":\"ok\"}";

TEST(ProbeTest, TwoHundredOverAUnixSocketIsHealthyAndTheRequestIsAPlainGetThatCloses) {
  OneShotServer server(true, kOk);
  EXPECT_TRUE(Probe(server.endpoint(), "/health", 2s));
  EXPECT_EQ(server.request(),
            "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

TEST(ProbeTest, TwoHundredOverTcpIsHealthy) {
  OneShotServer server(false, kOk);
  EXPECT_TRUE(Probe(server.endpoint(), "/health", 2s));
}

TEST(ProbeTest, AnAnswerInPiecesIsReadWhole) {
  OneShotServer server(true, kOk, 7);
  EXPECT_TRUE(Probe(server.endpoint(), "/health", 5s));
}

TEST(ProbeTest, AnAnswerWithContentLengthIsDoneWithoutWaitingForTheClose) {
  // The server holds the connection open after a whole answer: a probe that waited for the
  // close would reach its deadline and say no.
  OneShotServer server(true, kOk, 0, false);
  EXPECT_TRUE(Probe(server.endpoint(), "/health", 5s));
}

TEST(ProbeTest, AnythingButTwoHundredIsUnhealthy) {
  for (const std::string& answer :
       {std::string("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"),
        std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        std::string("HTTP/1.1 301 Moved Permanently\r\nLocation: /\r\nContent-Length: 0\r\n\r\n"),
        std::string("SSH-2.0-OpenSSH_9.2\r\n"),                        // not HTTP
        std::string("HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"),   // not a status code
        std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"),      // closed inside the head
        std::string("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),         // bare LF
        std::string()}) {                                              // closed without a word
    OneShotServer server(true, answer);
    EXPECT_FALSE(Probe(server.endpoint(), "/health", 2s)) << answer;
  }
}

TEST(ProbeTest, AnOversizedAnswerIsUnhealthy) {
  OneShotServer server(true, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" +
                                 std::string(100'000, 'x'));
  EXPECT_FALSE(Probe(server.endpoint(), "/health", 5s));
}

TEST(ProbeTest, NoListenerAndABadAddressAreUnhealthy) {
  Endpoint nowhere;
  nowhere.is_unix = true;
  nowhere.path = "/nonexistent/crm-probe/http.sock";
  EXPECT_FALSE(Probe(nowhere, "/health", 1s));
  Endpoint bad;
  bad.host = "not an address";
  bad.port = 80;
  EXPECT_FALSE(Probe(bad, "/health", 1s));
}

TEST(ProbeTest, ASilentServerIsUnhealthyByTheDeadline) {
  // Accepts and reads the request, then neither answers nor closes: the probe returns.
  OneShotServer server(true, "", 0, false);
  EXPECT_FALSE(Probe(server.endpoint(), "/health", 300ms));
}

}  // namespace
}  // namespace crm::http
