// Keep-alive upstreams to the slices the gateway proxies to, one per slice, replaced when the
// slice's endpoint changes.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "crm/http/upstream.hpp"

namespace crm::gateway {

class SliceUpstreams {
 public:
  explicit SliceUpstreams(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}
  /// The upstream of slice `slice_id` at `endpoint` ("unix:/…/http.sock").
  std::shared_ptr<http::Upstream> For(long long slice_id, const std::string& endpoint);

 private:
  boost::asio::any_io_executor executor_;
  std::mutex mutex_;
  std::unordered_map<long long, std::shared_ptr<http::Upstream>> upstreams_;
};

}  // namespace crm::gateway
