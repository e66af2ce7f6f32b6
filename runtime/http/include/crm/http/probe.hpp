// A synchronous health probe: GET a path on an endpoint and report whether it answered 2xx.
#pragma once

#include <chrono>
#include <string>

#include "crm/http/endpoint.hpp"

namespace crm::http {

/// True when `endpoint` answers GET `path` with 2xx within `timeout`. Never throws.
bool Probe(const Endpoint& endpoint, const std::string& path, std::chrono::milliseconds timeout);

/// What a GET on an endpoint answered: status 0 when nothing arrived within the timeout.
struct ProbeAnswer {
  int status = 0;
  std::string body;
};

/// GET `path` on `endpoint` (a slice's Unix socket, say) within `timeout`. Never throws.
ProbeAnswer ProbeGet(const Endpoint& endpoint, const std::string& path,
                     std::chrono::milliseconds timeout);

}  // namespace crm::http
