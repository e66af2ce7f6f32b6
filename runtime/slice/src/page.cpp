#include "crm/slice/page.hpp"

#include "crm/http/query.hpp"
#include "crm/slice/validation.hpp"

namespace crm::slice {

PageRequest ParsePage(std::string_view target) {
  PageRequest page;
  auto cursor = http::QueryParam(target, "cursor");
  if (cursor && !cursor->empty()) {
    page.cursor = ParseId(*cursor, "cursor");
  }
  page.limit = ParseLimit(http::QueryParam(target, "limit"));
  return page;
}

nlohmann::json PageJson(nlohmann::json items, int limit) {
  nlohmann::json next = nullptr;
  if (static_cast<int>(items.size()) == limit) {
    next = std::to_string(items.back()["id"].get<long long>());
  }
  return {{"items", std::move(items)}, {"next_cursor", next}};
}

}  // namespace crm::slice
