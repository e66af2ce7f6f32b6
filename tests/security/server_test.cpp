// The HTTP server under attack at the connection level (docs/security.md): anonymous large bodies
// refused on their headers, unknown transfer codings, keep-alive header trickles, one address
// holding every connection, and one tenant opening event streams without end. Raw sockets, since
// each attack is about bytes an ordinary client would not send.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <thread>

#include "../integration/runtime_fixture.hpp"

namespace crm::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// One TCP connection to crmd, from `source` (any 127/8 address works on Linux loopback).
class RawConnection {
 public:
  RawConnection(int port, const std::string& source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }
  ~RawConnection() { Close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  /// False once the peer refuses more (reset or closed).
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Everything received until `done(received)` holds, the peer closes, or `within` passes.
  /// `closed()` says whether the peer closed (or reset) the connection.
  std::string Receive(milliseconds within,
                      const std::function<bool(const std::string&)>& done = {}) {
    std::string received;
    auto deadline = Clock::now() + within;
    while (!closed_ && (!done || !done(received))) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        break;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) {
        continue;
      }
      char buf[16384];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      received.append(buf, static_cast<std::size_t>(n));
    }
    return received;
  }

  /// Sends `header`, then up to `body_size` bytes of body while reading the answer, so a server
  /// that answers on the header alone is seen to do so. Returns what was received.
  std::string PostWithoutWaiting(const std::string& header, std::size_t body_size) {
    if (!Send(header)) {
      return {};
    }
    const std::string chunk(64 * 1024, 'x');
    std::string received;
    std::size_t sent = 0;
    auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!closed_ && Clock::now() < deadline) {
      short events = POLLIN;
      if (sent < body_size) {
        events |= POLLOUT;
      }
      pollfd p{fd_, events, 0};
      if (::poll(&p, 1, 1000) <= 0) {
        continue;
      }
      if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[16384];
        ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) {
          closed_ = true;
          break;
        }
        received.append(buf, static_cast<std::size_t>(n));
      } else if ((p.revents & POLLOUT) != 0) {
        std::size_t want = std::min(chunk.size(), body_size - sent);
        ssize_t n = ::send(fd_, chunk.data(), want, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN) {
          closed_ = true;
          break;
        }
        sent += n > 0 ? static_cast<std::size_t>(n) : 0;
      }
    }
    return received;
  }

  /// Sends `bytes` again and again, without reading, until the peer has taken nothing for
  /// `stalled` (it stopped reading: the buffers between us are full) or refuses more. Returns
  /// how many copies went out whole.
  std::size_t SendUntilStalled(const std::string& bytes, milliseconds stalled) {
    std::size_t whole = 0;
    std::size_t at = 0;
    for (;;) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(stalled.count())) <= 0 || (p.revents & POLLOUT) == 0) {
        return whole;
      }
      ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EAGAIN) {
        continue;
      }
      if (n <= 0) {
        return whole;
      }
      at += static_cast<std::size_t>(n);
      if (at == bytes.size()) {
        at = 0;
        ++whole;
      }
    }
  }

  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

// "HTTP/1.1 401 Unauthorized…" → 401; 0 without a status line.
int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) {
    return 0;
  }
  return std::stoi(response.substr(9, 3));
}

bool HasFullHead(const std::string& received) {
  return received.find("\r\n\r\n") != std::string::npos;
}

// A process's resident memory (kB) from /proc: "VmRSS" now, "VmHWM" its peak.
long MemoryKb(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::stol(line.substr(field.size() + 1));
    }
  }
  return -1;
}

class ServerTest : public RuntimeTest {
 protected:
  int Port() const { return std::stoi(crmd_->url().substr(crmd_->url().rfind(':') + 1)); }
};

