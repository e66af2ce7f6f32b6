#include "crm/slice/cloud_channel.hpp"

#include "crm/channel/cloud_api.hpp"

namespace crm::slice {

std::unique_ptr<channel::Channel> MakeCloudApiChannel(const config::RuntimeConfig& config) {
  channel::CloudApiOptions options;
  options.base_url = config.whatsapp_api_url;
  options.phone_number_id = config.whatsapp_phone_number_id;
  options.access_token = config.whatsapp_token;
  return std::make_unique<channel::CloudApiChannel>(std::move(options));
}

}  // namespace crm::slice
