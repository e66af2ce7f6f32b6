#include "crm/hash_range.hpp"

#include <optional>

#include "crm/error.hpp"

namespace crm {
namespace {

// "12.5" → 1250: digits, then at most two decimals after a point; nullopt past 100 %.
std::optional<int> BasisPoints(std::string_view text) {
  const std::size_t point = text.find('.');
  std::string_view whole = text.substr(0, point);
  std::string_view fraction =
      point == std::string_view::npos ? std::string_view() : text.substr(point + 1);
  if (whole.empty() || (point != std::string_view::npos && fraction.empty()) ||
      fraction.size() > 2) {
    return std::nullopt;
  }
  int value = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
    if (value > 100) {
      return std::nullopt;  // also stops an overflow on a long run of digits
    }
  }
  value *= 100;
  int scale = 10;
  for (char c : fraction) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value += (c - '0') * scale;
    scale /= 10;
  }
  if (value > kHashBuckets) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

HashRange ParseHashRange(std::string_view text) {
  const std::size_t dash = text.find('-');
  std::optional<int> from;
  std::optional<int> to;
  if (dash != std::string_view::npos) {
    from = BasisPoints(text.substr(0, dash));
    to = BasisPoints(text.substr(dash + 1));
  }
  if (!from || !to || *from >= *to) {
    throw InputError(
        "expected a percent range FROM-TO of the tenant hash space with 0 ≤ FROM < TO ≤ 100 "
        "and at most two decimals, such as 0-50 or 12.5-25, got \"" +
        std::string(text) + "\"");
  }
  return {*from, *to};
}

std::string PercentOfBasisPoints(int basis_points) {
  std::string text = std::to_string(basis_points / 100);
  const int hundredths = basis_points % 100;
  if (hundredths != 0) {
    text += '.';
    text += static_cast<char>('0' + hundredths / 10);
    if (hundredths % 10 != 0) {
      text += static_cast<char>('0' + hundredths % 10);
    }
  }
  return text;
}

std::string HashRangeText(const HashRange& range) {
  return PercentOfBasisPoints(range.from) + "-" + PercentOfBasisPoints(range.to);
}

HashRange HashShareOfOrdinal(long long ordinal, long long count) {
  if (count < 1 || count > kHashBuckets) {
    throw InputError("cannot split the tenant hash space into " + std::to_string(count) +
                     " parts: 1 to " + std::to_string(kHashBuckets) + " (a basis point each)");
  }
  if (ordinal < 0 || ordinal >= count) {
    throw InputError("part " + std::to_string(ordinal) + " is outside 0.." +
                     std::to_string(count - 1));
  }
  if (count <= 100) {
    return {static_cast<int>(ordinal * 100 / count) * 100,
            static_cast<int>((ordinal + 1) * 100 / count) * 100};
  }
  return {static_cast<int>(ordinal * kHashBuckets / count),
          static_cast<int>((ordinal + 1) * kHashBuckets / count)};
}

}  // namespace crm
