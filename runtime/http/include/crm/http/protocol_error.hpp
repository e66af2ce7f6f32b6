// Errors carrying a status no domain error has: a body of the wrong media type (415), more in one
// request than a stated limit allows (413), an upstream that failed while answering (502) or did
// not answer in time (504). Domain code throws crm/error.hpp's errors; response.hpp maps both.
#pragma once

#include <string>

#include "crm/error.hpp"
#include "crm/http/message.hpp"

namespace crm::http {

/// A request the HTTP layer refuses before any handler reads it (415).
class ClientError : public InputError {
 public:
  ClientError(Status status, const std::string& message) : InputError(message), status_(status) {}
  Status status() const { return status_; }

 private:
  Status status_;
};

/// More in one request than a stated limit allows (recipients in a broadcast, rows in an import):
/// 413 naming the field. The message states the limit: the same request can never succeed (it has
/// to be split), unlike a 429.
class TooLarge : public InputError {
 public:
  using InputError::InputError;
};

/// The proxy's upstream (a slice) failed: 502 or 504.
class ServiceError : public RuntimeError {
 public:
  ServiceError(Status status, const std::string& message)
      : RuntimeError(message), status_(status) {}
  Status status() const { return status_; }

 private:
  Status status_;
};

}  // namespace crm::http
