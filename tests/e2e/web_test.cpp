// The web app in a real browser: a real PostgreSQL and `crmd --role all` serving the built web
// root, then one node test file (tests/e2e/*.test.mjs: playwright-core driving Debian's chromium)
// per test against it. The password-reset test adds a real SMTP server on loopback (aiosmtpd).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "crm/ports.hpp"
#include "crm/testing/crmd_process.hpp"
#include "crm/testing/pg_cluster.hpp"

extern char** environ;

namespace crm::testing {
namespace {

namespace fs = std::filesystem;

// Debian's aiosmtpd storing every message in a Maildir, for as long as the object lives.
class SmtpSink {
 public:
  SmtpSink(const fs::path& maildir, const fs::path& log) : port_(FreeLoopbackPort()) {
    fs::create_directories(maildir);
    std::vector<std::string> argv = {"/usr/bin/python3",
                                     "-m",
                                     "aiosmtpd",
                                     "-n",
                                     "-l",
                                     "127.0.0.1:" + std::to_string(port_),
                                     "-c",
                                     "aiosmtpd.handlers.Mailbox",
                                     maildir.string()};
    std::vector<char*> args;
    for (auto& a : argv) {
      args.push_back(a.data());
    }
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    int rc = posix_spawn(&pid_, argv[0].c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      throw std::runtime_error("cannot start aiosmtpd (Debian's python3-aiosmtpd)");
    }
    // Listening once the port can no longer be bound; give up after 15 s.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (LoopbackPortFree(port_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_ ||
          std::chrono::steady_clock::now() > deadline) {
        pid_ = -1;
        throw std::runtime_error("aiosmtpd did not start listening on port " +
                                 std::to_string(port_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~SmtpSink() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;
  int port() const { return port_; }

 private:
  int port_;
  pid_t pid_ = -1;
};

class WebTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(fs::path(CRM_E2E_DIR) / "node_modules" / "playwright-core"))
        << "tests/e2e has no node_modules: run scripts/bootstrap-node";
    ASSERT_TRUE(fs::exists(fs::path(CRM_WEB_ROOT_DIR) / "index.html"))
        << "the web app is not built: cmake --build --preset ci --target crm_web";
    pg_ = PgCluster::Start();
    home_ = pg_->dir() / "home";
    fs::create_directories(home_);
  }

  void StartCrmd(std::map<std::string, std::string> extra = {}) {
    fs::path data = pg_->dir() / "crmd-data";
    fs::create_directories(data);
    std::map<std::string, std::string> env = {{"CRM_DATABASE_URL", pg_->ConnectionString()},
                                              {"CRM_DATA_DIR", data.string()},
                                              {"CRM_LISTEN", "127.0.0.1:0"},
                                              {"CRM_WEB_ROOT", CRM_WEB_ROOT_DIR},
                                              {"CRM_LOG_LEVEL", "info"}};
    env.merge(extra);
    crmd_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, env, pg_->dir() / "crmd.log");
  }

  void TearDown() override {
    if (HasFailure() && crmd_) {
      std::cerr << "--- crmd log ---\n" << crmd_->Log() << "\n";
    }
    crmd_.reset();
    pg_.reset();
  }

  // Runs `node --test tests/e2e/<file>` against the crmd started; the test fails with node's
  // output when any of the file's tests fails.
  void RunBrowserTest(const std::string& file, std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {{"CRM_URL", crmd_->url()},
                                              {"CRM_SCREENSHOTS", CRM_SCREENSHOT_DIR},
                                              {"HOME", home_.string()}};
    env.merge(extra);
    auto [code, out] = RunCommand({CRM_NODE_BINARY, "--test", "--test-reporter=spec",
                                   (fs::path(CRM_E2E_DIR) / file).string()},
                                  env, "");
    EXPECT_EQ(code, 0) << out;
  }

  std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<CrmdProcess> crmd_;
  fs::path home_;
};

TEST_F(WebTest, TenantSignsUpConnectsTalksBroadcastsExportsAndLeaves) {
  StartCrmd();
  RunBrowserTest("journey.test.mjs");
}

TEST_F(WebTest, SecondTenantSeesNoneOfTheFirstTenantsData) {
  StartCrmd();
  RunBrowserTest("isolation.test.mjs");
}

TEST_F(WebTest, BadInputsShowTheServersMessageNextToTheField) {
  StartCrmd();
  RunBrowserTest("inputs.test.mjs");
}

TEST_F(WebTest, MailedResetLinkResetsThePassword) {
  fs::path maildir = pg_->dir() / "maildir";
  SmtpSink smtp(maildir, pg_->dir() / "smtp.log");
  StartCrmd({{"CRM_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp.port())}});
  RunBrowserTest("reset.test.mjs", {{"CRM_MAILDIR", maildir.string()}});
}

}  // namespace
}  // namespace crm::testing
