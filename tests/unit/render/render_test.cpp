#include "crm/render/render.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/plan.hpp"

namespace crm::render {
namespace {

using planner::Catalog;
using planner::MakePlan;
using planner::Plan;
using planner::PlanOptions;
using planner::ReferenceWorkload;
using planner::Tier;
using planner::Workload;

Plan TierPlan(int id) {
  const Catalog& c = Catalog::Embedded();
  PlanOptions options;
  options.only_tier = id;
  return MakePlan(ReferenceWorkload(*c.FindTier(id)), c, options);
}

const RenderedFile* FileAt(const Rendering& r, const std::string& path) {
  for (const RenderedFile& f : r.files) {
    if (f.path == path) {
      return &f;
    }
  }
  return nullptr;
}

TEST(RenderTest, ReferenceWorkloadsLandInTheirTier) {
  for (const Tier& t : Catalog::Embedded().tiers()) {
    const Plan p = MakePlan(ReferenceWorkload(t), Catalog::Embedded());
    EXPECT_EQ(p.tier->id, t.id) << t.name;
  }
}

TEST(RenderTest, EveryTemplateNameIsDefinedForEveryTierAndTarget) {
  for (const Tier& t : Catalog::Embedded().tiers()) {
    const Plan p = TierPlan(t.id);
    for (RenderTarget target : TargetsFor(t)) {
      const auto missing = UndefinedTemplateNames(EmbeddedTemplates(), p, target, RenderOptions{});
      EXPECT_TRUE(missing.empty()) << "tier " << t.id << " " << RenderTargetName(target) << ": "
                                   << ::testing::PrintToString(missing);
      EXPECT_FALSE(Render(p, target, RenderOptions{}).files.empty());
    }
  }
}

TEST(RenderTest, UndefinedNamesAreFound) {
  std::vector<TemplateFile> templates = EmbeddedTemplates();
  templates.push_back(
      {"vps/typo.mustache", "{{knob.DB_MAX_OPEN_CONN}} {{#hosts}}{{nmae}}{{/hosts}}"});
  const auto missing = UndefinedTemplateNames(templates, TierPlan(1), RenderTarget::kVps, {});
  ASSERT_EQ(missing.size(), 2U);
  EXPECT_EQ(missing[0], "vps/typo.mustache: {{knob.DB_MAX_OPEN_CONN}}");
  EXPECT_EQ(missing[1], "vps/typo.mustache: {{nmae}}");
}

TEST(RenderTest, SharedMonitoringTemplatesRenderAndAreChecked) {
  const Rendering r = Render(TierPlan(4), RenderTarget::kMulti, {});
  const RenderedFile* rules = FileAt(r, "monitoring/etc/prometheus/alert-rules.yml");
  ASSERT_NE(rules, nullptr);
  EXPECT_NE(rules->content.find("rate(node_vmstat_pswpin[5m]) > 1000"), std::string::npos);
  EXPECT_NE(FileAt(r, "monitoring/etc/grafana/dashboards/crm/crm-overview.json"), nullptr);
  // A template shared from templates/monitoring/ is checked for every target that names it.
  std::vector<TemplateFile> templates = EmbeddedTemplates();
  std::string typo;
  for (TemplateFile& t : templates) {
    if (t.name == "monitoring/alert-rules.yml.mustache") {
      typo = std::string(t.text) + "# {{nmae}}\n";
      t.text = typo;
    }
  }
  ASSERT_FALSE(typo.empty());
  const auto missing = UndefinedTemplateNames(templates, TierPlan(4), RenderTarget::kMulti, {});
  ASSERT_EQ(missing.size(), 1U);
  EXPECT_EQ(missing[0], "monitoring/alert-rules.yml.mustache: {{nmae}}");
}

TEST(RenderTest, IsDeterministic) {
  const Plan p = TierPlan(4);
  const Rendering a = Render(p, RenderTarget::kMulti, {});
  const Rendering b = Render(TierPlan(4), RenderTarget::kMulti, {});
  ASSERT_EQ(a.files.size(), b.files.size());
  for (std::size_t i = 0; i < a.files.size(); ++i) {
    EXPECT_EQ(a.files[i].path, b.files[i].path);
    EXPECT_EQ(a.files[i].content, b.files[i].content) << a.files[i].path;
  }
  EXPECT_EQ(ManifestJson(p, a, {}).dump(), ManifestJson(p, b, {}).dump());
}

TEST(RenderTest, TargetThatDoesNotFitNamesTheOnesThatDo) {
  try {
    Render(TierPlan(1), RenderTarget::kK8s, {});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "--target: k8s does not fit tier 1 (Start, single topology); use vps, compose");
  }
  EXPECT_THROW(Render(TierPlan(4), RenderTarget::kVps, {}), InputError);
  EXPECT_THROW(ParseRenderTarget("helm"), InputError);
}

TEST(RenderTest, KnobsComeFromThePlanAndSecretsOnlyAsReferences) {
  const Plan p = TierPlan(2);
  const Rendering r = Render(p, RenderTarget::kVps, {});
  const RenderedFile* env = FileAt(r, "etc/crmd/crmd.env");
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->mode, 0600);
  // One 8 GiB host: the single-host pool rule's 20 (docs/capacity-model.md, "Knobs").
  EXPECT_NE(env->content.find("DB_MAX_OPEN_CONNS=20\n"), std::string::npos);
  EXPECT_NE(env->content.find("WORKER_CONCURRENCY=50\n"), std::string::npos);
  EXPECT_NE(env->content.find("CRM_DATABASE_PASSWORD_FILE=/etc/crmd/secrets/db_password"),
            std::string::npos);
  const RenderedFile* pg = FileAt(r, "etc/postgresql/15/main/conf.d/crm.conf");
  ASSERT_NE(pg, nullptr);
  EXPECT_NE(pg->content.find("shared_buffers = 2GB\n"), std::string::npos);
}

