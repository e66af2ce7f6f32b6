#include "crm/ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <random>

#include "crm/error.hpp"

namespace crm {
namespace {

// A socket bound to 127.0.0.1:port, or -1 when the port is taken.
int BindLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw RuntimeError("cannot create a socket to check loopback ports");
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

bool LoopbackPortFree(int port) {
  const int fd = BindLoopback(port);
  if (fd < 0) {
    return false;
  }
  ::close(fd);
  return true;
}

int FreeLoopbackPort() {
  // The kernel hands out ports from ip_local_port_range (32768-60999 by default) to every
  // outgoing connection and port-0 listener: a port picked there can be taken by any of them
  // between now and the caller's bind.
  int first_ephemeral = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) {
    range >> first_ephemeral;
  }
  constexpr int kLowest = 20000;
  if (first_ephemeral - kLowest > 1000) {
    std::random_device seed;
    std::mt19937 random(seed());
    std::uniform_int_distribution<int> pick(kLowest, first_ephemeral - 1);
    for (int i = 0; i < 200; ++i) {
      const int port = pick(random);
      if (LoopbackPortFree(port)) {
        return port;
      }
    }
  }
  const int fd = BindLoopback(0);
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (fd < 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    throw RuntimeError("cannot find a free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace crm
