// Strict parsing and formatting of the quantities the capacity model speaks in.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace crm {

/// Parses a size such as "80 KB", "17.5 MB", "4 GiB" or "150 B" into bytes.
/// KB/MB/GB/TB are decimal (10^3), KiB/MiB/GiB/TiB binary (2^10); a space between number and
/// unit is optional; the unit is required. Throws InputError whose message says what was expected
/// (without a location: the caller prefixes file:line:col or the field name).
double ParseBytes(std::string_view text);

/// Parses a finite decimal number (no unit). Throws InputError on anything else.
double ParseNumber(std::string_view text);

/// Parses a non-negative whole number that fits in int64. Throws InputError otherwise.
long long ParseCount(std::string_view text);

/// Parses true/false/yes/no/on/off/1/0 (case-insensitive). Throws InputError otherwise.
bool ParseBool(std::string_view text);

/// Parses a duration: "30s", "500ms", "2m", "1h" or a bare number of seconds. Throws InputError
/// (without a location) on anything else or past ~115 days.
std::chrono::milliseconds ParseDuration(const std::string& text);

/// Formats bytes for people, decimal units: "20 MB", "1.46 GB", "365 KB".
std::string FormatBytes(double bytes);

/// Formats a number with thousands separators and at most `decimals` fraction digits.
std::string FormatNumber(double value, int decimals = 0);

/// Formats money: "$1,234.50".
std::string FormatUsd(double usd);

/// Formats an age for people, in the largest unit that keeps two digits of it: "45 s", "12 min",
/// "30 h", "9 d". Negative ages are 0 s.
std::string FormatAge(long long seconds);

}  // namespace crm