TEST_F(ServerTest, AnonymousLargeBodiesAreRefusedOnTheirHeadersNotBuffered) {
  const pid_t gateway = crmd_->pid();
  const long rss_before = MemoryKb(gateway, "VmRSS");
  ASSERT_GT(rss_before, 0);
  // 30 anonymous uploads just under the broadcast limit, at once: each must be answered 401 on
  // its header, and the gateway must not hold their bodies.
  const std::size_t body = 30u << 20;
  const std::string header =
      "POST /api/broadcasts HTTP/1.1\r\nHost: crm\r\nContent-Type: "
      "text/csv\r\nContent-Length: " +
      std::to_string(body) + "\r\n\r\n";
  std::vector<int> statuses(30, 0);
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    clients.emplace_back([&, i] {
      RawConnection c(Port());
      statuses[i] = StatusOf(c.PostWithoutWaiting(header, body));
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    EXPECT_EQ(statuses[i], 401) << "client " << i;
  }
  const long peak = MemoryKb(gateway, "VmHWM");
  EXPECT_LT(peak - rss_before, 200 * 1024)
      << "gateway grew from " << rss_before << " kB to a peak of " << peak << " kB";
  // A signed-in tenant still gets its large route's limit.
  Tenant ana = Register("ana@example.com");
  RawConnection c(Port());
  ASSERT_TRUE(
      c.Send("POST /api/broadcasts HTTP/1.1\r\nHost: crm\r\nCookie: crm_session=" + ana.token +
             "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(40u << 20) +
             "\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.Receive(milliseconds(5'000), HasFullHead)), 413);
}

// A client that reads the refusal only after sending its whole body (curl without
// Expect: 100-continue does) must still be able to send it: a server that closes with the body
// unread resets the connection, and the client sees a broken pipe instead of the answer.
TEST_F(ServerTest, ARefusedClientCanFinishSendingItsBodyAndTheConnectionEndsCleanly) {
  RawConnection c(Port());
  ASSERT_TRUE(c.connected());
  const std::size_t body = 8u << 20;
  ASSERT_TRUE(c.Send("POST /api/broadcasts HTTP/1.1\r\nHost: crm\r\nContent-Type: text/csv\r\n"
                     "Content-Length: " +
                     std::to_string(body) + "\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.Receive(milliseconds(5'000), HasFullHead)), 401);
  // The answer is in; the server has ended its side but still takes (and drops) the body.
  EXPECT_TRUE(c.Send(std::string(body, 'x'))) << "the server reset the connection: " << errno;
  c.Receive(milliseconds(5'000));
  EXPECT_TRUE(c.closed());
}

TEST_F(ServerTest, AnUnknownTransferEncodingIsRefusedAndItsBodyNeverBecomesARequest) {
  for (const std::string coding : {"gzip", "chunked, identity", "identity",
                                   "gzip, chunked\r\n"
                                   "Transfer-Encoding: gzip"}) {
    RawConnection c(Port());
    ASSERT_TRUE(c.connected());
    // The "body" is a whole second request: a server that ignores the coding answers it too.
    ASSERT_TRUE(c.Send("POST /auth/login HTTP/1.1\r\nHost: crm\r\nTransfer-Encoding: " + coding +
                       "\r\n\r\nGET /health HTTP/1.1\r\nHost: crm\r\n\r\n"));
    std::string got = c.Receive(milliseconds(5'000));
    // Two Transfer-Encoding fields are malformed to the parser already (400); either way the
    // body is never read.
    int status = StatusOf(got);
    EXPECT_TRUE(status == 501 || (status == 400 && coding.find('\r') != std::string::npos))
        << coding << ": " << got;
    EXPECT_EQ(got.find("HTTP/1.1", 1), std::string::npos) << coding << ": " << got;
    EXPECT_TRUE(c.closed()) << coding;
  }
  // Plain chunked still works.
  RawConnection c(Port());
  ASSERT_TRUE(
      c.Send("GET /health HTTP/1.1\r\nHost: crm\r\nTransfer-Encoding: chunked\r\n\r\n"
             "0\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.Receive(milliseconds(5'000), HasFullHead)), 200);
}

// A whole response (its head and the body its Content-Length gives) is in `received`.
bool HasWholeResponse(const std::string& received) {
  auto end = received.find("\r\n\r\n");
  if (end == std::string::npos) {
    return false;
  }
  auto cl = received.find("Content-Length: ");
  std::size_t length =
      cl != std::string::npos && cl < end ? std::stoul(received.substr(cl + 16)) : 0;
  return received.size() >= end + 4 + length;
}

std::string ApiGet(const std::string& path, const Tenant& t) {
  return "GET " + path + " HTTP/1.1\r\nHost: crm\r\nCookie: crm_session=" + t.token + "\r\n\r\n";
}

// The gateway remembers a keep-alive connection's session between its requests: signing out
// must still end it at once, on that connection too, whether the sign-out came on it or on
// another.
TEST_F(ServerTest, ASignedOutSessionIsRefusedOnTheKeptAliveConnectionThatUsedIt) {
  Tenant ana = Register("ana@example.com");
  RawConnection kept(Port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(kept.Send(ApiGet("/api/status", ana)));
    std::string got = kept.Receive(milliseconds(10'000), HasWholeResponse);
    ASSERT_EQ(StatusOf(got), 200) << got;
  }
  ASSERT_EQ(Fetch("POST", Url("/auth/logout"), {}, ana.Auth()).status, 204);
  ASSERT_TRUE(kept.Send(ApiGet("/api/status", ana)));
  std::string refused = kept.Receive(milliseconds(10'000), HasWholeResponse);
  EXPECT_EQ(StatusOf(refused), 401) << refused;

  Tenant bob = Register("bob@example.com");
  RawConnection own(Port());
  ASSERT_TRUE(own.Send(ApiGet("/api/status", bob)));
  ASSERT_EQ(StatusOf(own.Receive(milliseconds(10'000), HasWholeResponse)), 200);
  ASSERT_TRUE(own.Send("POST /auth/logout HTTP/1.1\r\nHost: crm\r\nCookie: crm_session=" +
                       bob.token + "\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_EQ(StatusOf(own.Receive(milliseconds(10'000), HasWholeResponse)), 204);
  ASSERT_TRUE(own.Send(ApiGet("/api/status", bob)));
  std::string after = own.Receive(milliseconds(10'000), HasWholeResponse);
  EXPECT_EQ(StatusOf(after), 401) << after;
}

// One connection carrying two tenants' cookies in turn: each request goes to the slice of the
// session it names, never to the one the connection remembered from the request before.
TEST_F(ServerTest, AKeptAliveConnectionSwitchingSessionsReachesEachSessionsOwnSlice) {
  Tenant ana = Register("ana@example.com");
  Tenant eve = Register("eve@example.com");
  const std::string path = "/api/contacts/" +
                           std::to_string(CreateContact(ana, "Secret Client", "+447700900123"));
  RawConnection c(Port());
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(c.Send(ApiGet(path, ana)));
    std::string mine = c.Receive(milliseconds(10'000), HasWholeResponse);
    EXPECT_EQ(StatusOf(mine), 200) << mine;
    ASSERT_TRUE(c.Send(ApiGet(path, eve)));
    std::string theirs = c.Receive(milliseconds(10'000), HasWholeResponse);
    EXPECT_EQ(StatusOf(theirs), 404) << theirs;
    EXPECT_EQ(theirs.find("Secret Client"), std::string::npos) << theirs;
  }
  // A token that is no session (Ana's but for its last character), on the same connection:
  // refused, not taken for the session the connection remembers.
  Tenant forger = ana;
  forger.token.back() = forger.token.back() == 'A' ? 'B' : 'A';
  ASSERT_TRUE(c.Send(ApiGet(path, ana)));
  ASSERT_EQ(StatusOf(c.Receive(milliseconds(10'000), HasWholeResponse)), 200);
  ASSERT_TRUE(c.Send(ApiGet("/api/status", forger)));
  std::string forged = c.Receive(milliseconds(10'000), HasWholeResponse);
  EXPECT_EQ(StatusOf(forged), 401) << forged;
}

// Requests that arrive together (pipelined) and a head that arrives in pieces: each is read whole
// and answered in order on the one connection.
TEST_F(ServerTest, PipelinedRequestsAndAHeadInPiecesAreEachAnsweredInOrder) {
  Tenant ana = Register("ana@example.com");
  RawConnection c(Port());
  ASSERT_TRUE(c.Send(ApiGet("/api/status", ana)));
  ASSERT_EQ(StatusOf(c.Receive(milliseconds(10'000), HasWholeResponse)), 200);
  // Both heads in one write: the second is parsed from what the first read left over.
  ASSERT_TRUE(c.Send(ApiGet("/api/contacts/999999", ana) + ApiGet("/api/status", ana)));
  auto second_whole = [](const std::string& got) {
    auto at = got.find("HTTP/1.1 200");
    return at != std::string::npos && HasWholeResponse(got.substr(at));
  };
  std::string both = c.Receive(milliseconds(10'000), second_whole);
  EXPECT_EQ(StatusOf(both), 404) << both;
  ASSERT_TRUE(second_whole(both)) << both;
  // One head in three writes, the cut inside the cookie's value.
  std::string head = ApiGet("/api/status", ana);
  std::size_t cut = head.find("crm_session=") + 15;
  ASSERT_TRUE(c.Send(head.substr(0, 10)));
  c.Receive(milliseconds(100));
  ASSERT_TRUE(c.Send(head.substr(10, cut - 10)));
  c.Receive(milliseconds(100));
  ASSERT_TRUE(c.Send(head.substr(cut)));
  std::string pieced = c.Receive(milliseconds(10'000), HasWholeResponse);
  EXPECT_EQ(StatusOf(pieced), 200) << pieced;
  EXPECT_FALSE(c.closed());
}

// TRACE (which echoes a request, cookies included, in some servers), CONNECT and methods the
// parser does not know never reach a slice: 501, and the connection goes on.
TEST_F(ServerTest, TraceConnectAndUnknownMethodsOnTheApiAre501) {
  Tenant ana = Register("ana@example.com");
  RawConnection c(Port());
  for (std::string method : {"TRACE", "CONNECT", "BREW"}) {
    ASSERT_TRUE(c.Send(method + " /api/status HTTP/1.1\r\nHost: crm\r\nCookie: crm_session=" +
                       ana.token + "\r\n\r\n"));
    std::string got = c.Receive(milliseconds(10'000), HasWholeResponse);
    EXPECT_EQ(StatusOf(got), 501) << method << ": " << got;
    EXPECT_EQ(got.find(ana.token), std::string::npos) << got;
  }
  ASSERT_TRUE(c.Send(ApiGet("/api/status", ana)));
  std::string after = c.Receive(milliseconds(10'000), HasWholeResponse);
  EXPECT_EQ(StatusOf(after), 200) << after;
}

class KeepAliveTest : public ServerTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_HEADER_TIMEOUT"] = "1s";
    env["CRM_IDLE_TIMEOUT"] = "60s";
  }
};

TEST_F(KeepAliveTest, TheNextRequestsHeadersMustArriveWithinTheHeaderTimeout) {
  RawConnection c(Port());
  ASSERT_TRUE(c.Send("GET /health HTTP/1.1\r\nHost: crm\r\n\r\n"));
  std::string first = c.Receive(milliseconds(5'000), HasFullHead);
  ASSERT_EQ(StatusOf(first), 200) << first;
  // The second request starts and then trickles: the header timeout (1 s) ends it, not the idle
  // timeout (60 s).
  auto started = Clock::now();
  ASSERT_TRUE(c.Send("GET /health HTTP/1.1\r\nHost: crm\r\n"));
  while (!c.closed() && Clock::now() - started < std::chrono::seconds(10)) {
    if (!c.Send("X-Trickle: 1\r\n")) {
      break;
    }
    c.Receive(milliseconds(200));
  }
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(8)) << "a trickle outlived the header "
                                                                "timeout";
}

TEST_F(KeepAliveTest, AnIdleKeepAliveConnectionWaitsForItsNextRequest) {
  RawConnection c(Port());
  ASSERT_TRUE(c.Send("GET /health HTTP/1.1\r\nHost: crm\r\n\r\n"));
  ASSERT_EQ(StatusOf(c.Receive(milliseconds(5'000), HasFullHead)), 200);
  // Longer than the header timeout without a byte: still open (the idle timeout applies).
  c.Receive(milliseconds(2'500));
  ASSERT_FALSE(c.closed());
  ASSERT_TRUE(c.Send("GET /health HTTP/1.1\r\nHost: crm\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.Receive(milliseconds(5'000), HasFullHead)), 200);
}

class IdleTimeoutTest : public ServerTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_HEADER_TIMEOUT"] = "30s";
    env["CRM_IDLE_TIMEOUT"] = "1s";
  }
};

TEST_F(IdleTimeoutTest, AKeptAliveConnectionSilentPastTheIdleTimeoutIsClosed) {
  RawConnection c(Port());
  ASSERT_TRUE(c.Send("GET /health HTTP/1.1\r\nHost: crm\r\n\r\n"));
  ASSERT_EQ(StatusOf(c.Receive(milliseconds(5'000), HasFullHead)), 200);
  // Not a byte more: the idle timeout (1 s) closes it, long before the header timeout (30 s).
  std::string more = c.Receive(milliseconds(20'000));
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(more, "");
}

class WriteTimeoutTest : public ServerTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_WRITE_TIMEOUT"] = "1s";
    env["CRM_IDLE_TIMEOUT"] = "60s";
  }
};

std::size_t CountOf(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// A client that asks for large answers and never reads them must not hold its connection (and
// the answers' buffers) for ever: once a write has waited the write timeout (1 s here), the
// connection is closed. Both for an answer the gateway makes itself (a 404 naming its ~8 KB path)
// and for one it passes on from the tenant's slice (the slice's 404, the same size).
TEST_F(WriteTimeoutTest, AClientThatNeverReadsItsAnswersIsClosedAfterTheWriteTimeout) {
  Tenant ana = Register("ana@example.com");
  const std::string tail(8000, 'x');
  for (const std::string& request :
       {"GET /admin/" + tail + " HTTP/1.1\r\nHost: crm\r\n\r\n", ApiGet("/api/" + tail, ana)}) {
    RawConnection c(Port());
    ASSERT_TRUE(c.connected());
    // Pipelined requests, none of their answers read, until the gateway stops reading the next
    // ones: it is then blocked writing an answer the client does not take.
    const std::size_t sent = c.SendUntilStalled(request, milliseconds(1'000));
    ASSERT_GT(sent, 10u) << request.substr(0, 16);
    // The write timeout and a generous margin, still not reading.
    std::this_thread::sleep_for(std::chrono::seconds(4));
    // Reading now: a connection the gateway kept would get every answer and stay open (the idle
    // timeout is 60 s); a closed one ends, with answers missing.
    std::string got = c.Receive(milliseconds(20'000));
    EXPECT_TRUE(c.closed()) << request.substr(0, 16) << ": still open after " << sent
                            << " requests, " << got.size() << " bytes read";
    EXPECT_LT(CountOf(got, "HTTP/1.1 "), sent) << request.substr(0, 16);
  }
  // The gateway still serves.
  RawConnection after(Port());
  ASSERT_TRUE(after.Send(ApiGet("/api/status", ana)));
  EXPECT_EQ(StatusOf(after.Receive(milliseconds(10'000), HasWholeResponse)), 200);
}

class ConnectionCapTest : public ServerTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_MAX_CONNECTIONS_PER_IP"] = "6";
  }
};

TEST_F(ConnectionCapTest, OneAddressCannotHoldMoreThanItsShareOfConnections) {
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 6; ++i) {
    held.push_back(std::make_unique<RawConnection>(Port()));
    ASSERT_TRUE(held.back()->connected());
  }
  // The seventh from the same address is turned away at once; its requests are never read.
  RawConnection extra(Port());
  std::string refused = extra.Receive(milliseconds(5'000));
  EXPECT_TRUE(refused.empty() || StatusOf(refused) == 503) << refused;
  EXPECT_TRUE(extra.closed());
  // Another address is not affected.
  RawConnection other(Port(), "127.0.0.2");
  ASSERT_TRUE(other.Send("GET /health HTTP/1.1\r\nHost: crm\r\n\r\n"));
  EXPECT_EQ(StatusOf(other.Receive(milliseconds(5'000), HasFullHead)), 200);
  // Freeing one lets the next one in.
  held.pop_back();
  long status = 0;
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (status != 200 && Clock::now() < deadline) {
    status = Fetch("GET", Url("/health"), {}, {}, 2'000).status;
  }
  EXPECT_EQ(status, 200);
}

class EventStreamCapTest : public ServerTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_EVENT_STREAMS_PER_TENANT"] = "3";
  }
};

TEST_F(EventStreamCapTest, ATenantsEventStreamsAreCapped) {
  Tenant ana = Register("ana@example.com");
  const std::string request =
      "GET /api/events HTTP/1.1\r\nHost: crm\r\nCookie: crm_session=" + ana.token + "\r\n\r\n";
  auto connected = [](const std::string& s) {
    return s.find("connected to slice") != std::string::npos;
  };
  std::vector<std::unique_ptr<RawConnection>> streams;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(std::make_unique<RawConnection>(Port()));
    ASSERT_TRUE(streams.back()->Send(request));
    std::string got = streams.back()->Receive(milliseconds(10'000), connected);
    ASSERT_EQ(StatusOf(got), 200) << got;
  }
  auto over = Fetch("GET", Url("/api/events"), {}, ana.Auth(), 5'000);
  EXPECT_EQ(over.status, 429) << over.body;
  EXPECT_NE(over.body.find("event streams"), std::string::npos) << over.body;
  // Closing one frees its place (the slice sees the close when it next writes, or at once).
  streams.pop_back();
  int status = 0;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (status != 200 && Clock::now() < deadline) {
    RawConnection again(Port());
    again.Send(request);
    status = StatusOf(again.Receive(milliseconds(2'000), connected));
  }
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace crm::testing
