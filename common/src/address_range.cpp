// CIDR matching over 16-byte addresses (IPv4 mapped into IPv6), parsed with inet_pton.
#include "crm/address_range.hpp"

#include <arpa/inet.h>

#include <optional>

#include "crm/error.hpp"
#include "crm/text.hpp"

namespace crm {
namespace {

using Bytes = std::array<unsigned char, 16>;

// The address as 16 bytes (IPv4 mapped into ::ffff:0:0/96), and whether it was IPv4.
std::optional<std::pair<Bytes, bool>> ParseAddress(std::string_view text) {
  if (text.empty() || text.size() > 45) {
    return std::nullopt;
  }
  std::string copy(text);
  Bytes bytes{};
  unsigned char v4[4];
  if (::inet_pton(AF_INET, copy.c_str(), v4) == 1) {
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    std::copy(v4, v4 + 4, bytes.begin() + 12);
    return std::pair{bytes, true};
  }
  if (::inet_pton(AF_INET6, copy.c_str(), bytes.data()) == 1) {
    return std::pair{bytes, false};
  }
  return std::nullopt;
}

}  // namespace

AddressRange AddressRange::Parse(std::string_view text) {
  auto bad = [&] {
    return InputError(
        "expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8, got \"" +
        std::string(text) + "\"");
  };
  auto slash = text.find('/');
  auto address = ParseAddress(text.substr(0, slash));
  if (!address) {
    throw bad();
  }
  AddressRange range;
  range.text_ = std::string(text);
  range.bytes_ = address->first;
  int width = address->second ? 32 : 128;
  int prefix = width;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos) {
      throw bad();
    }
    prefix = std::stoi(std::string(digits));
    if (prefix > width) {
      throw bad();
    }
  }
  range.prefix_ = prefix + (address->second ? 96 : 0);
  return range;
}

bool AddressRange::Contains(std::string_view address) const {
  auto parsed = ParseAddress(address);
  if (!parsed) {
    return false;
  }
  const Bytes& other = parsed->first;
  int full = prefix_ / 8;
  for (int i = 0; i < full; ++i) {
    if (other[static_cast<std::size_t>(i)] != bytes_[static_cast<std::size_t>(i)]) {
      return false;
    }
  }
  int rest = prefix_ % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  auto at = static_cast<std::size_t>(full);
  return (other[at] & mask) == (bytes_[at] & mask);
}

bool IsIpAddress(std::string_view text) {
  return ParseAddress(text).has_value();
}

std::vector<AddressRange> ParseAddressRanges(std::string_view list) {
  std::vector<AddressRange> out;
  while (!TrimBlanks(list).empty()) {
    auto comma = list.find(',');
    std::string_view entry = TrimBlanks(list.substr(0, comma));
    if (entry.empty()) {
      throw InputError(
          "expected a comma-separated list of IP addresses or CIDR ranges, got an "
          "empty entry");
    }
    out.push_back(AddressRange::Parse(entry));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return out;
}

}  // namespace crm
