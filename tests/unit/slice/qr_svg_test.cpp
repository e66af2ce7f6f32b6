#include "crm/slice/qr_svg.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <vector>

#include "crm/error.hpp"

namespace crm::slice {
namespace {

// The dark modules of an SVG QrSvg drew, read back from its path ("M4 4h7v1h-7z…"), on a grid
// of the viewBox's size.
struct Drawing {
  int size = 0;
  std::vector<std::vector<bool>> dark;
};

Drawing Read(const std::string& svg) {
  Drawing d;
  std::smatch m;
  EXPECT_TRUE(std::regex_search(svg, m, std::regex(R"re(viewBox="0 0 (\d+) (\d+)")re"))) << svg;
  if (m.empty()) {
    return d;
  }
  EXPECT_EQ(m[1], m[2]) << "square";
  d.size = std::stoi(m[1]);
  d.dark.assign(static_cast<std::size_t>(d.size),
                std::vector<bool>(static_cast<std::size_t>(d.size)));
  // Read by hand: std::regex recurses per character and overflows the stack on long paths.
  const std::string open = "<path fill=\"#000\" d=\"";
  std::size_t from = svg.find(open);
  EXPECT_NE(from, std::string::npos) << svg;
  if (from == std::string::npos) {
    return d;
  }
  from += open.size();
  std::string rest = svg.substr(from, svg.find('"', from) - from);
  std::istringstream in(rest);
  std::size_t covered = 0;
  char cm = 0, ch = 0, cv = 0, ch2 = 0, dash = 0, cz = 0;
  int x = 0, y = 0, n = 0, one = 0, back = 0;
  while (in >> cm >> x >> y >> ch >> n >> cv >> one >> ch2 >> dash >> back >> cz) {
    EXPECT_EQ(std::string({cm, ch, cv, ch2, dash, cz}), "Mhvh-z") << rest;
    EXPECT_EQ(one, 1);
    EXPECT_EQ(n, back) << "each run closes on itself";
    for (int i = 0; i < n; ++i) {
      EXPECT_LT(x + i, d.size);
      EXPECT_LT(y, d.size);
      d.dark[static_cast<std::size_t>(y)][static_cast<std::size_t>(x + i)] = true;
    }
    covered = static_cast<std::size_t>(static_cast<std::streamoff>(in.tellg()));
  }
  EXPECT_EQ(covered, rest.size()) << "the path holds runs only: " << rest;
  return d;
}

bool Dark(const Drawing& d, int x, int y) {
  return d.dark[static_cast<std::size_t>(y)][static_cast<std::size_t>(x)];
}

// A finder pattern's 7×7 square whose top-left module is (x, y): a dark ring, a light ring, a
// dark 3×3 centre.
void ExpectFinderAt(const Drawing& d, int x, int y) {
  for (int dy = 0; dy < 7; ++dy) {
    for (int dx = 0; dx < 7; ++dx) {
      bool ring = dx == 0 || dy == 0 || dx == 6 || dy == 6;
      bool centre = dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4;
      EXPECT_EQ(Dark(d, x + dx, y + dy), ring || centre) << "finder at " << x << "," << y;
    }
  }
}

TEST(QrSvg, IsOneCrispPathOfModulesWithAFourModuleQuietZoneAndNoScript) {
  std::string svg = QrSvg("crm-pair:slice-7:0123456789abcdef");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u) << svg;
  EXPECT_NE(svg.find("shape-rendering=\"crispEdges\""), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  std::size_t first = svg.find("<path");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(svg.find("<path", first + 1), std::string::npos) << "one path";

  Drawing d = Read(svg);
  ASSERT_GE(d.size, 21 + 8);
  EXPECT_EQ((d.size - 8 - 17) % 4, 0) << "a QR version's width is 17 + 4·version";
  for (int i = 0; i < d.size; ++i) {
    for (int q = 0; q < 4; ++q) {
      EXPECT_FALSE(Dark(d, i, q) || Dark(d, q, i) || Dark(d, i, d.size - 1 - q) ||
                   Dark(d, d.size - 1 - q, i))
          << "quiet zone at " << i << "," << q;
    }
  }
  int width = d.size - 8;
  ExpectFinderAt(d, 4, 4);
  ExpectFinderAt(d, 4 + width - 7, 4);
  ExpectFinderAt(d, 4, 4 + width - 7);
}

TEST(QrSvg, DifferentPayloadsGiveDifferentImagesAndTheSamePayloadTheSameOne) {
  EXPECT_NE(QrSvg("crm-pair:slice-1:aaaa"), QrSvg("crm-pair:slice-1:aaab"));
  EXPECT_EQ(QrSvg("crm-pair:slice-1:aaaa"), QrSvg("crm-pair:slice-1:aaaa"));
  // A longer payload needs a bigger symbol.
  EXPECT_GT(Read(QrSvg(std::string(500, 'x'))).size, Read(QrSvg("x")).size);
}

TEST(QrSvg, AnOverLongOrEmptyPayloadIsAClearInputError) {
  EXPECT_NO_THROW(QrSvg(std::string(kMaxQrPayload, 'a')));
  try {
    QrSvg(std::string(kMaxQrPayload + 1, 'a'));
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "qr");
    EXPECT_NE(std::string(e.what()).find("2332 bytes does not fit in a QR code (at most 2331"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(QrSvg(""), InputError);
}

}  // namespace
}  // namespace crm::slice
