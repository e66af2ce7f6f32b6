#include "crm/http/endpoint.hpp"

#include <sys/un.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <charconv>

#include "crm/error.hpp"

namespace crm::http {

Protocol::endpoint Endpoint::Generic() const {
  if (is_unix) {
    return Protocol::endpoint(asio::local::stream_protocol::endpoint(path));
  }
  return Protocol::endpoint(asio::ip::tcp::endpoint(asio::ip::make_address(host), port));
}

std::string Endpoint::ToString() const {
  if (is_unix) {
    return "unix:" + path;
  }
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

Endpoint ParseEndpoint(const std::string& text) {
  Endpoint ep;
  auto fail = [&](const std::string& why) -> Endpoint {
    throw InputError("expected host:port or unix:/path, got \"" + text + "\"" +
                     (why.empty() ? "" : ": " + why));
  };
  if (text.rfind("unix:", 0) == 0) {
    ep.is_unix = true;
    ep.path = text.substr(5);
    if (ep.path.empty() || ep.path.front() != '/') {
      return fail("the socket path must be absolute");
    }
    if (ep.path.size() >= sizeof(sockaddr_un::sun_path)) {
      return fail("the socket path is longer than " +
                  std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    return ep;
  }
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return fail("");
  }
  std::string host = text.substr(0, colon);
  std::string port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    host = "0.0.0.0";
  } else if (host == "localhost") {
    host = "127.0.0.1";
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return fail("the port must be a number from 0 to 65535");
  }
  boost::system::error_code addr_ec;
  asio::ip::make_address(host, addr_ec);
  if (addr_ec) {
    return fail("\"" + host + "\" is not a numeric IP address");
  }
  ep.host = host;
  ep.port = static_cast<unsigned short>(value);
  return ep;
}

}  // namespace crm::http
