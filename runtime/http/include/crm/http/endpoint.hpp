// Where a crmd server listens or a client connects: a TCP address or a Unix socket, behind one
// socket type (slices listen on either).
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <string>

namespace crm::http {

namespace asio = boost::asio;

/// One socket type for TCP and Unix sockets.
using Protocol = asio::generic::stream_protocol;

/// "127.0.0.1:8080", ":8080", "[::1]:80", "unix:/run/crmd/slice-7.sock".
struct Endpoint {
  bool is_unix = false;
  std::string path;  ///< Unix socket path
  std::string host;  ///< numeric address
  unsigned short port = 0;
  Protocol::endpoint Generic() const;
  std::string ToString() const;
};
/// Throws InputError("expected host:port or unix:/path, got …").
Endpoint ParseEndpoint(const std::string& text);

}  // namespace crm::http
