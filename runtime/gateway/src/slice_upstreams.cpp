#include "slice_upstreams.hpp"

namespace crm::gateway {

std::shared_ptr<http::Upstream> SliceUpstreams::For(long long slice_id,
                                                    const std::string& endpoint) {
  std::lock_guard lock(mutex_);
  auto& up = upstreams_[slice_id];
  if (!up || up->endpoint().ToString() != endpoint) {
    up = std::make_shared<http::Upstream>(http::ParseEndpoint(endpoint), 32,
                                          std::chrono::seconds(30));
  }
  return up;
}

}  // namespace crm::gateway
