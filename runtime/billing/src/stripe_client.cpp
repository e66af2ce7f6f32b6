#include "crm/billing/stripe_client.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"
#include "crm/json.hpp"

namespace crm::billing {
namespace {

using nlohmann::json;

std::string StringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string StripeErrorText(long status, const std::string& body) {
  if (status >= 200 && status < 300) {
    return {};
  }
  json parsed = ParseJsonOrDiscarded(body);
  if (!parsed.is_object() || !parsed.contains("error") || !parsed["error"].is_object()) {
    return "HTTP " + std::to_string(status) + " without a Stripe error object";
  }
  const json& error = parsed["error"];
  std::string type = StringAt(error, "type");
  std::string code = StringAt(error, "code");
  std::string param = StringAt(error, "param");
  std::string message = StringAt(error, "message");
  std::string text = type.empty() ? "HTTP " + std::to_string(status) : type;
  std::string detail;
  if (!code.empty()) {
    detail = code;
  }
  if (!param.empty()) {
    detail += (detail.empty() ? "" : ", ") + std::string("param ") + param;
  }
  if (!detail.empty()) {
    text += " (" + detail + ")";
  }
  if (!message.empty()) {
    text += ": " + message;
  }
  return text;
}

bool StripeMayRetry(const HttpResponse& response) {
  auto should = response.Header("stripe-should-retry");
  if (should == "true") {
    return true;
  }
  if (should == "false") {
    return false;
  }
  return response.status == 0 || response.status == 409 || response.status == 429 ||
         response.status >= 500;
}

void ThrowStripeFailure(const HttpResponse& response, const std::string& what) {
  if (response.status == 0) {
    spdlog::warn("stripe: could not {}: {}", what, response.error);
    throw Unavailable(
        "billing is unavailable: Stripe did not answer; nothing was charged, try again in a "
        "minute",
        std::chrono::seconds(60));
  }
  std::string text = StripeErrorText(response.status, response.body);
  spdlog::warn("stripe: could not {}: {}", what, text);
  if (response.status == 429 || response.status >= 500) {
    throw Unavailable("billing is unavailable: Stripe is busy (" + text +
                          "); nothing was charged, try again in a minute",
                      std::chrono::seconds(60));
  }
  if (response.status == 401) {
    throw http::ServiceError(http::Status::bad_gateway,
                             "Stripe refused the secret key (CRM_STRIPE_SECRET_KEY): " + text);
  }
  throw http::ServiceError(http::Status::bad_gateway, "Stripe refused to " + what + ": " + text);
}

StripeClient::StripeClient(StripeOptions options) : options_(std::move(options)), http_(4) {
  while (!options_.api_url.empty() && options_.api_url.back() == '/') {
    options_.api_url.pop_back();
  }
}

HttpResponse StripeClient::Send(const std::string& method, const std::string& path,
                                const FormFields& form, const std::string& idempotency_key,
                                const std::string& what) {
  HttpRequest request;
  request.method = method;
  request.url = options_.api_url + path;
  request.timeout = options_.timeout;
  request.headers = {"Authorization: Bearer " + options_.secret_key, "Stripe-Version: 2024-06-20"};
  if (method == "POST") {
    request.headers.emplace_back("Content-Type: application/x-www-form-urlencoded");
    // The same key on every try: Stripe answers a repeat with the first answer.
    request.headers.emplace_back("Idempotency-Key: " + idempotency_key);
    request.body = FormEncode(form);
  }
  std::chrono::milliseconds backoff = options_.backoff;
  HttpResponse response;
  for (int attempt = 1;; ++attempt) {
    response = http_.Fetch(request);
    if ((response.status >= 200 && response.status < 300) || attempt >= options_.max_tries ||
        !StripeMayRetry(response)) {
      return response;
    }
    spdlog::info("stripe: {} failed ({}); try {} of {} in {} ms", what,
                 response.status == 0 ? response.error : std::to_string(response.status),
                 attempt + 1, options_.max_tries, backoff.count());
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
}

json StripeClient::Call(const std::string& method, const std::string& path, const FormFields& form,
                        const std::string& idempotency_key, const std::string& what) {
  HttpResponse response = Send(method, path, form, idempotency_key, what);
  if (response.status < 200 || response.status >= 300) {
    ThrowStripeFailure(response, what);
  }
  json body = ParseJsonOrDiscarded(response.body);
  if (!body.is_object()) {
    throw http::ServiceError(http::Status::bad_gateway,
                             "Stripe answered " + what + " with something not JSON");
  }
  return body;
}

std::string StripeClient::CreateCustomer(long long user_id, const std::string& email,
                                         const std::string& idempotency_key) {
  json customer = Call("POST", "/v1/customers",
                       {{"email", email}, {"metadata[user_id]", std::to_string(user_id)}},
                       idempotency_key, "create a customer");
  return StringAt(customer, "id");
}

std::string StripeClient::CreateCheckoutSession(const CheckoutRequest& r) {
  FormFields form = {{"mode", "subscription"},
                     {"customer", r.customer_id},
                     {"line_items[0][price]", r.price_id},
                     {"line_items[0][quantity]", "1"},
                     {"client_reference_id", std::to_string(r.user_id)},
                     {"success_url", r.success_url},
                     {"cancel_url", r.cancel_url},
                     {"metadata[user_id]", std::to_string(r.user_id)},
                     {"subscription_data[metadata][user_id]", std::to_string(r.user_id)}};
  if (!r.promotion_code.empty()) {
    form.emplace_back("discounts[0][promotion_code]", r.promotion_code);
  }
  json session =
      Call("POST", "/v1/checkout/sessions", form, r.idempotency_key, "create a checkout session");
  std::string url = StringAt(session, "url");
  if (url.empty()) {
    throw http::ServiceError(http::Status::bad_gateway, "Stripe's checkout session has no url");
  }
  return url;
}

std::string StripeClient::CreatePortalSession(const std::string& customer_id,
                                              const std::string& return_url,
                                              const std::string& idempotency_key) {
  json session = Call("POST", "/v1/billing_portal/sessions",
                      {{"customer", customer_id}, {"return_url", return_url}}, idempotency_key,
                      "create a customer portal session");
  std::string url = StringAt(session, "url");
  if (url.empty()) {
    throw http::ServiceError(http::Status::bad_gateway, "Stripe's portal session has no url");
  }
  return url;
}

json StripeClient::GetSubscription(const std::string& subscription_id) {
  return Call("GET", "/v1/subscriptions/" + FormEscape(subscription_id), {}, {},
              "read subscription " + subscription_id);
}

void StripeClient::CancelSubscription(const std::string& subscription_id) {
  std::string what = "cancel subscription " + subscription_id;
  HttpResponse response =
      Send("DELETE", "/v1/subscriptions/" + FormEscape(subscription_id), {}, {}, what);
  // 404: already gone (canceled and removed, or never in this Stripe account): nothing more
  // will be charged, which is all the caller needs.
  if ((response.status < 200 || response.status >= 300) && response.status != 404) {
    ThrowStripeFailure(response, what);
  }
}

}  // namespace crm::billing
