// The depth-bounded JSON reader (crm/json.hpp).
#include "crm/json.hpp"

#include <string>

#include "crm/error.hpp"

namespace crm {
namespace {

// "line L column C" of the 0-based byte `offset`, for people reading the error.
std::string Place(std::string_view text, std::size_t offset) {
  std::size_t line = 1;
  std::size_t col = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + " column " + std::to_string(col);
}

std::string Prefix(std::string_view what) {
  return what.empty() ? std::string() : std::string(what) + ": ";
}

}  // namespace

std::size_t JsonTooDeepAt(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, which may be a quote
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return i;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

void CheckJsonText(std::string_view text, std::string_view what) {
  // nlohmann stops reading at a NUL byte as if the input ended there, so "{}\0<anything>" would
  // pass with its tail unread (found by fuzzing). JSON never needs one: inside a string it is
  // written \u0000.
  if (std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    throw InputError(Prefix(what) + "malformed JSON at " + Place(text, nul) + ": a NUL byte");
  }
  if (std::size_t at = JsonTooDeepAt(text); at != std::string_view::npos) {
    throw InputError(Prefix(what) + "JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                     " levels at " + Place(text, at));
  }
}

void ThrowJsonError(std::string_view text, std::string_view what, const JsonSaxErrors& errors) {
  if (!errors.not_accepted.empty()) {
    // Well-formed but unrepresentable, such as a number beyond double's range (found by fuzzing).
    throw InputError(Prefix(what) + "JSON not accepted: " + errors.not_accepted);
  }
  throw InputError(Prefix(what) + "malformed JSON at " +
                   Place(text, errors.byte > 0 ? errors.byte - 1 : 0));
}

nlohmann::json ParseJson(std::string_view text, std::string_view what) {
  CheckJsonText(text, what);
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    ThrowJsonError(text, what, JsonSaxErrors{e.byte, ""});
  } catch (const nlohmann::json::exception& e) {
    ThrowJsonError(text, what, JsonSaxErrors{0, e.what()});
  }
}

nlohmann::json ParseJsonOrDiscarded(std::string_view text) noexcept {
  if (text.find('\0') != std::string_view::npos || JsonTooDeepAt(text) != std::string_view::npos) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  try {
    return nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  } catch (...) {
    // Out of memory, or a number beyond double's range: not a document we can use either.
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
}

}  // namespace crm
