// A local stand-in for api.stripe.com that speaks its wire format: form-encoded bodies with
// nested keys, Bearer secret keys (401 error object otherwise), customers, Checkout Sessions,
// Customer Portal sessions, subscriptions, idempotent replay by Idempotency-Key (400
// idempotency_error when a key comes back with other parameters) and a switch to answer 429.
// SendStripeEvent delivers a signed webhook event to a gateway as Stripe does.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "crm/billing/form.hpp"
#include "crm/http/server.hpp"
#include "crm/testing/http_client.hpp"

namespace crm::testing {

/// One request the stand-in answered.
struct StripeCall {
  std::string method;
  std::string path;
  billing::FormFields form;
  std::string idempotency_key;
  long status = 0;

  /// The form value of `key` ("" when absent).
  std::string Field(const std::string& key) const;
};

class StripeStandIn {
 public:
  explicit StripeStandIn(std::string secret_key = "sk_test_stand_in");
  ~StripeStandIn();
  StripeStandIn(const StripeStandIn&) = delete;
  StripeStandIn& operator=(const StripeStandIn&) = delete;

  /// "http://127.0.0.1:PORT": what CRM_STRIPE_API_URL points at.
  std::string url() const;
  const std::string& secret_key() const { return secret_key_; }

  /// Every later request is answered 429 rate_limit (until switched off).
  void SetRateLimited(bool on);
  /// What GET /v1/subscriptions/{id} answers (an object with "id").
  void PutSubscription(const nlohmann::json& subscription);

  std::vector<StripeCall> calls();
  /// The calls to `path` (e.g. "/v1/checkout/sessions").
  std::vector<StripeCall> calls(const std::string& path);

 private:
  struct Stored {
    billing::FormFields form;
    long status;
    std::string body;
  };
  http::Reply Handle(http::Exchange& ex);
  http::Response Answer(const std::string& method, const std::string& path,
                        const billing::FormFields& form, long& status);

  std::string secret_key_;
  http::IoPool io_{1};
  http::Server server_;
  unsigned short port_ = 0;
  std::mutex mutex_;
  bool rate_limited_ = false;
  int next_id_ = 1;
  std::vector<StripeCall> calls_;
  std::map<std::string, Stored> idempotent_;
  std::map<std::string, nlohmann::json> subscriptions_;
};

/// A Stripe event as Stripe sends it: {"id", "object": "event", "api_version", "created",
/// "livemode": false, "type", "data": {"object": object}}.
nlohmann::json StripeEvent(const std::string& id, const std::string& type,
                           const nlohmann::json& object, long long created);

/// POSTs `event` to `gateway_url`/billing/webhook signed with `secret` at time `signed_at`
/// (default: now), as Stripe's delivery does.
HttpResult SendStripeEvent(const std::string& gateway_url, const std::string& secret,
                           const nlohmann::json& event, long long signed_at = 0,
                           long timeout_ms = 10'000);

/// Seconds since the epoch, now.
long long UnixNow();

}  // namespace crm::testing
