// JSON responses, and the one border where exceptions become status codes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "crm/http/message.hpp"

namespace crm::http {

/// {"error": message[, "field": field]} with `status`, JSON content type, no caching.
Response ErrorResponse(Status status, const std::string& message, const std::string& field = {});
/// `body` as JSON with `status`.
Response JsonResponse(Status status, const nlohmann::json& body);
/// The response for the exception in flight (call inside a catch block), the one place domain
/// errors become status codes: InputError 400, NotFound 404, Conflict 409, Unauthenticated 401,
/// Forbidden 403, Throttled 429, Unavailable 503 (both with Retry-After when known; "field" in
/// the body when the error names one); ClientError and ServiceError keep their status; anything
/// else is 500 (logged, details hidden).
Response ResponseForCurrentException(const Request& request);

}  // namespace crm::http
