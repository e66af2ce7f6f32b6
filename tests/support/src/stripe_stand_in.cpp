#include "crm/testing/stripe_stand_in.hpp"

#include <chrono>

#include "crm/billing/signature.hpp"
#include "crm/http/endpoint.hpp"
#include "crm/http/response.hpp"

namespace crm::testing {
namespace {

using http::Status;
using nlohmann::json;

http::Response StripeError(Status status, const std::string& type, const std::string& message,
                           const std::string& code = {}, const std::string& param = {}) {
  json error = {{"type", type}, {"message", message}};
  if (!code.empty()) {
    error["code"] = code;
  }
  if (!param.empty()) {
    error["param"] = param;
  }
  return http::JsonResponse(status, {{"error", error}});
}

}  // namespace

std::string StripeCall::Field(const std::string& key) const {
  for (const auto& [k, v] : form) {
    if (k == key) {
      return v;
    }
  }
  return {};
}

StripeStandIn::StripeStandIn(std::string secret_key)
    : secret_key_(std::move(secret_key)),
      server_(io_, http::ServerLimits{}, [this](http::Exchange& ex) { return Handle(ex); }) {
  port_ = server_.Listen(http::ParseEndpoint("127.0.0.1:0")).port;
  server_.Start();
  io_.Start();
}

StripeStandIn::~StripeStandIn() {
  server_.Shutdown(std::chrono::seconds(1));
  io_.Stop();
}

std::string StripeStandIn::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

void StripeStandIn::SetRateLimited(bool on) {
  std::lock_guard lock(mutex_);
  rate_limited_ = on;
}

void StripeStandIn::PutSubscription(const json& subscription) {
  std::lock_guard lock(mutex_);
  subscriptions_[subscription.at("id").get<std::string>()] = subscription;
}

std::vector<StripeCall> StripeStandIn::calls() {
  std::lock_guard lock(mutex_);
  return calls_;
}

std::vector<StripeCall> StripeStandIn::calls(const std::string& path) {
  std::vector<StripeCall> out;
  for (auto& c : calls()) {
    if (c.path == path) {
      out.push_back(c);
    }
  }
  return out;
}

http::Reply StripeStandIn::Handle(http::Exchange& ex) {
  auto& req = ex.request();
  std::lock_guard lock(mutex_);
  StripeCall call;
  call.method = std::string(req.method_string());
  call.path = std::string(req.target());
  call.idempotency_key = std::string(req["Idempotency-Key"]);
  http::Response res;
  try {
    call.form = billing::FormDecode(req.body());
    if (req[boost::beast::http::field::authorization] != "Bearer " + secret_key_) {
      res = StripeError(Status::unauthorized, "invalid_request_error",
                        "Invalid API Key provided: " +
                            std::string(req[boost::beast::http::field::authorization]));
    } else if (rate_limited_) {
      res = StripeError(Status::too_many_requests, "invalid_request_error",
                        "Too many requests hit the API too quickly.", "rate_limit");
    } else if (call.method == "POST" && call.idempotency_key.empty()) {
      // Real Stripe accepts it; billing must never send one without, so the stand-in refuses.
      res = StripeError(Status::bad_request, "invalid_request_error",
                        "the stand-in requires an Idempotency-Key on every POST");
    } else if (call.method == "POST" && idempotent_.contains(call.idempotency_key)) {
      const Stored& stored = idempotent_[call.idempotency_key];
      if (stored.form != call.form) {
        res = StripeError(Status::bad_request, "idempotency_error",
                          "Keys for idempotent requests can only be used with the same "
                          "parameters they were first used with.");
      } else {
        res = http::Response{static_cast<Status>(stored.status), 11};
        res.set(boost::beast::http::field::content_type, "application/json");
        res.set("Idempotent-Replayed", "true");
        res.body() = stored.body;
        res.prepare_payload();
      }
    } else {
      long status = 200;
      res = Answer(call.method, call.path, call.form, status);
      if (call.method == "POST") {
        idempotent_[call.idempotency_key] = {call.form, status, res.body()};
      }
    }
  } catch (const std::exception& e) {
    res = StripeError(Status::bad_request, "invalid_request_error", e.what());
  }
  call.status = res.result_int();
  calls_.push_back(call);
  co_return res;
}

http::Response StripeStandIn::Answer(const std::string& method, const std::string& path,
                                     const billing::FormFields& form, long& status) {
  auto field = [&form](const std::string& key) {
    for (const auto& [k, v] : form) {
      if (k == key) {
        return v;
      }
    }
    return std::string();
  };
  std::string n = std::to_string(next_id_++);
  if (method == "POST" && path == "/v1/customers") {
    return http::JsonResponse(Status::ok,
                              {{"id", "cus_" + n},
                               {"object", "customer"},
                               {"email", field("email")},
                               {"metadata", {{"user_id", field("metadata[user_id]")}}}});
  }
  if (method == "POST" && path == "/v1/checkout/sessions") {
    for (const char* required : {"mode", "customer", "line_items[0][price]", "success_url"}) {
      if (field(required).empty()) {
        status = 400;
        return StripeError(Status::bad_request, "invalid_request_error",
                           std::string("Missing required param: ") + required + ".",
                           "parameter_missing", required);
      }
    }
    return http::JsonResponse(Status::ok,
                              {{"id", "cs_test_" + n},
                               {"object", "checkout.session"},
                               {"mode", field("mode")},
                               {"customer", field("customer")},
                               {"client_reference_id", field("client_reference_id")},
                               {"url", "https://checkout.stripe.com/c/pay/cs_test_" + n}});
  }
  if (method == "POST" && path == "/v1/billing_portal/sessions") {
    return http::JsonResponse(Status::ok, {{"id", "bps_" + n},
                                           {"object", "billing_portal.session"},
                                           {"customer", field("customer")},
                                           {"url", "https://billing.stripe.com/p/session/" + n}});
  }
  if ((method == "GET" || method == "DELETE") && path.starts_with("/v1/subscriptions/")) {
    std::string id = path.substr(std::string("/v1/subscriptions/").size());
    auto it = subscriptions_.find(id);
    if (it == subscriptions_.end()) {
      status = 404;
      return StripeError(Status::not_found, "invalid_request_error",
                         "No such subscription: '" + id + "'", "resource_missing", "id");
    }
    if (method == "DELETE") {  // canceled at once, as Stripe's DELETE does
      it->second["status"] = "canceled";
      it->second["canceled_at"] = UnixNow();
    }
    return http::JsonResponse(Status::ok, it->second);
  }
  status = 404;
  return StripeError(Status::not_found, "invalid_request_error",
                     "Unrecognized request URL (" + method + ": " + path + ").");
}

json StripeEvent(const std::string& id, const std::string& type, const json& object,
                 long long created) {
  return {{"id", id},           {"object", "event"},           {"api_version", "2024-06-20"},
          {"created", created}, {"livemode", false},           {"pending_webhooks", 1},
          {"type", type},       {"data", {{"object", object}}}};
}

long long UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

HttpResult SendStripeEvent(const std::string& gateway_url, const std::string& secret,
                           const json& event, long long signed_at, long timeout_ms) {
  std::string body = event.dump();
  long long t = signed_at == 0 ? UnixNow() : signed_at;
  return Fetch("POST", gateway_url + "/billing/webhook", body,
               {"Content-Type: application/json; charset=utf-8",
                "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature: " + billing::StripeSignatureHeader(t, body, secret)},
               timeout_ms);
}

}  // namespace crm::testing
