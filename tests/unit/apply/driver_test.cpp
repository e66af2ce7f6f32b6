#include "crm/apply/driver.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "crm/apply/lock.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/render/render.hpp"

namespace crm::apply {
namespace {

namespace fs = std::filesystem;

// One host with one file read by one service; Converge writes the file into the directory.
class FakeTarget : public DeployTarget {
 public:
  FakeTarget(fs::path dir, std::string kind) : dir_(std::move(dir)), kind_(std::move(kind)) {}

  std::string_view Kind() const override { return kind_; }
  const fs::path& Dir() const override { return dir_; }
  std::vector<DesiredHost> Desire(const planner::Plan& /*plan*/,
                                  const DeploymentState& /*recorded*/) override {
    DesiredService service{"svc", {{"f.conf", render::Sha256Hex(content)}}, {}};
    host_ = {"h", {{"f.conf", content, 0644}}, {service}};
    return {host_};
  }
  std::map<std::string, ObservedHost> Observe(const DeploymentState& /*recorded*/) override {
    ObservedHost observed;
    observed.files["f.conf"] = ReadFileIfExists(dir_ / "f.conf");
    return {{"h", observed}};
  }
  std::string Heading() const override { return "fake:\n"; }
  PlanReview Review(PlanDiff& /*diff*/, bool /*dry_run*/) override { return {}; }
  void Converge(const PlanDiff& /*diff*/, DeploymentState& state,
                const std::function<void()>& save) override {
    WriteFileAtomic(dir_ / "f.conf", content);
    state.hosts["h"].files["f.conf"] = {render::Sha256Hex(content), 0644, "test"};
    state.hosts["h"].services["svc"] = {host_.services.front().inputs, "test"};
    save();
    ++converged;
  }

  std::string content = "a = 1\n";
  int converged = 0;

 private:
  fs::path dir_;
  std::string kind_;
  DesiredHost host_;
};

class DriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/crm-driver-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ / "deployment";
  }
  void TearDown() override { fs::remove_all(root_); }

  Outcome Apply(FakeTarget& target, ApplyFlags flags) {
    return ApplyDriver({true, false}, flags).Apply(target, plan_);
  }

  fs::path root_;
  fs::path dir_;
  const planner::Catalog& catalog_ = planner::Catalog::Embedded();
  planner::Plan plan_ =
      planner::MakePlan(planner::ReferenceWorkload(*catalog_.FindTier(1)), catalog_);
};

TEST_F(DriverTest, ConvergesOnceThenFindsNothingToDo) {
  FakeTarget target(dir_, "local");
  EXPECT_EQ(Apply(target, {false, true}), Outcome::kChanges);
  EXPECT_EQ(target.converged, 1);
  const DeploymentState state = LoadState(StatePath(dir_));
  EXPECT_EQ(state.target, "local");
  EXPECT_TRUE(fs::exists(RecordedPlanPath(dir_)));
  EXPECT_FALSE(fs::exists(LockPath(dir_)));

  EXPECT_EQ(Apply(target, {false, true}), Outcome::kNoChanges);
  EXPECT_EQ(target.converged, 1);
  target.content = "a = 2\n";
  EXPECT_EQ(Apply(target, {true, false}), Outcome::kChanges);  // dry run: shown only
  EXPECT_EQ(target.converged, 1);
  EXPECT_EQ(ReadFile(dir_ / "f.conf"), "a = 1\n");
}

TEST_F(DriverTest, ADryRunOfANewDeploymentCreatesNothing) {
  FakeTarget target(dir_, "local");
  EXPECT_EQ(Apply(target, {true, false}), Outcome::kChanges);
  EXPECT_EQ(target.converged, 0);
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(DriverTest, ForeignDirectoriesAndOtherTargetsDeploymentsAreRefused) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "notes.txt") << "mine\n";
  FakeTarget target(dir_, "local");
  EXPECT_THROW(Apply(target, {false, true}), InputError);
  fs::remove(dir_ / "notes.txt");

  FakeTarget k8s(dir_, "k8s");
  EXPECT_EQ(Apply(k8s, {false, true}), Outcome::kChanges);
  try {
    Apply(target, {false, true});
    FAIL() << "a local apply took over a k8s deployment";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("holds a k8s deployment, not a local one"),
              std::string::npos);
  }
  EXPECT_EQ(target.converged, 0);
}

TEST_F(DriverTest, StatusAndDestroyNeedAnAppliedDeploymentAndATargetThatSupportsThem) {
  FakeTarget target(dir_, "ssh");
  ApplyDriver driver({true, false}, {false, true});
  EXPECT_THROW(driver.Status(target, {}), InputError);  // nothing applied yet
  EXPECT_EQ(driver.Apply(target, plan_), Outcome::kChanges);
  EXPECT_THROW(driver.Status(target, {}), InputError);  // the default: not available
  EXPECT_THROW(driver.Destroy(target, false), InputError);
  EXPECT_FALSE(fs::exists(LockPath(dir_)));
}

}  // namespace
}  // namespace crm::apply
