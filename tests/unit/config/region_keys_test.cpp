// The region settings: CRM_REGION, CRM_REGIONS, CRM_REGION_SECRET and how they must agree.
#include <gtest/gtest.h>

#include "crm/config/config.hpp"
#include "crm/error.hpp"
#include "env_lookup.hpp"

namespace crm::config {
namespace {

const std::string kSecret = "a shared secret of at least 32 characters";

// The message LoadConfig refuses `env` with ("" when it accepts it).
std::string Refusal(std::map<std::string, std::string> env) {
  try {
    LoadConfig(std::nullopt, Env(std::move(env)));
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(RegionKeysTest, ParsesEveryRegionsOrigin) {
  auto c = LoadConfig(
      std::nullopt,
      Env({{"CRM_REGION", "eu"},
           {"CRM_REGIONS", "eu=https://eu.crm.example/,us-east=https://us.crm.example:8443"},
           {"CRM_REGION_SECRET", kSecret},
           {"CRM_REGION_PEER_TIMEOUT", "500ms"}}));
  EXPECT_EQ(c.region, "eu");
  ASSERT_EQ(c.regions.size(), 2u);
  EXPECT_EQ(c.regions.at("eu"), "https://eu.crm.example");
  EXPECT_EQ(c.regions.at("us-east"), "https://us.crm.example:8443");
  EXPECT_EQ(c.region_secret, kSecret);
  EXPECT_EQ(c.region_peer_timeout, std::chrono::milliseconds(500));
}

TEST(RegionKeysTest, NoRegionsIsOneRegion) {
  auto c = LoadConfig(std::nullopt, Env({{"CRM_REGION", "eu"}}));
  EXPECT_EQ(c.region, "eu");
  EXPECT_TRUE(c.regions.empty());
  EXPECT_TRUE(LoadConfig(std::nullopt, Env({})).region.empty());
}

TEST(RegionKeysTest, BadValuesNameTheKeyAndTheEntry) {
  struct Case {
    std::map<std::string, std::string> env;
    std::vector<std::string> said;
  };
  const std::string two = "eu=https://eu.crm.example,us=https://us.crm.example";
  const std::vector<Case> cases = {
      {{{"CRM_REGIONS", "eu=https://eu.crm.example,us"}}, {"CRM_REGIONS", "NAME=URL", "\"us\""}},
      {{{"CRM_REGIONS", "eu=ftp://eu.crm.example"}}, {"CRM_REGIONS", "region \"eu\"", "http"}},
      {{{"CRM_REGIONS", "eu=https://eu.crm.example/app"}}, {"CRM_REGIONS", "no path"}},
      {{{"CRM_REGIONS", "EU=https://eu.crm.example"}},
       {"CRM_REGIONS", "region \"EU\"", "lower-case"}},
      {{{"CRM_REGIONS", "eu=https://a.example,eu=https://b.example"}}, {"listed twice"}},
      {{{"CRM_REGION", "eu west"}}, {"CRM_REGION", "region name"}},
      {{{"CRM_REGIONS", two}, {"CRM_REGION_SECRET", kSecret}}, {"CRM_REGION", "this deployment"}},
      {{{"CRM_REGION", "ap"}, {"CRM_REGIONS", two}, {"CRM_REGION_SECRET", kSecret}},
       {"CRM_REGIONS", "\"ap\""}},
      {{{"CRM_REGION_PEER_TIMEOUT", "10ms"}}, {"CRM_REGION_PEER_TIMEOUT", "100ms"}},
  };
  for (const auto& c : cases) {
    std::string message = Refusal(c.env);
    ASSERT_FALSE(message.empty()) << "accepted " << c.env.begin()->second;
    for (const auto& part : c.said) {
      EXPECT_NE(message.find(part), std::string::npos) << part << " not in: " << message;
    }
  }
}

}  // namespace
}  // namespace crm::config
