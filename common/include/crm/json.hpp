// The one JSON reader every component uses: nlohmann's parser behind a bound on nesting depth,
// checked before anything is built, so that no input can drive the recursion in copying, dumping
// or comparing JSON values deep enough to overflow a stack (docs/api.md, "Limits").
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace crm {

/// The deepest nesting of arrays and objects accepted: `[[1]]` is 2 deep, a scalar 0. Meta's and
/// Stripe's payloads nest under 10; our own documents under 8.
inline constexpr std::size_t kMaxJsonDepth = 64;

/// The byte offset (0-based) of the first `[` or `{` in `text` that opens level `max_depth + 1`,
/// or std::string_view::npos when `text` stays within `max_depth`. O(n), allocates nothing;
/// brackets inside strings do not count. Meant for text about to be parsed: on malformed input
/// the answer is only a hint, and the parser reports the error.
std::size_t JsonTooDeepAt(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

/// Parses `text` as one JSON document nested at most kMaxJsonDepth deep. Throws InputError
/// "<what>: JSON nested deeper than 64 levels at line L column C", "<what>: malformed JSON at
/// line L column C" (also for a raw NUL byte anywhere: nlohmann would stop reading there) or
/// "<what>: JSON not accepted: …" (a number beyond double's range); with an empty `what` the
/// message starts at "JSON"/"malformed".
nlohmann::json ParseJson(std::string_view text, std::string_view what);

/// Base of a SAX handler (nlohmann's interface) read through SaxParseJson: it records where the
/// parse failed, for ParseJson's messages. A handler that derives from it must not declare its own
/// parse_error, and throws its own errors rather than returning false.
struct JsonSaxErrors {
  std::size_t byte = 0;      // 1-based, as nlohmann counts: where the parse stopped
  std::string not_accepted;  // why a well-formed value was refused (a number beyond double's range)
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::json::exception& e) {
    byte = position;
    if (dynamic_cast<const nlohmann::json::parse_error*>(&e) == nullptr) {
      not_accepted = e.what();
    }
    return false;
  }
};

/// ParseJson's checks before a parse (a NUL byte, nesting deeper than kMaxJsonDepth) and its
/// messages after one that failed (`errors` from the handler), for a document read by a SAX
/// handler instead of built.
void CheckJsonText(std::string_view text, std::string_view what);
[[noreturn]] void ThrowJsonError(std::string_view text, std::string_view what,
                                 const JsonSaxErrors& errors);

/// Reads `text` with `sax` (derived from JsonSaxErrors) under ParseJson's checks and messages,
/// without building a document: for a body too large to be built whole (a broadcast's list of
/// recipients).
template <typename Sax>
void SaxParseJson(std::string_view text, std::string_view what, Sax& sax) {
  CheckJsonText(text, what);
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &sax)) {
    ThrowJsonError(text, what, sax);
  }
}

/// As ParseJson, without throwing: a discarded value (`is_discarded()`) when `text` does not
/// parse or nests too deep. For answers from other services, which are checked by shape after.
nlohmann::json ParseJsonOrDiscarded(std::string_view text) noexcept;

}  // namespace crm
