#include "crm/http/upstream.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace crm::http {
namespace {

using std::chrono::milliseconds;

int ListeningSocket(int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(fd, 16);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads until `done(received)`, the peer closes (`closed` set), `stop` is set, or 10 s pass.
std::string ReceiveUntil(int fd, const std::function<bool(const std::string&)>& done,
                         bool* closed = nullptr, const std::atomic<bool>* stop = nullptr) {
  std::string received;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done(received) && std::chrono::steady_clock::now() < deadline &&
         (stop == nullptr || !stop->load())) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      continue;
    }
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed != nullptr) {
        *closed = true;
      }
      break;
    }
    received.append(buf, static_cast<std::size_t>(n));
  }
  return received;
}

// A whole request (head, and the body its Content-Length gives) is in `in`.
bool HasWholeRequest(const std::string& in) {
  auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) {
    return false;
  }
  auto cl = in.find("Content-Length: ");
  std::size_t length = cl != std::string::npos && cl < end ? std::stoul(in.substr(cl + 16)) : 0;
  return in.size() >= end + 4 + length;
}

// A whole response framed by Content-Length (what Pass always sends) is in `in`.
bool HasWholeResponse(const std::string& in) {
  return HasWholeRequest(in);
}

// The slice's stand-in: on one TCP port, answers each request with the next canned reply (raw
// bytes), closing the connection after it when the reply says so; records what it was sent.
// Each connection is served on a thread of its own, so kept-alive connections are served at once.
class CannedUpstream {
 public:
  /// In `bytes`, a pause of 100 ms before what follows (a head arriving in two reads).
  static constexpr char kPause = '\x01';
  struct Reply {
    std::string bytes;
    bool close_after = false;
  };

  explicit CannedUpstream(std::vector<Reply> replies) : replies_(replies.begin(), replies.end()) {
    listen_fd_ = ListeningSocket(port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedUpstream() {
    stopping_ = true;  // a kept-alive connection's wait for its next request ends too
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
    for (std::thread& serving : serving_) {
      serving.join();
    }
  }

  int port() const { return port_; }
  int connections() const { return connections_; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void Serve() {
    for (;;) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        return;
      }
      ++connections_;
      serving_.emplace_back([this, fd] { ServeConnection(fd); });
    }
  }

  void ServeConnection(int fd) {
    bool open = true;
    while (open) {
      bool closed = false;
      std::string request = ReceiveUntil(fd, HasWholeRequest, &closed, &stopping_);
      if (closed || !HasWholeRequest(request)) {
        break;
      }
      Reply reply;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
        if (replies_.empty()) {
          break;
        }
        reply = replies_.front();
        replies_.pop_front();
      }
      for (std::size_t from = 0, pause = 0; from <= reply.bytes.size(); from = pause + 1) {
        pause = std::min(reply.bytes.find(kPause, from), reply.bytes.size());
        if (from > 0) {
          std::this_thread::sleep_for(milliseconds(100));
        }
        SendAll(fd, reply.bytes.substr(from, pause - from));
      }
      open = !reply.close_after;
    }
    ::close(fd);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::deque<Reply> replies_;
  std::vector<std::string> requests_;
  std::thread thread_;
  std::vector<std::thread> serving_;  ///< one per connection; only Serve and the destructor
};

constexpr bhttp::field kKept[] = {bhttp::field::content_type, bhttp::field::etag};

Reply Passing(std::shared_ptr<Upstream> upstream, Exchange& ex) {
  const Request& req = ex.request();
  std::string head = std::string(req.method_string()) + " " + std::string(req.target()) +
                     " HTTP/1.1\r\nHost: upstream\r\n";
  if (!req.body().empty()) {
    head += "Content-Length: " + std::to_string(req.body().size()) + "\r\n";
  }
  head += "\r\n";
  co_await upstream->Pass(ex, head, req.body(), kKept, "X-Added: yes\r\n");
  co_return std::nullopt;
}

// A server whose every request is passed to `upstream_port` by Upstream::Pass, as the
// gateway's proxy does.
class PassTest : public ::testing::Test {
 protected:
  void Start(int upstream_port, milliseconds timeout = milliseconds(5000)) {
    upstream_ = std::make_shared<Upstream>(
        ParseEndpoint("127.0.0.1:" + std::to_string(upstream_port)), 4, timeout);
    server_ = std::make_unique<Server>(io_, ServerLimits{},
                                       [this](Exchange& ex) { return Passing(upstream_, ex); });
    port_ = server_->Listen(ParseEndpoint("127.0.0.1:0")).port;
    server_->Start();
    io_.Start();
  }
  void TearDown() override {
    if (server_) {
      server_->Shutdown(milliseconds(1000));
    }
    io_.Stop();
  }