TEST(RenderTest, WebjsPlanPutsItsMemoryIntoTheUnits) {
  Workload w;
  w.customers = 10;
  w.engine = "webjs";
  // The published layout (tier 2's DigitalOcean reference sized up: tier 1's Contabo offerings
  // hold no 9 GB of Chromium), as the figures below assume.
  PlanOptions options;
  options.search = planner::Search::kReference;
  const Plan p = MakePlan(w, Catalog::Embedded(), options);
  const Rendering r = Render(p, RenderTarget::kVps, {});
  const RenderedFile* unit = FileAt(r, "etc/systemd/system/crmd.service");
  ASSERT_NE(unit, nullptr);
  // do-premium-16gb: min(9 GB demand × 1.5 + 512 MiB, 16 GiB − 4 GiB shared_buffers − 1 GiB).
  EXPECT_NE(unit->content.find("MemoryMax=11264M\n"), std::string::npos) << unit->content;
  EXPECT_NE(unit->content.find("CPUQuota=350%\n"), std::string::npos);
  const RenderedFile* env = FileAt(r, "etc/crmd/crmd.env");
  // engines.yaml: a Chromium slice's own limits, 512 MB and half a core per device.
  EXPECT_NE(env->content.find("SLICE_MEMORY_LIMIT=1024000000\n"), std::string::npos);
  EXPECT_NE(env->content.find("CRM_SLICE_CPU_LIMIT=1\n"), std::string::npos);
}

