// Keep-alive upstreams to the slices the gateway proxies to, one per slice, replaced when the
// slice's endpoint changes.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "crm/http/upstream.hpp"

namespace crm::gateway {

class SliceUpstreams {
 public:
  /// The upstream of slice `slice_id` at `endpoint` ("unix:/…/http.sock").
  std::shared_ptr<http::Upstream> For(long long slice_id, const std::string& endpoint);

 private:
  struct Entry {
    std::string endpoint;  ///< as the caller named it
    std::shared_ptr<http::Upstream> upstream;
  };
  std::mutex mutex_;
  std::unordered_map<long long, Entry> upstreams_;
};

}  // namespace crm::gateway
