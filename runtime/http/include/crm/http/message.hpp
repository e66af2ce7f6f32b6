// The HTTP/1.1 messages crmd's servers and clients exchange, and the stream they travel on.
#pragma once

#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "crm/http/endpoint.hpp"

namespace crm::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

using Stream = beast::basic_stream<Protocol>;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;
using Status = bhttp::status;

}  // namespace crm::http
