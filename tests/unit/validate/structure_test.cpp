#include "crm/validate/structure.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

#include "crm/error.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/plan.hpp"
#include "crm/render/write.hpp"

namespace crm::validate {
namespace {

namespace fs = std::filesystem;

class StructureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/crm-structure-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  // Tier `id`'s reference workload rendered for `target` into root_/out.
  fs::path Rendered(int id, render::RenderTarget target) {
    const planner::Catalog& catalog = planner::Catalog::Embedded();
    planner::PlanOptions options;
    options.only_tier = id;
    const planner::Plan plan =
        planner::MakePlan(planner::ReferenceWorkload(*catalog.FindTier(id)), catalog, options);
    const fs::path out = root_ / "out";
    render::WriteRendering(out, plan, render::Render(plan, target, {}), {}, false);
    return out;
  }

  static bool HasRule(const std::vector<Finding>& findings, const std::string& rule,
                      const std::string& file) {
    return std::any_of(findings.begin(), findings.end(),
                       [&](const Finding& f) { return f.rule == rule && f.file == file; });
  }

  fs::path root_;
};

TEST_F(StructureTest, AFreshRenderingHasNoFindings) {
  for (const auto& [tier, target] :
       {std::pair{1, render::RenderTarget::kVps}, std::pair{1, render::RenderTarget::kCompose},
        std::pair{4, render::RenderTarget::kMulti}, std::pair{5, render::RenderTarget::kK8s}}) {
    const fs::path dir = Rendered(tier, target);
    const std::vector<Finding> findings = CheckStructure(dir);
    EXPECT_TRUE(findings.empty()) << render::RenderTargetName(target) << ": "
                                  << FormatFinding(findings.front());
    fs::remove_all(dir);
  }
}

TEST_F(StructureTest, AnEditedFileAnExtraFileAndAReadableEnvFileAreNamed) {
  const fs::path dir = Rendered(1, render::RenderTarget::kVps);
  {
    std::ofstream conf(dir / "etc/postgresql/15/main/conf.d/crm.conf", std::ios::app);
    conf << "# edited\n";
  }
  std::ofstream(dir / "notes.txt") << "mine\n";
  ASSERT_EQ(::chmod((dir / "etc/crmd/crmd.env").c_str(), 0644), 0);
  const std::vector<Finding> findings = CheckStructure(dir);
  EXPECT_TRUE(HasRule(findings, "manifest", "etc/postgresql/15/main/conf.d/crm.conf"));
  EXPECT_TRUE(HasRule(findings, "manifest", "notes.txt"));
  EXPECT_TRUE(HasRule(findings, "secret-file-mode", "etc/crmd/crmd.env"));
}

TEST_F(StructureTest, ADashboardGrafanaCannotLoadIsNamed) {
  const fs::path dir = Rendered(4, render::RenderTarget::kMulti);
  const std::string path = "monitoring/etc/grafana/dashboards/crm/crm-overview.json";
  const fs::path file = dir / path;
  std::string text;
  {
    std::ifstream in(file);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto rewrite = [&](const std::string& from, const std::string& to) {
    std::string edited = text;
    for (std::size_t at = from.empty() ? std::string::npos : edited.find(from);
         at != std::string::npos; at = edited.find(from, at + to.size())) {
      edited.replace(at, from.size(), to);
    }
    std::ofstream(file, std::ios::trunc) << edited;
    return CheckStructure(dir);
  };
  const auto messages = [&](const std::vector<Finding>& findings) {
    std::string all;
    for (const Finding& f : findings) {
      if (f.rule == "grafana-dashboard" && f.file == path) {
        all += FormatFinding(f) + "\n";
      }
    }
    return all;
  };
  EXPECT_EQ(messages(rewrite("", "")), "");
  EXPECT_NE(messages(rewrite("\"uid\": \"crm-overview\"", "\"uid\": \"\"")).find("uid must be"),
            std::string::npos);
  EXPECT_NE(
      messages(rewrite("\"schemaVersion\": 39,", "\"schemaVersion\": 39")).find("invalid JSON"),
      std::string::npos);
  EXPECT_NE(messages(rewrite("${datasource}", "${prom}"))
                .find("datasource ${prom} is not a variable of the dashboard"),
            std::string::npos);
  EXPECT_NE(messages(rewrite("\"expr\":", "\"query\":")).find("lacks refId or a PromQL expr"),
            std::string::npos);
}

TEST_F(StructureTest, ShardRangesMayHaveTwoDecimalsButNotBeEmptyOrPastAHundred) {
  const fs::path dir = Rendered(4, render::RenderTarget::kMulti);
  const std::string path = "slice-1/etc/crmd/crmd.env";
  std::string text;
  {
    std::ifstream in(dir / path);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string rendered = "WORKER_SHARD_RANGE=0-50\n";
  ASSERT_NE(text.find(rendered), std::string::npos) << text;
  const auto with_range = [&](const std::string& range) {
    std::string edited = text;
    edited.replace(edited.find(rendered), rendered.size(), "WORKER_SHARD_RANGE=" + range + "\n");
    std::ofstream(dir / path, std::ios::trunc) << edited;
    return HasRule(CheckStructure(dir), "knobs-in-range", path);
  };
  EXPECT_FALSE(with_range("0-50"));
  EXPECT_FALSE(with_range("0.11-0.22"));
  EXPECT_FALSE(with_range("12.5-100"));
  for (const char* bad : {"0-0", "50-40.5", "0-100.01", "1.234-2", "0-101", "a-b"}) {
    EXPECT_TRUE(with_range(bad)) << bad;
  }
}

TEST_F(StructureTest, AMissingManifestIsAnInputError) {
  EXPECT_THROW(CheckStructure(root_), InputError);
  EXPECT_THROW(CheckStructure(root_ / "nope"), InputError);
}

}  // namespace
}  // namespace crm::validate
