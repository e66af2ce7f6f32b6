// The exception hierarchy shared by every crmctl/crmd component.
#pragma once

#include <stdexcept>
#include <string>

namespace crm {

/// Root of every exception the project throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Something the user can fix: a bad flag, bad YAML, a bad CSV row, a bad request.
/// crmctl exits 2; the HTTP layer answers 4xx. The message names the field and, where there is
/// one, the place (file:line:col).
class InputError : public Error {
 public:
  using Error::Error;
};

/// The environment failed: a tool is missing, a file cannot be written, the database is down.
/// crmctl exits 1; the HTTP layer answers 5xx.
class RuntimeError : public Error {
 public:
  using Error::Error;
};

}  // namespace crm
