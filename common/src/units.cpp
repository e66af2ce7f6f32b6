#include "crm/units.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "crm/error.hpp"

namespace crm {
namespace {

std::string_view Trim(std::string_view s) {
  // Most cells have nothing to trim; isspace costs a call per test. Nothing calls setlocale, so
  // in the C locale no byte above ' ' is a space.
  if (!s.empty() && static_cast<unsigned char>(s.front()) > ' ' &&
      static_cast<unsigned char>(s.back()) > ' ') {
    return s;
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

// Parses a leading decimal number; returns the rest. No sign, no exponent: sizes are written
// by people ("17.5 MB"), and a sign or exponent there is always a mistake.
bool LeadingNumber(std::string_view s, double& value, std::string_view& rest) {
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
    ++i;
  }
  if (i == 0) {
    return false;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + i, value);
  if (ec != std::errc() || ptr != s.data() + i) {
    return false;
  }
  rest = s.substr(i);
  return true;
}

struct Unit {
  std::string_view name;
  double factor;
};

constexpr std::array<Unit, 9> kUnits{{
    {"B", 1.0},
    {"KB", 1e3},
    {"MB", 1e6},
    {"GB", 1e9},
    {"TB", 1e12},
    {"KiB", 1024.0},
    {"MiB", 1024.0 * 1024.0},
    {"GiB", 1024.0 * 1024.0 * 1024.0},
    {"TiB", 1024.0 * 1024.0 * 1024.0 * 1024.0},
}};

}  // namespace

double ParseBytes(std::string_view text) {
  const std::string_view s = Trim(text);
  double number = 0;
  std::string_view rest;
  if (s.empty()) {
    throw InputError("expected a size such as \"80 KB\", got an empty value");
  }
  if (!LeadingNumber(s, number, rest)) {
    throw InputError(fmt::format("expected a size such as \"80 KB\", got \"{}\"", s));
  }
  rest = Trim(rest);
  if (rest.empty()) {
    throw InputError(fmt::format(
        "\"{}\" has no unit; write B, KB, MB, GB, TB (decimal) or KiB, MiB, GiB, TiB (binary)", s));
  }
  for (const Unit& unit : kUnits) {
    if (rest == unit.name) {
      const double bytes = number * unit.factor;
      if (!std::isfinite(bytes) || bytes > 1e18) {
        throw InputError(fmt::format("size \"{}\" is out of range", s));
      }
      return bytes;
    }
  }
  throw InputError(fmt::format(
      "unknown unit \"{}\" in \"{}\"; write B, KB, MB, GB, TB (decimal) or KiB, MiB, GiB, TiB "
      "(binary)",
      rest, s));
}

double ParseNumber(std::string_view text) {
  const std::string_view s = Trim(text);
  double value = 0;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (!s.empty() && s.front() == '+') {
    ++begin;
  }
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (s.empty() || ec != std::errc() || ptr != end) {
    throw InputError(fmt::format("expected a number, got \"{}\"", s));
  }
  if (!std::isfinite(value)) {
    throw InputError(fmt::format("expected a finite number, got \"{}\"", s));
  }
  return value;
}

long long ParseCount(std::string_view text) {
  const std::string_view s = Trim(text);
  long long value = 0;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (!s.empty() && s.front() == '+') {
    ++begin;
  }
  // Up to 18 digits cannot overflow: summed directly, the value from_chars would give (batch
  // parses a few counts per row; from_chars' general path costs several times as much).
  if (begin != end && end - begin <= 18 &&
      std::all_of(begin, end, [](char c) { return c >= '0' && c <= '9'; })) {
    for (const char* p = begin; p != end; ++p) {
      value = value * 10 + (*p - '0');
    }
    return value;
  }
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (s.empty() || ptr != end || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    throw InputError(fmt::format("expected a whole number, got \"{}\"", s));
  }
  if (ec == std::errc::result_out_of_range) {
    throw InputError(fmt::format("\"{}\" is out of range", s));
  }
  if (value < 0) {
    throw InputError(fmt::format("expected a non-negative whole number, got \"{}\"", s));
  }
  return value;
}

bool ParseBool(std::string_view text) {
  std::string s(Trim(text));
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (s == "true" || s == "yes" || s == "on" || s == "1") {
    return true;
  }
  if (s == "false" || s == "no" || s == "off" || s == "0") {
    return false;
  }
  throw InputError(fmt::format("expected true or false, got \"{}\"", Trim(text)));
}

std::string FormatBytes(double bytes) {
  static constexpr std::array<std::pair<double, std::string_view>, 5> kSteps{{
      {1e12, "TB"},
      {1e9, "GB"},
      {1e6, "MB"},
      {1e3, "KB"},
      {1, "B"},
  }};
  if (bytes == 0) {
    return "0 B";
  }
  // Sizes sold in binary units (a "4 GB" VPS has 4 GiB) read best in those units.
  constexpr double kGiB = 1024.0 * 1024 * 1024;
  constexpr double kMiB = 1024.0 * 1024;
  if (std::fabs(bytes) >= kGiB && std::fmod(bytes, kGiB / 4) == 0 && std::fmod(bytes, 1e9) != 0) {
    return fmt::format("{} GiB", FormatNumber(bytes / kGiB, 2));
  }
  if (std::fabs(bytes) >= kMiB && std::fabs(bytes) < kGiB && std::fmod(bytes, kMiB) == 0 &&
      std::fmod(bytes, 1e6) != 0) {
    return fmt::format("{} MiB", FormatNumber(bytes / kMiB, 0));
  }
  for (const auto& [factor, unit] : kSteps) {
    if (std::fabs(bytes) >= factor) {
      const double v = bytes / factor;
      // Three significant digits read well and keep hand arithmetic checkable.
      if (std::fabs(v - std::round(v)) < 0.005) {
        return fmt::format("{:.0f} {}", v, unit);
      }
      if (std::fabs(v) >= 10) {
        return fmt::format("{:.1f} {}", v, unit);
      }
      return fmt::format("{:.2f} {}", v, unit);
    }
  }
  return fmt::format("{:.2f} B", bytes);
}

namespace {

// FormatNumber's text appended to `out`: one formatting pass into a stack buffer and one append
// per part, no temporary strings (batch warnings format several figures per row).
// "{:.{decimals}f}" of `magnitude` (≥ 0) into `buf` by integer arithmetic, or 0 when that could
// round differently from fmt's exact conversion. magnitude × 10^decimals below 2^40 is within
// 2^-13 of its exact value, so unless its fraction lies within 10^-3 of ½ both round to the same
// integer. Batch warnings format a few amounts per row; fmt's exact path costs ~1,500
// instructions each.
std::size_t FixedDigits(double magnitude, int decimals, char (&buf)[32]) {
  static constexpr double kScale[] = {1, 10, 100, 1000, 10000};
  if (decimals < 0 || decimals > 4 || !(magnitude >= 0)) {
    return 0;
  }
  const double scaled = magnitude * kScale[decimals];
  if (!(scaled < 0x1p40)) {
    return 0;
  }
  const auto whole = static_cast<long long>(scaled);
  const double fraction = scaled - static_cast<double>(whole);
  if (std::fabs(fraction - 0.5) < 1e-3) {
    return 0;
  }
  const long long rounded = whole + (fraction > 0.5 ? 1 : 0);
  const auto scale = static_cast<long long>(kScale[decimals]);
  char* p = std::to_chars(buf, buf + sizeof buf, rounded / scale).ptr;
  if (decimals > 0) {
    *p++ = '.';
    long long frac = rounded % scale;
    for (int i = decimals - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + frac % 10);
      frac /= 10;
    }
    p += decimals;
  }
  return static_cast<std::size_t>(p - buf);
}

void AppendNumber(std::string& out, double value, int decimals) {
  char fast[32];
  fmt::memory_buffer digits;
  std::string_view s;
  if (const std::size_t n = FixedDigits(std::fabs(value), decimals, fast); n > 0) {
    s = std::string_view(fast, n);
  } else {
    fmt::format_to(std::back_inserter(digits), "{:.{}f}", std::fabs(value), decimals);
    s = std::string_view(digits.data(), digits.size());
  }
  const std::size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot);
  while (!frac.empty() && frac.back() == '0') {
    frac.remove_suffix(1);
  }
  if (frac == ".") {
    frac = {};
  }
  if (value < 0 && (whole != "0" || !frac.empty())) {
    out += '-';
  }
  out.reserve(out.size() + whole.size() + whole.size() / 3 + frac.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    if (i > 0 && (whole.size() - i) % 3 == 0) {
      out += ',';
    }
    out += whole[i];
  }
  out += frac;
}

}  // namespace