TEST(RenderTest, MultiSplitsShardRangesOverSliceHosts) {
  const Rendering r = Render(TierPlan(4), RenderTarget::kMulti, {});
  const RenderedFile* s1 = FileAt(r, "slice-1/etc/crmd/crmd.env");
  const RenderedFile* s2 = FileAt(r, "slice-2/etc/crmd/crmd.env");
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(s2, nullptr);
  EXPECT_NE(s1->content.find("WORKER_SHARD_RANGE=0-50\n"), std::string::npos);
  EXPECT_NE(s2->content.find("WORKER_SHARD_RANGE=50-100\n"), std::string::npos);
  const RenderedFile* lb = FileAt(r, "lb/etc/nginx/sites-available/crm.conf");
  ASSERT_NE(lb, nullptr);
  EXPECT_NE(lb->content.find("server app-1:8080"), std::string::npos);
  EXPECT_NE(lb->content.find("server app-2:8080"), std::string::npos);
  // Tier 4 gives PgBouncer a host of its own: it runs there, in front of the primary, and crmd
  // goes through it.
  EXPECT_EQ(FileAt(r, "postgres-primary/etc/pgbouncer/pgbouncer.ini"), nullptr);
  const RenderedFile* bouncer = FileAt(r, "pgbouncer/etc/pgbouncer/pgbouncer.ini");
  ASSERT_NE(bouncer, nullptr);
  EXPECT_NE(bouncer->content.find("crm = host=postgres-primary port=5432"), std::string::npos)
      << bouncer->content;
  EXPECT_NE(FileAt(r, "app-1/etc/crmd/crmd.env")->content.find("@pgbouncer:6432/crm"),
            std::string::npos);
  // The second queue store follows the first.
  const RenderedFile* standby = FileAt(r, "queue-db-2/install.sh");
  ASSERT_NE(standby, nullptr);
  EXPECT_NE(standby->content.find("pg_basebackup -h queue-db-1"), std::string::npos);
  EXPECT_EQ(FileAt(r, "queue-db-1/install.sh")->content.find("pg_basebackup"), std::string::npos);
  EXPECT_NE(FileAt(r, "queue-db-1/etc/postgresql/15/main/pg_hba.conf")
                ->content.find("replication     replicator"),
            std::string::npos);
  // Tier 3 has none: PgBouncer stays on the PostgreSQL host.
  const Rendering t3 = Render(TierPlan(3), RenderTarget::kMulti, {});
  const RenderedFile* t3_bouncer = FileAt(t3, "postgres/etc/pgbouncer/pgbouncer.ini");
  ASSERT_NE(t3_bouncer, nullptr);
  EXPECT_NE(t3_bouncer->content.find("crm = host=127.0.0.1"), std::string::npos);
}

