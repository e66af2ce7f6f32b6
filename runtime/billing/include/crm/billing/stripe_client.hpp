// The calls billing makes to Stripe's API (https://api.stripe.com/v1, form-encoded, Bearer secret
// key), behind StripeApi so tests point it at a local stand-in (stripe_api_url). Every POST
// carries an Idempotency-Key naming its intent, so a retry replays instead of creating twice.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "crm/billing/form.hpp"
#include "crm/http_client.hpp"

namespace crm::billing {

struct StripeOptions {
  std::string secret_key;                          ///< sk_live_… / sk_test_…
  std::string api_url = "https://api.stripe.com";  ///< without /v1
  std::chrono::milliseconds timeout{15'000};       ///< per try
  int max_tries = 3;                               ///< where Stripe says a retry is safe
  std::chrono::milliseconds backoff{500};          ///< doubled after each try
};

/// What a Checkout Session is for.
struct CheckoutRequest {
  long long user_id = 0;
  std::string customer_id;
  std::string price_id;
  std::string promotion_code;  ///< empty: none
  std::string success_url;
  std::string cancel_url;
  std::string idempotency_key;
};

/// The Stripe objects billing creates and reads; each throws Unavailable when Stripe cannot be
/// reached or asks to come back later (nothing was created), ServiceError (502) when it refused
/// the call (the message says why, from Stripe's error object).
class StripeApi {
 public:
  virtual ~StripeApi() = default;
  /// A customer for `email`, metadata[user_id]; returns its id (cus_…).
  virtual std::string CreateCustomer(long long user_id, const std::string& email,
                                     const std::string& idempotency_key) = 0;
  /// A Checkout Session, mode=subscription; returns its url.
  virtual std::string CreateCheckoutSession(const CheckoutRequest& request) = 0;
  /// A Customer Portal session; returns its url.
  virtual std::string CreatePortalSession(const std::string& customer_id,
                                          const std::string& return_url,
                                          const std::string& idempotency_key) = 0;
  /// The subscription object as Stripe has it now.
  virtual nlohmann::json GetSubscription(const std::string& subscription_id) = 0;
  /// Cancels the subscription at once (DELETE /v1/subscriptions/{id}: no further invoices);
  /// one Stripe no longer has counts as canceled.
  virtual void CancelSubscription(const std::string& subscription_id) = 0;
};

/// A call's answer as an error: nullopt-like empty string when it is a success (2xx), else a
/// sentence for people built from Stripe's error object ({"error": {type, code, message,
/// param}}), e.g. "invalid_request_error (resource_missing, param line_items[0][price]): No such
/// price: 'price_x'".
std::string StripeErrorText(long status, const std::string& body);

/// Whether a failed try may be repeated: no answer, 409 (the same key in flight), 429, or a 5xx
/// unless Stripe-Should-Retry says false; Stripe-Should-Retry: true always may.
bool StripeMayRetry(const HttpResponse& response);

/// Turns a failed answer (after the last try) into the exception StripeApi documents; `what`
/// names the call ("create a checkout session").
[[noreturn]] void ThrowStripeFailure(const HttpResponse& response, const std::string& what);

/// StripeApi over crm::HttpClient.
class StripeClient : public StripeApi {
 public:
  explicit StripeClient(StripeOptions options);

  std::string CreateCustomer(long long user_id, const std::string& email,
                             const std::string& idempotency_key) override;
  std::string CreateCheckoutSession(const CheckoutRequest& request) override;
  std::string CreatePortalSession(const std::string& customer_id, const std::string& return_url,
                                  const std::string& idempotency_key) override;
  nlohmann::json GetSubscription(const std::string& subscription_id) override;
  void CancelSubscription(const std::string& subscription_id) override;

 private:
  /// Sends with Stripe's safe retries; returns the last answer, whatever its status.
  HttpResponse Send(const std::string& method, const std::string& path, const FormFields& form,
                    const std::string& idempotency_key, const std::string& what);
  /// Send, then the JSON of a 2xx answer; otherwise throws as StripeApi documents.
  nlohmann::json Call(const std::string& method, const std::string& path, const FormFields& form,
                      const std::string& idempotency_key, const std::string& what);

  StripeOptions options_;
  HttpClient http_;
};

}  // namespace crm::billing
