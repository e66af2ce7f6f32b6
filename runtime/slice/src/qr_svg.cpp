#include "crm/slice/qr_svg.hpp"

#include <qrencode.h>

#include <cerrno>
#include <memory>

#include "crm/error.hpp"

namespace crm::slice {
namespace {

constexpr int kQuietZone = 4;  // modules of light margin the QR specification asks for
constexpr int kPixelsPerModule = 8;

}  // namespace

std::string QrSvg(std::string_view payload) {
  if (payload.empty()) {
    throw InputError("qr: nothing to encode (the payload is empty)", "qr");
  }
  if (payload.size() > kMaxQrPayload) {
    throw InputError("qr: a payload of " + std::to_string(payload.size()) +
                         " bytes does not fit in a QR code (at most " +
                         std::to_string(kMaxQrPayload) + " bytes)",
                     "qr");
  }
  errno = 0;
  std::unique_ptr<QRcode, decltype(&QRcode_free)> code(
      QRcode_encodeData(static_cast<int>(payload.size()),
                        reinterpret_cast<const unsigned char*>(payload.data()), 0, QR_ECLEVEL_M),
      &QRcode_free);
  if (!code) {
    if (errno == ERANGE) {
      throw InputError(
          "qr: a payload of " + std::to_string(payload.size()) + " bytes does not fit in a QR code",
          "qr");
    }
    throw RuntimeError("qr: libqrencode could not encode the payload (errno " +
                       std::to_string(errno) + ")");
  }
  const int width = code->width;
  const int size = width + 2 * kQuietZone;
  const std::string s = std::to_string(size);
  const std::string px = std::to_string(size * kPixelsPerModule);
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + s + " " + s +
                    "\" width=\"" + px + "\" height=\"" + px +
                    "\" shape-rendering=\"crispEdges\"><rect width=\"" + s + "\" height=\"" + s +
                    "\" fill=\"#fff\"/><path fill=\"#000\" d=\"";
  // One subpath per horizontal run of dark modules keeps the path short (a third of one square
  // per module) and leaves no seams between neighbours.
  for (int y = 0; y < width; ++y) {
    const unsigned char* row = code->data + static_cast<std::ptrdiff_t>(y) * width;
    for (int x = 0; x < width;) {
      if ((row[x] & 1) == 0) {
        ++x;
        continue;
      }
      int run = 1;
      while (x + run < width && (row[x + run] & 1) != 0) {
        ++run;
      }
      svg += "M" + std::to_string(x + kQuietZone) + " " + std::to_string(y + kQuietZone) + "h" +
             std::to_string(run) + "v1h-" + std::to_string(run) + "z";
      x += run;
    }
  }
  svg += "\"/></svg>\n";
  return svg;
}

}  // namespace crm::slice
