#include "crm/http/probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "crm/http/message.hpp"

namespace crm::http {

bool Probe(const Endpoint& endpoint, const std::string& path, std::chrono::milliseconds timeout) {
  return ProbeGet(endpoint, path, timeout).status / 100 == 2;
}

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
