#include "crm/http/response.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"

namespace crm::http {

Response JsonResponse(Status status, const nlohmann::json& body) {
  Response res{status, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.body() += '\n';
  return res;
}

Response ErrorResponse(Status status, const std::string& message, const std::string& field) {
  nlohmann::json body = {{"error", message}};
  if (!field.empty()) {
    body["field"] = field;
  }
  return JsonResponse(status, body);
}

namespace {

Response WithRetryAfter(Response res, std::chrono::seconds retry_after) {
  if (retry_after.count() > 0) {
    res.set(bhttp::field::retry_after, std::to_string(retry_after.count()));
  }
  return res;
}

}  // namespace

Response ResponseForCurrentException(const Request& request) {
  try {
    throw;
  } catch (const ClientError& e) {
    return ErrorResponse(e.status(), e.what());
  } catch (const ServiceError& e) {
    return ErrorResponse(e.status(), e.what());
  } catch (const Throttled& e) {
    return WithRetryAfter(ErrorResponse(Status::too_many_requests, e.what(), e.field()),
                          e.retry_after());
  } catch (const TooLarge& e) {
    return ErrorResponse(Status::payload_too_large, e.what(), e.field());
  } catch (const NotFound& e) {
    return ErrorResponse(Status::not_found, e.what(), e.field());
  } catch (const Conflict& e) {
    return ErrorResponse(Status::conflict, e.what(), e.field());
  } catch (const Unauthenticated& e) {
    return ErrorResponse(Status::unauthorized, e.what(), e.field());
  } catch (const Forbidden& e) {
    return ErrorResponse(Status::forbidden, e.what(), e.field());
  } catch (const InputError& e) {
    return ErrorResponse(Status::bad_request, e.what(), e.field());
  } catch (const Unavailable& e) {
    return WithRetryAfter(ErrorResponse(Status::service_unavailable, e.what()), e.retry_after());
  } catch (const std::exception& e) {
    spdlog::error("{} {}: internal error: {}", std::string(request.method_string()),
                  std::string(request.target()), e.what());
    return ErrorResponse(Status::internal_server_error,
                         "internal error; the operator's log has the details");
  }
}

}  // namespace crm::http
