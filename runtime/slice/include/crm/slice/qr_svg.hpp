// A QR code drawn as SVG (libqrencode): what the connect page shows for the channel's pairing
// payload.
#pragma once

#include <string>
#include <string_view>

namespace crm::slice {

/// The largest payload QrSvg encodes: bytes in a version 40 symbol at error correction level M.
constexpr std::size_t kMaxQrPayload = 2331;

/// `payload` (bytes, encoded as-is) as a standalone SVG document: a white square with a quiet
/// zone of 4 modules and one <path> of the dark modules, one unit per module in the viewBox,
/// `shape-rendering="crispEdges"`, no scripts. Error correction level M. Throws InputError
/// naming "qr" when the payload is empty or longer than kMaxQrPayload bytes.
std::string QrSvg(std::string_view payload);

}  // namespace crm::slice
