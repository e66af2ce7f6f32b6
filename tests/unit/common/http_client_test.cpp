#include "crm/http_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "crm/ports.hpp"

namespace crm {
namespace {

// A loopback server answering each request with the same raw HTTP response (one request per
// connection), recording what it received.
class CannedServer {
 public:
  explicit CannedServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<std::string> received() const { return received_; }

 private:
  void Serve() {
    while (!stop_) {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) {
        return;
      }
      std::string request;
      char buf[4096];
      // Headers, then a body of Content-Length bytes.
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(client, buf, sizeof buf);
        if (n <= 0) {
          break;
        }
        request.append(buf, static_cast<std::size_t>(n));
      }
      std::size_t want = 0;
      if (auto at = request.find("Content-Length: "); at != std::string::npos) {
        want = std::stoul(request.substr(at + 16));
      }
      while (request.size() - (request.find("\r\n\r\n") + 4) < want) {
        const ssize_t n = ::read(client, buf, sizeof buf);
        if (n <= 0) {
          break;
        }
        request.append(buf, static_cast<std::size_t>(n));
      }
      received_.push_back(request);
      (void)!::write(client, response_.data(), response_.size());
      ::close(client);
    }
  }

  std::string response_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<std::string> received_;
  std::thread thread_;
};

TEST(HttpClientTest, ReturnsStatusHeadersAndBody) {
  CannedServer server(
      "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-One: a\r\nSet-Cookie: s=1\r\n"
      "set-cookie: t=2\r\nConnection: close\r\n\r\nhello");
  HttpRequest request;
  request.method = "POST";
  request.url = server.Url("/things");
  request.headers = {"Content-Type: application/json"};
  request.body = R"({"a":1})";
  HttpResponse response = HttpFetch(request);
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.error, "");
  EXPECT_EQ(response.body, "hello");
  EXPECT_EQ(response.Header("x-one"), "a");
  EXPECT_EQ(response.Header("set-cookie"), "s=1\nt=2");
  EXPECT_FALSE(response.Header("x-missing").has_value());
  ASSERT_EQ(server.received().size(), 1u);
  const std::string sent = server.received()[0];
  EXPECT_TRUE(sent.starts_with("POST /things HTTP/1.1\r\n")) << sent;
  EXPECT_NE(sent.find("Content-Type: application/json\r\n"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("Expect:"), std::string::npos) << sent;
  EXPECT_TRUE(sent.ends_with(R"({"a":1})")) << sent;
}

TEST(HttpClientTest, KeepsOnlyResponseLimitBytesOfTheBody) {
  CannedServer server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789");
  HttpRequest request;
  request.url = server.Url("/");
  request.response_limit = 4;
  HttpResponse response = HttpFetch(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "0123");
}

TEST(HttpClientTest, TransportFailureIsStatusZeroWithAReason) {
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort()) + "/";
  request.timeout = std::chrono::seconds(5);
  HttpResponse response = HttpFetch(request);
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(response.error, "");
}

TEST(HttpClientTest, RefusesSchemesOtherThanHttp) {
  HttpRequest request;
  request.url = "file:///etc/hostname";
  HttpResponse response = HttpFetch(request);
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(response.error, "");
  EXPECT_EQ(response.body, "");
}

TEST(HttpClientTest, FetchAllAnswersInRequestOrder) {
  CannedServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  std::vector<HttpRequest> requests(5);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    requests[i].url = server.Url("/n" + std::to_string(i));
  }
  // The last one goes nowhere: its failure stays in its own place.
  requests[4].url = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort()) + "/";
  HttpClient client(2);
  std::vector<HttpResponse> responses = client.FetchAll(requests, 2);
  ASSERT_EQ(responses.size(), 5u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(responses[i].status, 200) << i;
    EXPECT_EQ(responses[i].body, "ok") << i;
  }
  EXPECT_EQ(responses[4].status, 0);
  EXPECT_EQ(server.received().size(), 4u);
}

}  // namespace
}  // namespace crm
