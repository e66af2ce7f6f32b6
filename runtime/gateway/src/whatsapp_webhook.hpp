// GET|POST /webhooks/whatsapp (SPEC §7.4): Meta's subscription handshake, and deliveries
// verified by X-Hub-Signature-256 before they are parsed, routed by phone_number_id to the
// slice that owns the number.
#pragma once

#include <functional>
#include <memory>

#include "crm/config/config.hpp"
#include "crm/db/pool.hpp"
#include "crm/http/blocking.hpp"
#include "crm/http/server.hpp"
#include "crm/http/upstream.hpp"

namespace crm::gateway {

using UpstreamFor =
    std::function<std::shared_ptr<http::Upstream>(long long slice_id, const std::string& endpoint)>;

void RegisterWhatsAppWebhook(http::Router& router, const config::RuntimeConfig& config,
                             db::Pool& pool, http::BlockingPool& blocking,
                             UpstreamFor upstream_for);

}  // namespace crm::gateway
