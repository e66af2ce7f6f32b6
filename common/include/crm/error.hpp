// The exception hierarchy shared by every crmctl/crmd component: what went wrong, in the domain's
// words. Status codes and exit codes are chosen from these only at the borders: the HTTP server
// (runtime/http, ResponseForCurrentException) and crmctl's main (cli/main.cpp).
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

namespace crm {

/// Root of every exception the project throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Something the caller can fix: a bad flag, bad YAML, a bad CSV row, a bad request field.
/// crmctl exits 2; HTTP answers 400 (or the subclass's status). The message names the field and,
/// where there is one, the place (file:line:col); `field` names the request field, if any.
class InputError : public Error {
 public:
  explicit InputError(const std::string& message, std::string field = {})
      : Error(message), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

/// The thing named does not exist, or belongs to someone else (never say which): HTTP 404.
class NotFound : public InputError {
 public:
  using InputError::InputError;
};

/// The request is valid but clashes with the current state (a slice already suspended, a phone
/// number another slice holds, a broadcast already finished): HTTP 409.
class Conflict : public InputError {
 public:
  using InputError::InputError;
};

/// No valid credential (no session, a wrong password): HTTP 401.
class Unauthenticated : public InputError {
 public:
  using InputError::InputError;
};

/// A valid credential without the right (not an admin, a suspended account, a foreign Origin):
/// HTTP 403.
class Forbidden : public InputError {
 public:
  using InputError::InputError;
};

/// Too much, too fast (login attempts, a full queue): HTTP 429 with Retry-After when known.
class Throttled : public InputError {
 public:
  explicit Throttled(const std::string& message, std::chrono::seconds retry_after = {},
                     std::string field = {})
      : InputError(message, std::move(field)), retry_after_(retry_after) {}
  std::chrono::seconds retry_after() const { return retry_after_; }

 private:
  std::chrono::seconds retry_after_;
};

/// The environment failed: a tool is missing, a file cannot be written, the database is down.
/// crmctl exits 1; HTTP answers 500 (details logged, not sent).
class RuntimeError : public Error {
 public:
  using Error::Error;
};

/// Cannot answer now but expected to soon (database down, a slice restarting): HTTP 503 with
/// Retry-After when known; crmctl exits 1.
class Unavailable : public RuntimeError {
 public:
  explicit Unavailable(const std::string& message, std::chrono::seconds retry_after = {})
      : RuntimeError(message), retry_after_(retry_after) {}
  std::chrono::seconds retry_after() const { return retry_after_; }

 private:
  std::chrono::seconds retry_after_;
};

}  // namespace crm
