#include "crm/http/static_site.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace crm::http {
namespace {

namespace fs = std::filesystem;

class StaticSiteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "crm-web-XXXXXX").string();
    root_ = mkdtemp(pattern.data());
    Write("index.html", "<!doctype html><title>CRM</title>");
    Write("index.html.gz", "GZ-INDEX");
    Write("index.html.br", "BR-INDEX");
    Write("assets/app-3f2a.js", "console.log(1)");
    Write("assets/app-3f2a.js.gz", "GZ-JS");
    Write("assets/app-3f2a.css", "body{}");
    Write("favicon.svg", "<svg/>");
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const std::string& name, const std::string& content) {
    fs::create_directories((root_ / name).parent_path());
    std::ofstream(root_ / name) << content;
  }

  static Request Get(const std::string& target, const std::string& accept = "") {
    Request req{bhttp::verb::get, target, 11};
    if (!accept.empty()) {
      req.set(bhttp::field::accept_encoding, accept);
    }
    return req;
  }

  StaticSite Site() const { return StaticSite(root_, {"/api/", "/auth/", "/health"}); }

  fs::path root_;
};

TEST_F(StaticSiteTest, RootIsTheIndexRevalidatedWithAStrictPolicy) {
  auto res = Site().Serve(Get("/"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), Status::ok);
  EXPECT_EQ(res->body(), "<!doctype html><title>CRM</title>");
  EXPECT_EQ((*res)[bhttp::field::content_type], "text/html; charset=utf-8");
  EXPECT_EQ((*res)[bhttp::field::cache_control], "no-cache");
  EXPECT_EQ((*res)["Content-Security-Policy"], kContentSecurityPolicy);
  EXPECT_NE((*res)["Content-Security-Policy"].find("script-src 'self';"), std::string::npos);
  EXPECT_EQ((*res)["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ((*res)["Referrer-Policy"], "no-referrer");
}

TEST_F(StaticSiteTest, HashedAssetsAreCachedForAYear) {
  auto res = Site().Serve(Get("/assets/app-3f2a.css"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), "body{}");
  EXPECT_EQ((*res)[bhttp::field::content_type], "text/css; charset=utf-8");
  EXPECT_EQ((*res)[bhttp::field::cache_control], "public, max-age=31536000, immutable");
}

TEST_F(StaticSiteTest, SendsThePrecompressedSiblingTheBrowserAccepts) {
  auto site = Site();
  auto br = site.Serve(Get("/index.html", "gzip, deflate, br"));
  EXPECT_EQ((*br)[bhttp::field::content_encoding], "br");
  EXPECT_EQ(br->body(), "BR-INDEX");
  EXPECT_EQ((*br)[bhttp::field::vary], "Accept-Encoding");
  auto gz = site.Serve(Get("/index.html", "gzip"));
  EXPECT_EQ((*gz)[bhttp::field::content_encoding], "gzip");
  EXPECT_EQ(gz->body(), "GZ-INDEX");
  // No .br for this asset: gzip even though br is preferred.
  auto js = site.Serve(Get("/assets/app-3f2a.js", "br, gzip"));
  EXPECT_EQ((*js)[bhttp::field::content_encoding], "gzip");
  EXPECT_EQ(js->body(), "GZ-JS");
  auto plain = site.Serve(Get("/index.html", "br;q=0, gzip;q=0"));
  EXPECT_EQ((*plain)[bhttp::field::content_encoding], "");
  EXPECT_EQ(plain->body(), "<!doctype html><title>CRM</title>");
}

TEST_F(StaticSiteTest, PageRoutesGetTheIndexAndMissingFilesA404) {
  auto site = Site();
  auto page = site.Serve(Get("/app/inbox/42?q=ana"));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->result(), Status::ok);
  EXPECT_EQ(page->body(), "<!doctype html><title>CRM</title>");
  EXPECT_EQ(site.Serve(Get("/assets/app-0000.js"))->result(), Status::not_found);
  EXPECT_EQ(site.Serve(Get("/assets/new-page"))->result(), Status::not_found);
  EXPECT_EQ(site.Serve(Get("/robots.txt"))->result(), Status::not_found);
}

TEST_F(StaticSiteTest, ApiPathsAndOtherMethodsAreLeftToTheRouter) {
  auto site = Site();
  EXPECT_FALSE(site.Serve(Get("/api/unknown")));
  EXPECT_FALSE(site.Serve(Get("/auth/nothing")));
  EXPECT_FALSE(site.Serve(Get("/health")));
  Request post{bhttp::verb::post, "/", 11};
  EXPECT_FALSE(site.Serve(post));
}

TEST_F(StaticSiteTest, PathsOutsideTheRootAreNotFiles) {
  Write("../secret.txt", "do not serve");
  auto site = Site();
  for (const char* target : {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt",
                             "//etc/passwd", "/assets/app-3f2a.js%00", "/a\\b"}) {
    auto res = site.Serve(Get(target));
    ASSERT_TRUE(res) << target;
    EXPECT_EQ(res->result(), Status::not_found) << target;
    EXPECT_EQ(res->body().find("do not serve"), std::string::npos) << target;
  }
  fs::remove(root_.parent_path() / "secret.txt");
}

TEST_F(StaticSiteTest, AnUnchangedFileIsNotSentAgain) {
  auto site = Site();
  auto first = site.Serve(Get("/"));
  Request again = Get("/");
  again.set(bhttp::field::if_none_match, (*first)[bhttp::field::etag]);
  auto second = site.Serve(again);
  EXPECT_EQ(second->result(), Status::not_modified);
  EXPECT_TRUE(second->body().empty());
  Write("index.html", "<!doctype html><title>CRM v2</title>");
  auto rebuilt = Site().Serve(again);
  EXPECT_EQ(rebuilt->result(), Status::ok);
  EXPECT_NE((*rebuilt)[bhttp::field::etag], (*first)[bhttp::field::etag]);
}

TEST_F(StaticSiteTest, HeadAnswersTheLengthWithoutTheBody) {
  Request head{bhttp::verb::head, "/favicon.svg", 11};
  auto res = Site().Serve(head);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), Status::ok);
  EXPECT_EQ((*res)[bhttp::field::content_length], "6");
  EXPECT_TRUE(res->body().empty());
  EXPECT_EQ((*res)[bhttp::field::content_type], "image/svg+xml");
}

TEST_F(StaticSiteTest, AMissingWebRootSaysWhereTheFilesWereExpected) {
  StaticSite site(root_ / "nowhere", {"/api/"});
  EXPECT_FALSE(site.installed());
  auto res = site.Serve(Get("/"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), Status::not_found);
  EXPECT_NE(res->body().find((root_ / "nowhere").string()), std::string::npos);
  EXPECT_NE(res->body().find("CRM_WEB_ROOT"), std::string::npos);
}

TEST(AcceptEncodingTest, ReadsNamesAndRefusals) {
  auto both = ParseAcceptEncoding("gzip, deflate, br;q=0.9");
  EXPECT_TRUE(both.br);
  EXPECT_TRUE(both.gzip);
  auto none = ParseAcceptEncoding("");
  EXPECT_FALSE(none.br);
  EXPECT_FALSE(none.gzip);
  auto refused = ParseAcceptEncoding("br; q=0.000, gzip;q=1");
  EXPECT_FALSE(refused.br);
  EXPECT_TRUE(refused.gzip);
  EXPECT_FALSE(ParseAcceptEncoding("brotli, xgzip").br);
}

}  // namespace
}  // namespace crm::http
