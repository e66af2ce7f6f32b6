// IP addresses and CIDR ranges, IPv4 and IPv6: whether a peer is one of the proxies we trust.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace crm {

/// One address ("10.0.0.7", "::1") or range ("10.0.0.0/8", "fd00::/8"). IPv4 is held as its
/// IPv4-mapped IPv6 form, so a peer reported as "::ffff:10.0.0.7" matches "10.0.0.0/8".
class AddressRange {
 public:
  /// Throws InputError ("expected an IP address or CIDR range such as 10.0.0.0/8, got …").
  static AddressRange Parse(std::string_view text);
  /// False for anything that is not a numeric IP address ("unix", "", a host name).
  bool Contains(std::string_view address) const;
  /// The text it was parsed from.
  const std::string& text() const { return text_; }

 private:
  std::array<unsigned char, 16> bytes_{};
  int prefix_ = 128;
  std::string text_;
};

/// Whether `text` is a numeric IPv4 or IPv6 address.
bool IsIpAddress(std::string_view text);

/// A comma-separated list ("127.0.0.1, 10.0.0.0/8"); blanks around entries are ignored and an
/// empty text is an empty list. Throws InputError naming the bad entry.
std::vector<AddressRange> ParseAddressRanges(std::string_view list);

}  // namespace crm
