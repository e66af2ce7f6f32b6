// crmd's wiring: each component's options, built from the one configuration. The only place that
// reads config::RuntimeConfig field by field; the components never see it.
#pragma once

#include "crm/config/config.hpp"
#include "crm/gateway/gateway.hpp"
#include "crm/slice/slice.hpp"
#include "crm/slicehost/slice_host.hpp"

namespace crm::crmd {

/// The gateway's database: the configured URL and password, `max_size` connections.
db::PoolOptions GatewayDatabase(const config::RuntimeConfig& config, std::size_t max_size = 1);
/// Body limits (larger for broadcasts and the WhatsApp webhook) and timeouts.
http::ServerLimits ServerLimitsFrom(const config::RuntimeConfig& config);
orchestrator::OrchestratorOptions OrchestratorOptionsFrom(const config::RuntimeConfig& config);
/// The gateway's mailer: SMTP when smtp_url is set, else .eml files under <data_dir>/mail.
mail::MailerOptions MailerOptionsFrom(const config::RuntimeConfig& config);
/// Throws InputError when `listen` is not an endpoint.
/// Billing's settings; off without a Stripe secret key.
billing::BillingOptions BillingOptionsFrom(const config::RuntimeConfig& config);

/// The monitor's checks, thresholds, alert delivery and telemetry (docs/operations.md,
/// "Monitoring").
monitor::MonitorOptions MonitorOptionsFrom(const config::RuntimeConfig& config);

/// `placement`: kSingleHost (`--role all`) or kGateway (`--role gateway`: slice hosts run the
/// slices).
gateway::GatewayOptions GatewayOptionsFrom(const config::RuntimeConfig& config,
                                           orchestrator::Placement placement);
/// `--role slice-host`. Throws InputError for a range, ordinal or address that does not parse.
slicehost::SliceHostOptions SliceHostOptionsFrom(const config::RuntimeConfig& config);
/// Throws InputError when `listen` is not an endpoint.
slice::SliceOptions SliceOptionsFrom(const config::RuntimeConfig& config, long long slice_id);

}  // namespace crm::crmd