  IoPool io_{1};
  std::shared_ptr<Upstream> upstream_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

std::string HeadOf(const std::string& response) {
  return response.substr(0, response.find("\r\n\r\n") + 2);
}
std::string BodyOf(const std::string& response) {
  return response.substr(response.find("\r\n\r\n") + 4);
}

TEST_F(PassTest, KeepsTheStatusTheListedFieldsAndTheBodyOnAKeptAliveConnection) {
  const std::string reply =
      "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nSet-Cookie: slice=1\r\n"
      "X-Internal: secret\r\nETag: \"a\"\r\nETag: \"b\"\r\nConnection: keep-alive\r\n"
      "Content-Length: 7\r\n\r\n{\"a\":1}";
  CannedUpstream upstream({{reply}, {reply}});
  Start(upstream.port());
  int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 2; ++i) {
    SendAll(fd, "POST /api/contacts HTTP/1.1\r\nHost: crm\r\nContent-Length: 2\r\n\r\n{}");
    std::string got = ReceiveUntil(fd, HasWholeResponse);
    ASSERT_TRUE(HasWholeResponse(got)) << got;
    EXPECT_EQ(HeadOf(got),
              "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nETag: \"a\"\r\n"
              "X-Added: yes\r\nContent-Length: 7\r\n");
    EXPECT_EQ(BodyOf(got), "{\"a\":1}");
  }
  ::close(fd);
  // Both requests went, whole, on one kept-alive connection to the upstream.
  EXPECT_EQ(upstream.connections(), 1);
  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1],
            "POST /api/contacts HTTP/1.1\r\nHost: upstream\r\nContent-Length: 2\r\n\r\n{}");
}

