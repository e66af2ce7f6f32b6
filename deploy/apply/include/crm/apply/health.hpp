// A health probe over HTTP: apply waits for crmd's /health and /ready, status asks /health.
#pragma once

#include <string>

namespace crm::apply {

struct HttpAnswer {
  long status = 0;  ///< 0: no answer
  std::string body;
  std::string error;
};
/// GET `url` with a time limit. Never throws.
HttpAnswer HttpGet(const std::string& url, long timeout_ms);

}  // namespace crm::apply
