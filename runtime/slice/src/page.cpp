#include "crm/slice/page.hpp"

#include "crm/error.hpp"
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

std::string ParseSearch(std::string_view target) {
  auto q = http::QueryParam(target, "q");
  if (q && q->size() > 200) {
    throw InputError("q: at most 200 characters", "q");
  }
  return q.value_or("");
}

std::string LikeContaining(std::string_view text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "%";
}

nlohmann::json PageJson(nlohmann::json items, int limit) {
  nlohmann::json next = nullptr;
  if (static_cast<int>(items.size()) == limit) {
    next = std::to_string(items.back()["id"].get<long long>());
  }
  return {{"items", std::move(items)}, {"next_cursor", next}};
}

}  // namespace crm::slice
