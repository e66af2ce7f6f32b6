// A slice's Cloud API channel, built from its configuration (the number it sends from, the token).
#pragma once

#include <memory>

#include "crm/channel/channel.hpp"
#include "crm/config/config.hpp"

namespace crm::slice {

/// The Cloud API channel for the number `config` names.
std::unique_ptr<channel::Channel> MakeCloudApiChannel(const config::RuntimeConfig& config);

}  // namespace crm::slice