TEST_F(PassTest, AChunkedBodyReachesTheClientWithItsLength) {
  CannedUpstream upstream(
      {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"}});
  Start(upstream.port());
  int fd = Connect(port_);
  SendAll(fd, "GET /api/x HTTP/1.1\r\nHost: crm\r\n\r\n");
  std::string got = ReceiveUntil(fd, HasWholeResponse);
  ::close(fd);
  EXPECT_EQ(HeadOf(got), "HTTP/1.1 200 OK\r\nX-Added: yes\r\nContent-Length: 11\r\n");
  EXPECT_EQ(BodyOf(got), "hello world");
}

TEST_F(PassTest, ABodyLargerThanOneReadArrivesWholeAndInOrder) {
  std::string body(3 << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>('a' + i % 23);
  }
  CannedUpstream upstream(
      {{"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body}});
  Start(upstream.port());
  int fd = Connect(port_);
  SendAll(fd, "GET /api/export HTTP/1.1\r\nHost: crm\r\n\r\n");
  std::string got = ReceiveUntil(fd, HasWholeResponse);
  ::close(fd);
  ASSERT_TRUE(HasWholeResponse(got));
  EXPECT_EQ(HeadOf(got), "HTTP/1.1 200 OK\r\nX-Added: yes\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n");
  EXPECT_TRUE(BodyOf(got) == body);
}

TEST_F(PassTest, AnUpstreamCutMidBodyEndsTheClientsConnectionShortOfItsLength) {
  CannedUpstream upstream(
      {{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", /*close_after=*/true}});
  Start(upstream.port());
  int fd = Connect(port_);
  SendAll(fd, "GET /api/x HTTP/1.1\r\nHost: crm\r\n\r\n");
  bool closed = false;
  std::string got = ReceiveUntil(
      fd, [](const std::string&) { return false; }, &closed);
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_EQ(HeadOf(got), "HTTP/1.1 200 OK\r\nX-Added: yes\r\nContent-Length: 100\r\n");
  EXPECT_EQ(BodyOf(got), "0123456789");
}

// The slice's head in two reads (the first ends inside a field), then one cut short by the slice
// closing: the first is passed whole, the second answered 502.
TEST_F(PassTest, AHeadInTwoReadsIsPassedWholeAndAHeadCutShortIs502) {
  CannedUpstream upstream(
      {{std::string("HTTP/1.1 201 Created\r\nContent-Ty") + CannedUpstream::kPause +
        "pe: text/plain\r\nContent-Length: 2\r\n\r\nok"},
       {"HTTP/1.1 200 OK\r\nContent-Type: te", /*close_after=*/true}});
  Start(upstream.port());
  int fd = Connect(port_);
  SendAll(fd, "GET /api/x HTTP/1.1\r\nHost: crm\r\n\r\n");
  std::string got = ReceiveUntil(fd, HasWholeResponse);
  EXPECT_EQ(HeadOf(got),
            "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Added: yes\r\n"
            "Content-Length: 2\r\n");
  EXPECT_EQ(BodyOf(got), "ok");
  SendAll(fd, "GET /api/y HTTP/1.1\r\nHost: crm\r\n\r\n");
  got = ReceiveUntil(fd, HasWholeResponse);
  ::close(fd);
  EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 502") << got;
  EXPECT_EQ(upstream.connections(), 1);
}

TEST_F(PassTest, NoAnswerIs502AndNoUpstreamIs503) {
  {
    CannedUpstream upstream({{"", /*close_after=*/true}});
    Start(upstream.port());
    int fd = Connect(port_);
    SendAll(fd, "GET /api/x HTTP/1.1\r\nHost: crm\r\n\r\n");
    std::string got = ReceiveUntil(fd, HasWholeResponse);
    ::close(fd);
    EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 502") << got;
  }
  // The same port, nobody listening now.
  int fd = Connect(port_);
  SendAll(fd, "GET /api/x HTTP/1.1\r\nHost: crm\r\n\r\n");
  std::string got = ReceiveUntil(fd, HasWholeResponse);
  ::close(fd);
  EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 503") << got;
  EXPECT_NE(got.find("Retry-After: 1\r\n"), std::string::npos) << got;
}

TEST_F(PassTest, AnUpstreamSilentPastTheTimeoutIs504) {
  // Twenty pauses of 100 ms before the head, with a timeout of 500 ms.
  CannedUpstream upstream({{std::string(20, CannedUpstream::kPause) +
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  Start(upstream.port(), milliseconds(500));
  int fd = Connect(port_);
  SendAll(fd, "GET /api/x HTTP/1.1\r\nHost: crm\r\n\r\n");
  std::string got = ReceiveUntil(fd, HasWholeResponse);
  ::close(fd);
  EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 504") << got;
}

TEST_F(PassTest, ABodyCutByTheTimeoutEndsTheClientsConnectionShortOfItsLength) {
  CannedUpstream upstream({{std::string("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab") +
                            std::string(20, CannedUpstream::kPause) + "cd"}});
  Start(upstream.port(), milliseconds(500));
  int fd = Connect(port_);
  SendAll(fd, "GET /api/x HTTP/1.1\r\nHost: crm\r\n\r\n");
  bool closed = false;
  std::string got = ReceiveUntil(fd, HasWholeResponse, &closed);
  ::close(fd);
  EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 200") << got;
  EXPECT_EQ(BodyOf(got), "ab");
  EXPECT_TRUE(closed);
}

TEST_F(PassTest, AKeptConnectionTheUpstreamClosedIsRetriedOnAFreshOneForAGet) {
  // The first reply keeps the connection alive, then the upstream closes it anyway (a slice
  // restarting): the next GET finds it closed and goes again on a new connection.
  CannedUpstream upstream({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true},
                           {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain"}});
  Start(upstream.port());
  int fd = Connect(port_);
  SendAll(fd, "GET /api/x HTTP/1.1\r\nHost: crm\r\n\r\n");
  EXPECT_EQ(BodyOf(ReceiveUntil(fd, HasWholeResponse)), "ok");
  SendAll(fd, "GET /api/y HTTP/1.1\r\nHost: crm\r\n\r\n");
  EXPECT_EQ(BodyOf(ReceiveUntil(fd, HasWholeResponse)), "again");
  ::close(fd);
  EXPECT_EQ(upstream.connections(), 2);
}

TEST_F(PassTest, AClientThatAsksToCloseIsToldSoAndClosed) {
  CannedUpstream upstream(
      {{"HTTP/1.1 204 No Content\r\n\r\n"}, {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  Start(upstream.port());
  int fd = Connect(port_);
  SendAll(fd, "DELETE /api/x HTTP/1.1\r\nHost: crm\r\nConnection: close\r\n\r\n");
  bool closed = false;
  std::string got = ReceiveUntil(
      fd, [](const std::string&) { return false; }, &closed);
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_EQ(got, "HTTP/1.1 204 No Content\r\nX-Added: yes\r\nConnection: close\r\n\r\n");
  // HTTP/1.0 without keep-alive: answered in its version, then closed.
  fd = Connect(port_);
  SendAll(fd, "GET /api/x HTTP/1.0\r\n\r\n");
  closed = false;
  got = ReceiveUntil(
      fd, [](const std::string&) { return false; }, &closed);
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_EQ(got, "HTTP/1.0 200 OK\r\nX-Added: yes\r\nContent-Length: 2\r\n\r\nok");
}

// A HEAD is answered with the length a GET would get and no body; a 304 with neither; and the
// connections on both sides stay usable.
TEST_F(PassTest, AHeadGetsTheLengthButNoBodyAndA304NoLength) {
  CannedUpstream upstream(
      {{"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 1234\r\n\r\n"},
       {"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n"},
       {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  Start(upstream.port());
  int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  SendAll(fd, "HEAD /api/export HTTP/1.1\r\nHost: crm\r\n\r\n");
  std::string head = ReceiveUntil(
      fd, [](const std::string& in) { return in.find("\r\n\r\n") != std::string::npos; });
  EXPECT_EQ(head,
            "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nX-Added: yes\r\n"
            "Content-Length: 1234\r\n\r\n");
  SendAll(fd, "GET /api/x HTTP/1.1\r\nHost: crm\r\nIf-None-Match: \"v1\"\r\n\r\n");
  std::string not_modified = ReceiveUntil(
      fd, [](const std::string& in) { return in.find("\r\n\r\n") != std::string::npos; });
  EXPECT_EQ(not_modified, "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nX-Added: yes\r\n\r\n");
  SendAll(fd, "GET /api/y HTTP/1.1\r\nHost: crm\r\n\r\n");
  EXPECT_EQ(BodyOf(ReceiveUntil(fd, HasWholeResponse)), "ok");
  ::close(fd);
  EXPECT_EQ(upstream.connections(), 1);
}

TEST(UpstreamIdleTest, EachEventLoopKeepsAndReusesItsOwnIdleConnections) {
  constexpr char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  CannedUpstream upstream({{kOk}, {kOk}, {kOk}, {kOk}, {kOk}, {kOk}});
  IoPool io(2);
  // One idle connection kept per event loop.
  auto pool = std::make_shared<Upstream>(
      ParseEndpoint("127.0.0.1:" + std::to_string(upstream.port())), 1, milliseconds(5000));
  Server server(io, ServerLimits{}, [&pool](Exchange& ex) { return Passing(pool, ex); });
  int port = server.Listen(ParseEndpoint("127.0.0.1:0")).port;
  server.Start();
  io.Start();

  // Two clients, which the server gives to its two event loops in turn, take turns three times.
  int first = Connect(port);
  int second = Connect(port);
  for (int round = 0; round < 3; ++round) {
    for (int fd : {first, second}) {
      SendAll(fd, "GET /api/x HTTP/1.1\r\nHost: crm\r\n\r\n");
      EXPECT_EQ(BodyOf(ReceiveUntil(fd, HasWholeResponse)), "ok") << "round " << round;
    }
  }
  ::close(first);
  ::close(second);
  server.Shutdown(milliseconds(1000));
  io.Stop();
  // Each loop reused the connection it opened. With one bound for both loops, whichever loop
  // put its connection back second found the place taken and closed it, and opened another for
  // its next request (3 or 4 in all, by which loop was first each time).
  EXPECT_EQ(upstream.connections(), 2);
}

}  // namespace
}  // namespace crm::http
