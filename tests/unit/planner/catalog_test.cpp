#include "crm/planner/catalog.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "crm/error.hpp"

namespace crm::planner {
namespace {

// The embedded files with one of them replaced. CatalogFile holds a view, so the replacement text
// is kept alive for the whole test program.
std::vector<CatalogFile> With(const std::string& name, const std::string& text) {
  static std::deque<std::string> texts;
  texts.push_back(text);
  std::vector<CatalogFile> files = EmbeddedCatalogFiles();
  for (CatalogFile& f : files) {
    if (f.name == name) {
      f.text = texts.back();
    }
  }
  return files;
}

std::string Replace(std::string_view name, const std::string& from, const std::string& to) {
  for (const CatalogFile& f : EmbeddedCatalogFiles()) {
    if (f.name == name) {
      std::string text(f.text);
      const auto pos = text.find(from);
      if (pos == std::string::npos) {
        ADD_FAILURE() << "fixture text not found: " << from;
        return text;
      }
      return text.replace(pos, from.size(), to);
    }
  }
  ADD_FAILURE() << "no file " << name;
  return {};
}

std::string ErrorOf(const std::vector<CatalogFile>& files) {
  try {
    Catalog::Parse(files);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(CatalogTest, EmbeddedCatalogMatchesTheSpec) {
  const Catalog& c = Catalog::Embedded();
  EXPECT_DOUBLE_EQ(c.rules().ram_per_websocket.value, 80'000);
  EXPECT_DOUBLE_EQ(c.rules().bytes_per_task.value, 10);
  EXPECT_DOUBLE_EQ(c.rules().disk_per_message.value, 1'000);
  EXPECT_DOUBLE_EQ(c.rules().buffer_per_customer.value, 3e6);
  EXPECT_DOUBLE_EQ(c.rules().shared_services_single_host.value, 2e9);
  EXPECT_DOUBLE_EQ(c.rules().target_utilization.value, 0.70);
  EXPECT_DOUBLE_EQ(c.rules().queue_max_depth.value, 50'000);
  EXPECT_DOUBLE_EQ(c.rules().phone_rate.value, 250);
  EXPECT_DOUBLE_EQ(c.FindEngine("whatsmeow")->ram_per_device.value, 2e6);
  EXPECT_DOUBLE_EQ(c.FindEngine("noweb")->ram_per_device.value, 17.5e6);
  EXPECT_DOUBLE_EQ(c.FindEngine("webjs")->ram_per_device.value, 450e6);
  EXPECT_DOUBLE_EQ(c.FindEngine("cloud-api")->ram_per_device.value, 0);
  ASSERT_EQ(c.tiers().size(), 5U);
  EXPECT_EQ(c.tiers()[0].max_customers, 10);
  EXPECT_EQ(c.tiers()[1].max_messages_per_day, 100'000);
  EXPECT_EQ(c.tiers()[4].max_customers, 0);
  EXPECT_EQ(c.FindServer("ovh-vps-5")->monthly_usd, 40.40);
  EXPECT_EQ(c.FindServer("ovh-vps-5")->provider, "ovh");
  EXPECT_EQ(c.FindServer("aws-rds-xlarge")->kind, ServerKind::kManagedPostgres);
}

TEST(CatalogTest, EveryNumberCarriesASource) {
  const Catalog& c = Catalog::Embedded();
  for (const Engine& e : c.engines()) {
    EXPECT_FALSE(e.ram_per_device.source.empty()) << e.name;
  }
  for (const Server& s : c.servers()) {
    EXPECT_FALSE(s.source.empty()) << s.name;
  }
  for (const Tier& t : c.tiers()) {
    EXPECT_FALSE(t.source.empty()) << t.name;
  }
}

TEST(CatalogTest, TierReferenceCostsAreInsideTheirPublishedRange) {
  const Catalog& c = Catalog::Embedded();
  for (const Tier& t : c.tiers()) {
    if (t.topology == Topology::kK8s) {
      continue;  // node pools scale; the range is for a loaded cluster
    }
    double total = 0;
    for (const RoleSpec& r : t.roles) {
      if (!r.only_with_replica) {  // tier 3's optional replica comes on top of the range
        total += c.FindServer(r.server)->monthly_usd * r.count;
      }
    }
    EXPECT_GE(total, t.published_min_usd) << t.name;
    EXPECT_LE(total, t.published_max_usd) << t.name;
  }
}

TEST(CatalogTest, UnknownRuleKeyNamesFileLineAndColumn) {
  const auto files = With("tiers/rules.yaml",
                          Replace("tiers/rules.yaml", "ram_per_websocket:", "ram_per_websockets:"));
  const std::string error = ErrorOf(files);
  EXPECT_NE(error.find("tiers/rules.yaml:"), std::string::npos) << error;
  EXPECT_NE(error.find("ram_per_websocket"), std::string::npos) << error;
}

TEST(CatalogTest, BadUnitNamesFileLineAndColumn) {
  const auto files =
      With("tiers/engines.yaml", Replace("tiers/engines.yaml", "value: 2 MB", "value: 2 MBs"));
  const std::string error = ErrorOf(files);
  EXPECT_NE(error.find("tiers/engines.yaml:5:12: ram_per_device: unknown unit \"MBs\""),
            std::string::npos)
      << error;
}

TEST(CatalogTest, MissingFieldAndWrongTypeAreErrors) {
  EXPECT_NE(
      ErrorOf(
          With("tiers/rules.yaml",
               Replace(
                   "tiers/rules.yaml",
                   "  source: \"bench/queue (docs/benchmarks.md, Outbound queue): a broadcast's "
                   "pending recipient is a compressed text[] element of its audience, 4.5 B each "
                   "for the bench's sequential numbers and ~9 B for random ones (PostgreSQL 15, "
                   "700,000 pending); was 97.6 B as a task row, 150 B in the source material\"\n",
                   "")))
          .find("missing field 'source'"),
      std::string::npos);
  const std::string error =
      ErrorOf(With("tiers/tier1.yaml", Replace("tiers/tier1.yaml", "count: 1", "count: one")));
  EXPECT_NE(error.find("tiers/tier1.yaml:"), std::string::npos) << error;
  EXPECT_NE(error.find("count: expected a whole number"), std::string::npos) << error;
}

TEST(CatalogTest, UnknownServerInATierIsAnError) {
  const std::string error = ErrorOf(
      With("tiers/tier2.yaml", Replace("tiers/tier2.yaml", "do-premium-8gb", "do-premium-9gb")));
  EXPECT_NE(error.find("unknown offering 'do-premium-9gb'"), std::string::npos) << error;
}

TEST(CatalogTest, InvalidYamlIsAnErrorWithPosition) {
  const std::string error = ErrorOf(With("tiers/tier3.yaml", "id: [1, 2\n"));
  EXPECT_NE(error.find("tiers/tier3.yaml:"), std::string::npos) << error;
  EXPECT_NE(error.find("invalid YAML"), std::string::npos) << error;
}

TEST(CatalogTest, OverrideReplacesRulesAndEngineFigures) {
  Catalog c = Catalog::Embedded();
  c.ApplyOverride(
      "ram_per_websocket: {value: 100 KB, source: test}\n"
      "engines:\n  whatsmeow:\n    ram_per_device: {value: 2.5 MB, source: calibrated}\n",
      "override.yaml");
  EXPECT_DOUBLE_EQ(c.rules().ram_per_websocket.value, 100'000);
  EXPECT_DOUBLE_EQ(c.FindEngine("whatsmeow")->ram_per_device.value, 2.5e6);
  EXPECT_EQ(c.FindEngine("whatsmeow")->ram_per_device.source, "calibrated");
  EXPECT_DOUBLE_EQ(c.rules().bytes_per_task.value, 10);  // untouched
}

TEST(CatalogTest, OverrideRejectsUnknownKeysAndEngines) {
  Catalog c = Catalog::Embedded();
  EXPECT_THROW(c.ApplyOverride("ram_per_devise: {value: 1 MB, source: x}\n", "o.yaml"), InputError);
  EXPECT_THROW(
      c.ApplyOverride("engines: {baileys: {ram_per_device: {value: 1 MB, source: x}}}\n", "o.yaml"),
      InputError);
  EXPECT_THROW(c.ApplyOverride("", "o.yaml"), InputError);
}

TEST(CatalogTest, LoadDirReadsTheSourceTree) {
  const Catalog c = Catalog::LoadDir(std::string(CRM_SOURCE_DIR) + "/tiers");
  EXPECT_EQ(c.tiers().size(), Catalog::Embedded().tiers().size());
  EXPECT_THROW(Catalog::LoadDir("/nonexistent"), InputError);
}

}  // namespace
}  // namespace crm::planner
