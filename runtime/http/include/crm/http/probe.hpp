// A synchronous health probe: GET a path on an endpoint and report whether it answered 2xx.
#pragma once

#include <chrono>
#include <string>

#include "crm/http/endpoint.hpp"

namespace crm::http {

/// True when `endpoint` answers GET `path` with 2xx within `timeout`. Never throws.
bool Probe(const Endpoint& endpoint, const std::string& path, std::chrono::milliseconds timeout);

}  // namespace crm::http
