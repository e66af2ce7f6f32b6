#include "slice_upstreams.hpp"

namespace crm::gateway {

std::shared_ptr<http::Upstream> SliceUpstreams::For(long long slice_id,
                                                    const std::string& endpoint) {
  std::lock_guard lock(mutex_);
  Entry& entry = upstreams_[slice_id];
  if (!entry.upstream || entry.endpoint != endpoint) {
    entry.upstream = std::make_shared<http::Upstream>(http::ParseEndpoint(endpoint), 32,
                                                      std::chrono::seconds(30));
    entry.endpoint = endpoint;
  }
  return entry.upstream;
}

}  // namespace crm::gateway
