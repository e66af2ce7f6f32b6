// Who a slice host believes (docs/operations.md, "Scale-out: gateways and slice hosts"): it acts
// for any tenant its Host names, so only a caller with the gateways' internal token gets through,
// and a slice host reachable beyond loopback does not start without one.
#include "../integration/runtime_fixture.hpp"

namespace crm::testing {
namespace {

const std::string kToken = "the gateways' internal token, 32+ characters";

class SliceHostTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = PgCluster::Start();
    env_ = {{"CRM_DATABASE_URL", pg_->ConnectionString()},
            {"CRM_LISTEN", "127.0.0.1:0"},
            {"CRM_INTERNAL_TOKEN", kToken},
            {"CRM_WARM_SLICES", "1"}};
    auto gateway = env_;
    gateway["CRM_DATA_DIR"] = Dir("gateway");
    gateway_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "gateway"}, gateway,
                                  pg_->dir() / "gateway.log");
    auto host = env_;
    host["CRM_DATA_DIR"] = Dir("host");
    host_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "slice-host"}, host,
                               pg_->dir() / "host.log");
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- gateway ---\n" << gateway_->Log() << "\n--- host ---\n" << host_->Log();
    }
    host_.reset();
    gateway_.reset();
    pg_.reset();
  }

  std::string Dir(const std::string& name) {
    auto dir = pg_->dir() / name;
    fs::create_directories(dir);
    return dir.string();
  }

  HttpResult Call(const std::string& slice, const std::vector<std::string>& extra) {
    std::vector<std::string> headers = {"Host: slice-" + slice, "X-Crm-User-Id: 1"};
    headers.insert(headers.end(), extra.begin(), extra.end());
    return Fetch("GET", host_->url() + "/api/status", {}, headers);
  }

  std::unique_ptr<PgCluster> pg_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<CrmdProcess> gateway_;
  std::unique_ptr<CrmdProcess> host_;
};

TEST_F(SliceHostTrustTest, OnlyTheGatewaysTokenReachesASlice) {
  // The warm slice runs on the host (range 0-100).
  std::string slice;
  ASSERT_TRUE(Eventually([&] {
    slice = Sql(pg_->ConnectionString(),
                "SELECT id FROM gateway.slices WHERE endpoint <> '' AND health = 'healthy'");
    return !slice.empty();
  }));
  EXPECT_EQ(Call(slice, {}).status, 401);
  std::string forged(kToken.size(), 'x');
  EXPECT_EQ(Call(slice, {"X-Crm-Gateway-Token: " + forged}).status, 401);
  EXPECT_EQ(Call(slice, {"X-Crm-Gateway-Token: " + kToken.substr(1)}).status, 401);
  // The check can pass: with the token the request reaches the slice.
  EXPECT_EQ(Call(slice, {"X-Crm-Gateway-Token: " + kToken}).status, 200);
  // Prometheus reads its counts without the token (no tenant's data in them).
  auto metrics = Fetch("GET", host_->url() + "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("crm_slice_host_slices 1"), std::string::npos) << metrics.body;
  // A slice the host does not run is not reached through it, token or not.
  EXPECT_EQ(Call("99999", {"X-Crm-Gateway-Token: " + kToken}).status, 503);
}

TEST_F(SliceHostTrustTest, ASliceHostBeyondLoopbackDoesNotStartWithoutAToken) {
  auto env = env_;
  env.erase("CRM_INTERNAL_TOKEN");
  env["CRM_LISTEN"] = "0.0.0.0:0";
  env["CRM_ADVERTISE_ADDRESS"] = "127.0.0.1:1";
  env["CRM_DATA_DIR"] = Dir("open-host");
  auto [code, out] = RunCommand({CRM_CRMD_BINARY, "--role", "slice-host"}, env, "");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("internal_token"), std::string::npos) << out;
}

}  // namespace
}  // namespace crm::testing
