#include "crm/http/endpoint.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::http {
namespace {

TEST(EndpointTest, ParsesTcpAndUnixSockets) {
  auto tcp = ParseEndpoint("127.0.0.1:8080");
  EXPECT_FALSE(tcp.is_unix);
  EXPECT_EQ(tcp.port, 8080);
  EXPECT_EQ(ParseEndpoint(":9000").host, "0.0.0.0");
  EXPECT_EQ(ParseEndpoint("[::1]:80").ToString(), "[::1]:80");
  auto unix_socket = ParseEndpoint("unix:/run/crmd/slice-7.sock");
  EXPECT_TRUE(unix_socket.is_unix);
  EXPECT_EQ(unix_socket.path, "/run/crmd/slice-7.sock");
  for (const char* bad :
       {"8080", "host:80", "127.0.0.1:99999", "unix:relative.sock", "127.0.0.1:"}) {
    EXPECT_THROW(ParseEndpoint(bad), InputError) << bad;
  }
}

}  // namespace
}  // namespace crm::http