TEST(RenderTest, Sha256MatchesAKnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Compose and Kubernetes name the image the operator built, never `latest`.
TEST(RenderTest, TheCrmdImageIsAVersionTagOrTheGivenPinnedReference) {
  const Catalog& c = Catalog::Embedded();
  const Plan k8s = MakePlan(ReferenceWorkload(*c.FindTier(5)), c);
  RenderOptions options;
  options.version = "1.2.3";
  auto images = [&](const Rendering& r) {
    std::vector<std::string> found;
    for (const RenderedFile& f : r.files) {
      for (std::size_t at = f.content.find("image: crmd"); at != std::string::npos;
           at = f.content.find("image: crmd", at + 1)) {
        found.push_back(f.content.substr(at, f.content.find('\n', at) - at));
      }
    }
    return found;
  };
  const std::vector<std::string> by_tag = images(Render(k8s, RenderTarget::kK8s, options));
  ASSERT_FALSE(by_tag.empty());
  for (const std::string& line : by_tag) {
    EXPECT_EQ(line, "image: crmd:1.2.3");
  }
  const std::string pinned = "localhost/crmd:1.2.3@sha256:" + std::string(64, 'a');
  EXPECT_TRUE(ImagePinned(pinned));
  EXPECT_FALSE(ImagePinned("crmd:1.2.3"));
  options.image = pinned;
  const Rendering r = Render(k8s, RenderTarget::kK8s, options);
  bool named = false;
  for (const RenderedFile& f : r.files) {
    EXPECT_EQ(f.content.find("crmd:latest"), std::string::npos) << f.path;
    named = named || f.content.find("image: " + pinned) != std::string::npos;
  }
  EXPECT_TRUE(named);

  EXPECT_NO_THROW(CheckImageReference(pinned, "--image"));
  EXPECT_NO_THROW(CheckImageReference("registry.example.com:5000/team/crmd:0.1.0", "--image"));
  EXPECT_NO_THROW(CheckImageReference("crmd@sha256:" + std::string(64, '0'), "--image"));
  const std::vector<std::string> refused = {"crmd",
                                            "crmd:latest",
                                            "localhost/crmd:latest@sha256:" + std::string(64, 'a'),
                                            "crmd:1.0 ; rm -rf /",
                                            "crmd@sha256:abc",
                                            "",
                                            "CRMD:1"};
  for (const std::string& bad : refused) {
    try {
      CheckImageReference(bad, "--image");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--image"), std::string::npos) << e.what();
    }
  }
}

// A plan of tier `id`'s reference workload run by `engine`.
Plan EnginePlan(int id, const std::string& engine) {
  const Catalog& c = Catalog::Embedded();
  Workload w = ReferenceWorkload(*c.FindTier(id));
  w.engine = engine;
  PlanOptions options;
  options.only_tier = id;
  return MakePlan(w, c, options);
}

bool Contains(const RenderedFile* f, const std::string& text) {
  return f != nullptr && f->content.find(text) != std::string::npos;
}

TEST(RenderTest, WaWebEnginesInstallNodeAndTheSidecarOnOneHost) {
  const Rendering noweb = Render(EnginePlan(1, "noweb"), RenderTarget::kVps, {});
  const RenderedFile* install = FileAt(noweb, "install.sh");
  ASSERT_NE(install, nullptr);
  EXPECT_TRUE(Contains(install, "apt-get install -y -qq nodejs\n")) << install->content;
  // Debian 12's Node 18 runs Baileys 7 (the sidecar sets its WebCrypto global); older is refused.
  EXPECT_TRUE(Contains(install, "if [ \"$node_major\" -lt 18 ]; then"));
  EXPECT_TRUE(Contains(install, "engine noweb needs Node >= 18"));
  EXPECT_FALSE(Contains(install, "chromium"));
  // Every new slice pairs by QR through the planned engine.
  EXPECT_TRUE(Contains(FileAt(noweb, "etc/crmd/crmd.env"),
                       "CRM_CHANNEL=wa-web\nCRM_WA_WEB_ENGINE=noweb\n"
                       "CRM_WA_WEB_SIDECAR=/usr/share/crmd/wa-web/sidecar.mjs\n"));

  const Rendering webjs = Render(EnginePlan(1, "webjs"), RenderTarget::kVps, {});
  const RenderedFile* webjs_install = FileAt(webjs, "install.sh");
  EXPECT_TRUE(Contains(webjs_install, "apt-get install -y -qq nodejs chromium\n"));
  EXPECT_TRUE(Contains(webjs_install, "-lt 18 ]"));
  EXPECT_TRUE(Contains(FileAt(webjs, "etc/crmd/crmd.env"), "CRM_WA_WEB_ENGINE=webjs\n"));
}

TEST(RenderTest, OtherEnginesInstallNoNodeNorBrowser) {
  for (const char* engine : {"whatsmeow", "cloud-api", "crmd"}) {
    const Rendering r = Render(EnginePlan(1, engine), RenderTarget::kVps, {});
    for (const RenderedFile& f : r.files) {
      EXPECT_EQ(f.content.find("nodejs"), std::string::npos) << engine << ": " << f.path;
      EXPECT_EQ(f.content.find("chromium"), std::string::npos) << engine << ": " << f.path;
      EXPECT_EQ(f.content.find("wa-web"), std::string::npos) << engine << ": " << f.path;
    }
    const Rendering compose = Render(EnginePlan(2, engine), RenderTarget::kCompose, {});
    EXPECT_FALSE(Contains(FileAt(compose, "docker-compose.yml"), "wa-web")) << engine;
  }
}

TEST(RenderTest, WaWebOnlyOnTheHostsThatRunSlices) {
  const Rendering r = Render(EnginePlan(3, "webjs"), RenderTarget::kMulti, {});
  int slice_hosts = 0;
  for (const RenderedFile& f : r.files) {
    if (f.path.size() < 11 || f.path.compare(f.path.size() - 11, 11, "/install.sh") != 0) {
      continue;
    }
    const bool has = Contains(&f, "apt-get install -y -qq nodejs chromium\n");
    if (f.role == "slice") {
      ++slice_hosts;
      EXPECT_TRUE(has) << f.path;
    } else {
      EXPECT_FALSE(has) << f.path << " (" << f.role << ")";
    }
  }
  EXPECT_GT(slice_hosts, 0);
}

TEST(RenderTest, WaWebEnginesRunTheirSlicesFromTheWaWebImage) {
  RenderOptions options;
  options.version = "1.2.3";
  const Rendering compose = Render(EnginePlan(2, "webjs"), RenderTarget::kCompose, options);
  const RenderedFile* file = FileAt(compose, "docker-compose.yml");
  EXPECT_TRUE(Contains(file,
                       "# Engine webjs: the slices start the wa-web sidecar, so crmd runs "
                       "from the wa-web image\n"));
  EXPECT_TRUE(Contains(file, "    image: crmd-wa-web:1.2.3\n")) << file->content;
  EXPECT_FALSE(Contains(file, "image: crmd:1.2.3"));

  options.image = "reg.example.com/crmd:1.2.3";
  options.wa_web_image = "reg.example.com/crmd-wa-web:1.2.3";
  const Rendering k8s = Render(EnginePlan(5, "noweb"), RenderTarget::kK8s, options);
  int slice_hosts = 0;
  int gateways = 0;
  for (const RenderedFile& f : k8s.files) {
    if (f.path.find("slice-hosts.yaml") != std::string::npos) {
      ++slice_hosts;
      EXPECT_TRUE(Contains(&f, "image: reg.example.com/crmd-wa-web:1.2.3\n")) << f.content;
      EXPECT_FALSE(Contains(&f, "image: reg.example.com/crmd:1.2.3"));
    }
    if (f.path.find("gateway.yaml") != std::string::npos) {
      ++gateways;
      EXPECT_TRUE(Contains(&f, "image: reg.example.com/crmd:1.2.3\n")) << f.content;
      EXPECT_FALSE(Contains(&f, "crmd-wa-web"));
    }
  }
  EXPECT_GT(slice_hosts, 0);
  EXPECT_GT(gateways, 0);
}

// With several regions each region's gateway learns every region's origin and signs its lookups
// with a Secret; one region renders neither (docs/operations.md, "Regions").
TEST(RenderTest, SeveralRegionsKnowEachOthersOrigins) {
  const Catalog& c = Catalog::Embedded();
  Workload w = ReferenceWorkload(*c.FindTier(5));
  w.regions = 3;
  PlanOptions plan_options;
  plan_options.only_tier = 5;
  RenderOptions options;
  const Rendering r = Render(MakePlan(w, c, plan_options), RenderTarget::kK8s, options);
  const std::string regions =
      "CRM_REGIONS: \"region-1=https://region-1.crm.example.com,"
      "region-2=https://region-2.crm.example.com,"
      "region-3=https://region-3.crm.example.com\"";
  for (const std::string region : {"region-1", "region-2", "region-3"}) {
    const RenderedFile* config = FileAt(r, region + "/configmap.yaml");
    ASSERT_NE(config, nullptr) << region;
    EXPECT_TRUE(Contains(config, "CRM_REGION: \"" + region + "\"")) << config->content;
    EXPECT_TRUE(Contains(config, regions)) << config->content;
    EXPECT_TRUE(Contains(FileAt(r, region + "/gateway.yaml"), "key: region_secret"));
  }
  const Rendering one = Render(EnginePlan(5, "noweb"), RenderTarget::kK8s, options);
  EXPECT_FALSE(Contains(FileAt(one, "main/configmap.yaml"), "CRM_REGIONS"));
  EXPECT_FALSE(Contains(FileAt(one, "main/gateway.yaml"), "region_secret"));
}

}  // namespace
}  // namespace crm::render