std::string FormatNumber(double value, int decimals) {
  std::string s;
  AppendNumber(s, value, decimals);
  return s;
}

std::string FormatUsd(double usd) {
  std::string s(usd < 0 ? "-$" : "$");
  const std::size_t start = s.size();
  AppendNumber(s, std::fabs(usd), 2);
  const std::size_t dot = s.find('.', start);
  if (dot == std::string::npos) {
    s += ".00";
  } else if (s.size() - dot == 2) {
    s += '0';
  }
  return s;
}

std::string FormatAge(long long seconds) {
  seconds = std::max(0LL, seconds);
  if (seconds < 120) {
    return std::to_string(seconds) + " s";
  }
  if (seconds < 2 * 3600) {
    return std::to_string(seconds / 60) + " min";
  }
  if (seconds < 2 * 86400) {
    return std::to_string(seconds / 3600) + " h";
  }
  return std::to_string(seconds / 86400) + " d";
}

std::chrono::milliseconds ParseDuration(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  std::string unit = text.substr(digits);
  long long n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, n);
  long long scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m" || unit == "min") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  }
  if (digits == 0 || ec != std::errc() || scale == 0 || n > 10'000'000'000LL / scale) {
    throw InputError("expected a duration such as 30s, 500ms, 5m or 1h, got \"" + text + "\"");
  }
  return std::chrono::milliseconds(n * scale);
}

}  // namespace crm
