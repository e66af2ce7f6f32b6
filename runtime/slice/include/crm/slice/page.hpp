// Pages of a list: which page a request asks for (?cursor=, ?limit=), what it searches for (?q=)
// and how a page is answered ({items, next_cursor}).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace crm::slice {

/// A list request's page: ?cursor= (the previous page's next_cursor; none = the first page) and
/// ?limit= (1..100, default 50).
struct PageRequest {
  long long cursor = 0;
  int limit = 50;
};
/// Throws InputError naming "cursor" or "limit".
PageRequest ParsePage(std::string_view target);

/// A list's ?q= ("" when absent): at most 200 characters, InputError naming "q" otherwise.
std::string ParseSearch(std::string_view target);
/// A LIKE pattern matching `text` literally anywhere ("50%" → "%50\\%%").
std::string LikeContaining(std::string_view text);

/// {items, next_cursor}: a full page has a next one, which starts after its last item's id.
nlohmann::json PageJson(nlohmann::json items, int limit);

}  // namespace crm::slice
