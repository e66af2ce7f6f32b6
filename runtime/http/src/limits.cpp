#include "crm/http/limits.hpp"

namespace crm::http {

std::uint64_t ServerLimits::BodyLimitFor(std::string_view target) const {
  std::string_view path = target.substr(0, target.find('?'));
  for (const auto& [prefix, limit] : body_limit_for) {
    if (path.substr(0, prefix.size()) == prefix) {
      return limit;
    }
  }
  return body_limit;
}

}  // namespace crm::http
