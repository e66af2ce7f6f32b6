// libFuzzer target: the one JSON reader (crm/json.hpp). Every input must end in a document no
// deeper than the bound, or an InputError (an HTTP 400), never a crash or another exception; the
// O(n) depth scan must agree with the depth of what nlohmann actually builds, at every bound; the
// throwing and the non-throwing reader must agree; and an accepted document must survive copying,
// dumping and reading back, the operations that used to recurse without a bound.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "crm/error.hpp"
#include "crm/json.hpp"

namespace {

// Nesting depth of a document nlohmann built: [[1]] is 2. Only called on documents of at most
// libFuzzer's input length, so the recursion is short.
std::size_t Depth(const nlohmann::json& j) {
  std::size_t deepest = 0;
  if (j.is_structured()) {
    for (const auto& item : j) {
      deepest = std::max(deepest, Depth(item));
    }
    return deepest + 1;
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  // The first byte picks a small bound, so that short inputs reach the boundary.
  std::size_t bound = data[0] % 8;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  nlohmann::json reference = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  // nlohmann reads up to a NUL byte only; the reader refuses them (checked below).
  if (!reference.is_discarded() && text.find('\0') == std::string_view::npos) {
    bool too_deep = crm::JsonTooDeepAt(text, bound) != std::string_view::npos;
    if (too_deep != (Depth(reference) > bound)) {
      __builtin_trap();  // the scan and the parser disagree on the depth
    }
  }

  nlohmann::json parsed;
  bool accepted = true;
  try {
    parsed = crm::ParseJson(text, "body");
  } catch (const crm::InputError&) {
    accepted = false;
  }
  nlohmann::json lenient = crm::ParseJsonOrDiscarded(text);
  if (accepted == lenient.is_discarded()) {
    __builtin_trap();  // the two readers disagree
  }
  if (accepted) {
    if (Depth(parsed) > crm::kMaxJsonDepth || parsed != lenient ||
        text.find('\0') != std::string_view::npos) {
      __builtin_trap();
    }
    nlohmann::json copy = parsed;
    std::string dumped = copy.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    nlohmann::json again = crm::ParseJsonOrDiscarded(dumped);
    if (again.is_discarded()) {
      __builtin_trap();  // what we accepted and wrote must read back
    }
  }
  return 0;
}
